"""The stack's built-in receiver: Alertmanager webhooks, pages to fetch, an OTLP sink.

One small HTTP server on 127.0.0.1 plays every outside party of a local stack:

=============================  ===============================================
``POST /hooks/<receiver>``     an Alertmanager webhook delivery: appended, with
                               the receiver name from the path and the time it
                               arrived, to a JSONL file
``GET /alerts``                the deliveries so far (``?receiver=page``,
                               ``?alertname=...``, ``?since=<unix seconds>``)
``GET /pages/<name>``          a small text page for the ``fetcher`` workload
``POST /v1/traces``, ``/v1/metrics``, ``/v1/logs``
                               an OTLP/HTTP sink: accepts and discards, or
                               answers ``otlp_status`` to play a collector
                               that is down
``PUT /control/otlp``          ``{"status": 503}`` sets that status (200 heals)
``/model/...`` (any method)    with ``--model-upstream URL``: a pass-through to
                               the model server (``/model/v1/...`` is
                               ``URL/v1/...``) that can play a slow one
``PUT /control/model``         ``{"delay_seconds": 8, "share": 0.5}``: that
                               share of model requests waits that long first
                               (``{"delay_seconds": 0}`` heals)
``GET /healthz``               ``ok``
=============================  ===============================================

When the model server cannot be reached, the pass-through closes the
connection without an answer, as the server itself would have: the client
sees a connection error, not a 502.

Every alert delivered is also printed as one line (``describe``), which is
what ``docker compose logs -f alert-receiver`` shows. Run it with
``python -m agent_runtime.ops.stack.receiver --port 9095 --log alerts.jsonl``
(``--host 0.0.0.0`` inside a container).
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import threading
import time
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

MAX_BODY_BYTES: Final = 4 * 1024 * 1024
MODEL_PREFIX: Final = "/model"
# How long the pass-through waits for the model server's answer (a generous bound on one model call).
MODEL_TIMEOUT_SECONDS: Final = 300.0
# Request and response headers the pass-through relays (hop-by-hop ones are the proxy's own business).
_RELAYED: Final = frozenset({"content-type", "authorization", "accept", "user-agent", "x-request-id"})
PAGES: Final[Mapping[str, str]] = {
    "status": "All systems operational. The agent runtime serves tasks within its latency SLO.\n",
    "changelog": "v0.1.0: routing with a decision cache, cached tools, circuit breakers and retries.\n",
    "incident-log": "No open incidents. Last incident: cache hit rate drop after a bulk invalidation.\n",
    "deploys": "The last deploy rolled out two gunicorn workers with multiprocess metrics.\n",
    "capacity": "Each worker admits 64 tasks in flight; add workers before raising the limit.\n",
}


class AlertReceiver(ThreadingHTTPServer):
    """The receiver server; ``deliveries()`` returns what Alertmanager sent so far."""

    daemon_threads = True

    def __init__(self, port: int, log_path: Path, *, host: str = "127.0.0.1", echo: bool = False,
                 model_upstream: str | None = None) -> None:  # fmt: skip
        super().__init__((host, port), _Handler)
        self.log_path = log_path
        self.echo = echo
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._deliveries: list[dict[str, Any]] = _read_log(log_path)
        self.otlp_status = 200
        self.model_upstream = urlsplit(model_upstream) if model_upstream else None
        self.model_delay_seconds = 0.0
        self.model_delay_share = 1.0
        self._random = random.Random(0)
        # Set when the delay is changed, so requests waiting on the old one are released at once.
        self._delay_changed = threading.Event()

    def set_model_delay(self, seconds: float, share: float = 1.0) -> None:
        """Delay ``share`` (0..1) of the model requests by ``seconds`` from now on (0 heals)."""
        self.model_delay_seconds, self.model_delay_share = seconds, share
        changed, self._delay_changed = self._delay_changed, threading.Event()
        changed.set()

    def model_delay(self) -> None:
        """Wait the configured delay, for the configured share of requests (cut short when it changes)."""
        seconds, changed = self.model_delay_seconds, self._delay_changed
        if seconds > 0 and self._random.random() < self.model_delay_share:
            changed.wait(seconds)

    @property
    def port(self) -> int:
        """The port it listens on (useful with port 0)."""
        return int(self.server_address[1])

    def record(self, receiver: str, payload: Any) -> dict[str, Any]:
        """Store one webhook delivery (in memory and as a JSONL line)."""
        delivery = {"receiver": receiver, "received_at": time.time(), "payload": payload}
        line = json.dumps(delivery, separators=(",", ":")) + "\n"
        with self._lock:
            self._deliveries.append(delivery)
            with self.log_path.open("a") as log:
                log.write(line)
        if self.echo and isinstance(payload, dict):
            for text in describe(receiver, payload):
                print(text, flush=True)
        return delivery

    def deliveries(
        self, *, receiver: str | None = None, alertname: str | None = None, since: float | None = None
    ) -> list[dict[str, Any]]:
        """Deliveries, oldest first, optionally for one receiver, alert name or time onwards."""
        with self._lock:
            found = list(self._deliveries)
        return [
            d
            for d in found
            if (receiver is None or d["receiver"] == receiver)
            and (since is None or d["received_at"] >= since)
            and (alertname is None or alertname in alert_names(d))
        ]


def describe(receiver: str, payload: Mapping[str, Any]) -> list[str]:
    """One readable line per alert of an Alertmanager webhook ``payload``."""
    lines = []
    for alert in payload.get("alerts", []):
        labels = alert.get("labels", {})
        annotations = alert.get("annotations", {})
        extra = " ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in ("alertname", "severity"))
        lines.append(
            f"receiver={receiver} status={alert.get('status', '?')} alertname={labels.get('alertname', '?')} "
            f"severity={labels.get('severity', '?')} {extra} | {annotations.get('summary', '')} "
            f"{annotations.get('runbook_url', '')}".rstrip()
        )
    return lines


def alert_names(delivery: Mapping[str, Any]) -> set[str]:
    """The alert names in one delivery."""
    payload = delivery.get("payload")
    alerts = payload.get("alerts", []) if isinstance(payload, dict) else []
    return {str(a.get("labels", {}).get("alertname")) for a in alerts if isinstance(a, dict)}


def _read_log(path: Path) -> list[dict[str, Any]]:
    # A restarted receiver keeps serving what it recorded before.
    if not path.is_file():
        return []
    deliveries = []
    for line in path.read_text().splitlines():
        try:
            deliveries.append(json.loads(line))
        except ValueError:
            continue  # a line cut short by a crash
    return deliveries


class _Handler(BaseHTTPRequestHandler):
    server: AlertReceiver
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path.startswith(MODEL_PREFIX + "/"):
            self._relay_model(None)
        elif url.path == "/healthz":
            self._reply(200, b"ok\n", "text/plain")
        elif url.path == "/alerts":
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            since = query.get("since")
            try:
                found = self.server.deliveries(
                    receiver=query.get("receiver"),
                    alertname=query.get("alertname"),
                    since=None if since is None else float(since),
                )
            except ValueError:
                self._json(400, {"error": "since must be Unix seconds"})
                return
            self._json(200, {"deliveries": found})
        elif url.path.startswith("/pages/") and url.path[len("/pages/") :] in PAGES:
            self._reply(200, PAGES[url.path[len("/pages/") :]].encode(), "text/plain; charset=utf-8")
        else:
            self._json(404, {"error": f"no page at {url.path[:80]}"})

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        body = self._body()
        if body is None:
            return
        if path.startswith(MODEL_PREFIX + "/"):
            self._relay_model(body)
        elif path.startswith("/hooks/") and len(path) > len("/hooks/"):
            try:
                payload = json.loads(body)
            except ValueError:
                self._json(400, {"error": "the body is not JSON"})
                return
            self.server.record(path[len("/hooks/") :], payload)
            self._json(200, {"recorded": True})
        elif path in ("/v1/traces", "/v1/metrics", "/v1/logs"):
            status = self.server.otlp_status
            # An empty body is a valid (empty) Export*ServiceResponse protobuf.
            self._reply(status, b"", "application/x-protobuf")
        else:
            self._json(404, {"error": f"no endpoint at {path[:80]}"})

    def do_PUT(self) -> None:
        body = self._body()
        if body is None:
            return
        path = urlsplit(self.path).path
        if path == "/control/model":
            self._control_model(body)
            return
        if path != "/control/otlp":
            self._json(404, {"error": "only /control/otlp and /control/model accept PUT"})
            return
        try:
            status = json.loads(body)["status"]
        except (ValueError, KeyError, TypeError):
            status = None
        if not isinstance(status, int) or not 200 <= status <= 599:
            self._json(400, {"error": 'send {"status": <HTTP status 200..599>}'})
            return
        self.server.otlp_status = status
        self._json(200, {"otlp_status": status})

    def _control_model(self, body: bytes) -> None:
        try:
            request = json.loads(body)
            seconds, share = float(request["delay_seconds"]), float(request.get("share", 1.0))
        except (ValueError, KeyError, TypeError):
            seconds = share = -1.0
        if not 0 <= seconds <= MODEL_TIMEOUT_SECONDS or not 0 <= share <= 1:
            self._json(400, {"error": f'send {{"delay_seconds": <0..{MODEL_TIMEOUT_SECONDS:g}>, "share": <0..1>}}'})
            return
        self.server.set_model_delay(seconds, share)
        self._json(200, {"delay_seconds": seconds, "share": share})

    def _relay_model(self, body: bytes | None) -> None:
        upstream = self.server.model_upstream
        if upstream is None:
            self._json(404, {"error": "no model server behind this receiver (--model-upstream)"})
            return
        self.server.model_delay()
        path = self.path[len(MODEL_PREFIX) :]
        headers = {k: v for k, v in self.headers.items() if k.lower() in _RELAYED}
        connection = http.client.HTTPConnection(upstream.hostname or "127.0.0.1", upstream.port or 80,
                                                timeout=MODEL_TIMEOUT_SECONDS)  # fmt: skip
        try:
            connection.request(self.command, path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        except OSError:
            # As the server itself would: no answer at all, so the client sees a connection error.
            self.close_connection = True
            return
        finally:
            connection.close()
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() in _RELAYED:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _body(self) -> bytes | None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._json(413, {"error": f"bodies are limited to {MAX_BODY_BYTES} bytes"})
            return None
        return self.rfile.read(length)

    def _json(self, status: int, value: Any) -> None:
        self._reply(status, json.dumps(value).encode(), "application/json")

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per OTLP export would drown the stack log


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until interrupted (SIGTERM or Ctrl-C)."""
    parser = argparse.ArgumentParser(
        prog="python -m agent_runtime.ops.stack.receiver",
        description="Record Alertmanager webhooks, serve pages to fetch, sink OTLP exports.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 in a container)")
    parser.add_argument("--port", type=int, required=True, help="port to listen on")
    parser.add_argument("--log", type=Path, required=True, help="JSONL file of webhook deliveries")
    parser.add_argument("--model-upstream", metavar="URL",
                        help="the model server to pass /model/... through to (and slow down on request)")  # fmt: skip
    args = parser.parse_args(argv)
    server = AlertReceiver(args.port, args.log, host=args.host, echo=True, model_upstream=args.model_upstream)
    print(f"alert receiver on http://{args.host}:{server.port}, recording to {args.log}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
