"""The built-in receiver: webhook deliveries recorded and served, pages, the OTLP sink and its failure switch."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from agent_runtime.ops.stack.ports import free_port
from agent_runtime.ops.stack.receiver import PAGES, AlertReceiver, alert_names, describe


def webhook(alertname: str, status: str = "firing") -> dict[str, Any]:
    """An Alertmanager webhook payload (version 4), trimmed to what matters here."""
    return {
        "version": "4",
        "status": status,
        "receiver": "page",
        "groupLabels": {"alertname": alertname},
        "alerts": [{"status": status, "labels": {"alertname": alertname, "severity": "critical"},
                    "annotations": {"runbook_url": f"https://example.test/runbooks/{alertname}.md"}}],
    }  # fmt: skip


@pytest.fixture()
def receiver(tmp_path: Path) -> Iterator[AlertReceiver]:
    server = AlertReceiver(0, tmp_path / "alerts.jsonl")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def url(receiver: AlertReceiver, path: str) -> str:
    return f"http://127.0.0.1:{receiver.port}{path}"


def test_deliveries_are_recorded_and_filtered(receiver: AlertReceiver) -> None:
    assert requests.post(url(receiver, "/hooks/page"), json=webhook("A")).json() == {"recorded": True}
    middle = time.time()
    requests.post(url(receiver, "/hooks/ticket"), json=webhook("B", "resolved"))
    everything = requests.get(url(receiver, "/alerts")).json()["deliveries"]
    assert [d["receiver"] for d in everything] == ["page", "ticket"]
    assert everything[0]["payload"]["alerts"][0]["annotations"]["runbook_url"].endswith("/A.md")
    only = requests.get(url(receiver, "/alerts"), params={"receiver": "ticket"}).json()["deliveries"]
    assert [alert_names(d) for d in only] == [{"B"}]
    by_name = requests.get(url(receiver, "/alerts"), params={"alertname": "A"}).json()["deliveries"]
    assert len(by_name) == 1
    since = requests.get(url(receiver, "/alerts"), params={"since": str(middle)}).json()["deliveries"]
    assert [d["receiver"] for d in since] == ["ticket"]
    assert requests.get(url(receiver, "/alerts"), params={"since": "yesterday"}).status_code == 400


def test_deliveries_survive_a_restart(receiver: AlertReceiver, tmp_path: Path) -> None:
    requests.post(url(receiver, "/hooks/page"), json=webhook("A"))
    lines = (tmp_path / "alerts.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["receiver"] == "page"
    restarted = AlertReceiver(0, tmp_path / "alerts.jsonl")
    try:
        assert [alert_names(d) for d in restarted.deliveries()] == [{"A"}]
    finally:
        restarted.server_close()


def test_bad_webhooks_are_refused(receiver: AlertReceiver) -> None:
    response = requests.post(url(receiver, "/hooks/page"), data=b"{nope", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert requests.post(url(receiver, "/elsewhere"), json={}).status_code == 404
    assert receiver.deliveries() == []


def test_pages_are_served_for_the_fetcher(receiver: AlertReceiver) -> None:
    response = requests.get(url(receiver, "/pages/status"))
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text == PAGES["status"]
    assert requests.get(url(receiver, "/pages/secret")).status_code == 404


def test_the_otlp_sink_accepts_until_told_to_fail(receiver: AlertReceiver) -> None:
    assert requests.post(url(receiver, "/v1/traces"), data=b"\x0a\x00").status_code == 200
    assert requests.put(url(receiver, "/control/otlp"), json={"status": 503}).json() == {"otlp_status": 503}
    assert requests.post(url(receiver, "/v1/traces"), data=b"").status_code == 503
    requests.put(url(receiver, "/control/otlp"), json={"status": 200})
    assert requests.post(url(receiver, "/v1/metrics"), data=b"").status_code == 200
    assert requests.put(url(receiver, "/control/otlp"), json={"status": "down"}).status_code == 400


def test_describe_prints_one_line_per_alert_with_its_runbook() -> None:
    payload = {
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "AgentRuntimeDown", "severity": "critical", "job": "agent-runtime"},
                "annotations": {"summary": "An instance is down.", "runbook_url": "https://x/AgentRuntimeDown.md"},
            },
            {"status": "resolved", "labels": {"alertname": "AgentRuntimeWatchdog", "severity": "info"}},
        ]
    }
    lines = describe("page", payload)
    assert lines == [
        "receiver=page status=firing alertname=AgentRuntimeDown severity=critical job=agent-runtime"
        " | An instance is down. https://x/AgentRuntimeDown.md",
        "receiver=page status=resolved alertname=AgentRuntimeWatchdog severity=info  |",
    ]


class _Model(ThreadingHTTPServer):
    """A stand-in model server: answers every request with what it got."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ModelHandler)


