"""A minimal Alertmanager webhook receiver that logs every notification.

docker-compose.yml runs it as ``alert-receiver`` so the local stack delivers
alerts somewhere visible (``docker compose logs -f alert-receiver``) without
any external service. Alertmanager posts to ``/hooks/<receiver>``; each alert
becomes one log line. Standard library only, so it runs in the runtime image.

Example::

    python -m observability.webhook_receiver --port 9095
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

LOG: Final = logging.getLogger("alert-receiver")
_PREFIX: Final = "/hooks/"
# Alertmanager batches alerts per group; a few MiB is far above any real payload.
_MAX_BODY: Final = 4 * 1024 * 1024


def describe(receiver: str, payload: dict[str, Any]) -> list[str]:
    """One log line per alert in an Alertmanager webhook ``payload``."""
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


class _Handler(BaseHTTPRequestHandler):
    server_version = "agent-runtime-alert-receiver"

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        """``/healthz`` for the container health check."""
        if self.path == "/healthz":
            self._reply(200, {"status": "ok"})
        else:
            self._reply(404, {"error": f"no such path: {self.path}"})

    def do_POST(self) -> None:
        """Log the alerts posted to ``/hooks/<receiver>``."""
        if not self.path.startswith(_PREFIX) or len(self.path) == len(_PREFIX):
            self._reply(404, {"error": f"post to {_PREFIX}<receiver>"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            self._reply(413, {"error": f"body larger than {_MAX_BODY} bytes"})
            return
        try:
            payload = json.loads(self.rfile.read(length) or b"null")
        except json.JSONDecodeError as error:
            self._reply(400, {"error": f"invalid JSON: {error}"})
            return
        if not isinstance(payload, dict):
            self._reply(400, {"error": "expected an Alertmanager webhook object"})
            return
        for line in describe(self.path[len(_PREFIX):], payload):
            LOG.info("%s", line)
        self._reply(200, {"status": "received"})

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request access log; notifications are logged by ``do_POST``."""


def make_server(host: str, port: int) -> ThreadingHTTPServer:
    """The receiver's HTTP server, bound but not yet serving."""
    return ThreadingHTTPServer((host, port), _Handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(description="Log Alertmanager webhook notifications.")
    parser.add_argument("--host", default="0.0.0.0", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=9095, help="port to bind (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(message)s")
    server = make_server(args.host, args.port)
    LOG.info("listening on %s:%d", args.host, args.port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
