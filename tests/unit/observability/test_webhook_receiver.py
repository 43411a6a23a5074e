"""The compose stack's alert receiver: logs notifications, rejects junk."""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from observability.webhook_receiver import describe, make_server

PAYLOAD = {
    "receiver": "page",
    "status": "firing",
    "alerts": [{
        "status": "firing",
        "labels": {"alertname": "AgentRuntimeDown", "severity": "critical", "job": "agent-runtime",
                   "instance": "runtime:8000"},
        "annotations": {"summary": "An agent runtime instance cannot be scraped.",
                        "runbook_url": "https://example/runbooks/AgentRuntimeDown.md"},
    }],
}


@pytest.fixture()
def base_url() -> Iterator[str]:
    server = make_server("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _request(url: str, data: bytes | None = None) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_describe_one_line_per_alert() -> None:
    assert describe("page", PAYLOAD) == [
        "receiver=page status=firing alertname=AgentRuntimeDown severity=critical instance=runtime:8000 "
        "job=agent-runtime | An agent runtime instance cannot be scraped. "
        "https://example/runbooks/AgentRuntimeDown.md"
    ]
    assert describe("page", {"alerts": []}) == []


def test_posted_alerts_are_logged(base_url: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="alert-receiver"):
        status, body = _request(f"{base_url}/hooks/page", json.dumps(PAYLOAD).encode())
    assert (status, body) == (200, {"status": "received"})
    assert any("receiver=page status=firing alertname=AgentRuntimeDown" in r.message for r in caplog.records)


def test_health_endpoint(base_url: str) -> None:
    assert _request(f"{base_url}/healthz") == (200, {"status": "ok"})
    assert _request(f"{base_url}/nope")[0] == 404


@pytest.mark.parametrize(
    ("path", "data", "status"),
    [("/hooks/page", b"{not json", 400), ("/hooks/page", b"[1, 2]", 400), ("/hooks/", b"{}", 404),
     ("/other", b"{}", 404)],
)
def test_bad_requests_get_a_4xx(base_url: str, path: str, data: bytes, status: int) -> None:
    code, body = _request(f"{base_url}{path}", data)
    assert code == status and "error" in body