class _ModelHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self._echo(b"")

    def do_POST(self) -> None:
        self._echo(self.rfile.read(int(self.headers["Content-Length"])))

    def _echo(self, body: bytes) -> None:
        payload = json.dumps({"method": self.command, "path": self.path, "body": body.decode(),
                              "authorization": self.headers.get("Authorization")}).encode()  # fmt: skip
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture()
def model() -> Iterator[_Model]:
    server = _Model()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@contextlib.contextmanager
def _proxy(tmp_path: Path, upstream: str) -> Iterator[AlertReceiver]:
    server = AlertReceiver(0, tmp_path / "alerts.jsonl", model_upstream=upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_the_model_pass_through_relays_requests_and_can_slow_them_down(model: _Model, tmp_path: Path) -> None:
    with _proxy(tmp_path, f"http://127.0.0.1:{model.server_address[1]}") as proxy:
        response = requests.post(url(proxy, "/model/v1/chat/completions"), json={"x": 1},
                                 headers={"Authorization": "Bearer k"}, timeout=5)  # fmt: skip
        assert response.status_code == 201
        assert response.json() == {"method": "POST", "path": "/v1/chat/completions", "body": '{"x": 1}',
                                   "authorization": "Bearer k"}  # fmt: skip
        assert requests.get(url(proxy, "/model/props"), timeout=5).json()["path"] == "/props"
        assert requests.put(url(proxy, "/control/model"), json={"delay_seconds": 0.5}).json() == {
            "delay_seconds": 0.5, "share": 1.0}
        started = time.monotonic()
        requests.get(url(proxy, "/model/health"), timeout=5)
        assert time.monotonic() - started >= 0.5
        # Changing the delay releases requests held by the old one at once.
        requests.put(url(proxy, "/control/model"), json={"delay_seconds": 30})
        held = threading.Thread(target=requests.get, args=(url(proxy, "/model/health"),), kwargs={"timeout": 10})
        started = time.monotonic()
        held.start()
        time.sleep(0.2)
        requests.put(url(proxy, "/control/model"), json={"delay_seconds": 0})
        held.join()
        assert time.monotonic() - started < 5
        assert requests.put(url(proxy, "/control/model"), json={"delay_seconds": -1}).status_code == 400
        assert requests.put(url(proxy, "/control/model"), json={"delay_seconds": 1, "share": 2}).status_code == 400


def test_a_model_server_that_is_down_looks_down_through_the_pass_through(tmp_path: Path) -> None:
    # No answer at all, as from the server itself: a connection error, not a 502.
    with _proxy(tmp_path, f"http://127.0.0.1:{free_port()}") as proxy, pytest.raises(requests.ConnectionError):
        requests.post(url(proxy, "/model/v1/chat/completions"), json={}, timeout=5)


def test_without_an_upstream_there_is_no_pass_through(receiver: AlertReceiver) -> None:
    assert requests.get(url(receiver, "/model/v1/models")).status_code == 404
