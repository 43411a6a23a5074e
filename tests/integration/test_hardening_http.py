"""Hardening probes through the real HTTP service: fault-API input types, cleared latency,
http_fetch's allow-list through ``POST /v1/tasks``.

Each test here is the regression test of one defect found by probing the
service (docs/security.md lists them).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import urllib3.util.connection
from prometheus_client import CollectorRegistry

from agent_runtime.builtin_tools.http_fetch import HttpFetcher
from agent_runtime.config.loader import parse_config
from agent_runtime.config.models import ToolSpec
from agent_runtime.errors import ToolError
from agent_runtime.ops.faults import FaultSettings
from agent_runtime.registry import ToolRegistry
from agent_runtime.runtime import Runtime
from agent_runtime.service import ServiceSettings, create_app
from tests.integration.service_fixtures import (  # noqa: F401
    ADMIN_TOKEN,
    LiveService,
    make_live_service_fixture,
    serve,
)
from tests.unit.builtin_tools.conftest import LoopbackServer, Reply

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
FAULTS_ON = ServiceSettings(admin_token=ADMIN_TOKEN, faults=FaultSettings(enabled=True))


@pytest.fixture(name="faulty")
def faulty_fixture(make_live_service: Callable[[ServiceSettings], LiveService]) -> Iterator[LiveService]:
    """The test service with fault injection on; every fault is cleared afterwards."""
    service = make_live_service(FAULTS_ON)
    yield service
    service.request("DELETE", "/v1/faults", headers=AUTH)


def assert_json_error(response: requests.Response, status: int, code: str, *mentions: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code, error
    for mention in mentions:
        assert mention in error["message"], error
    return str(error["message"])


# --- POST /v1/faults: every field's type is checked (was a 500: unhashable type) -------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": ["latency"]}, '"kind"'),
        ({"kind": {"name": "latency"}}, '"kind"'),
        ({"kind": 1}, '"kind"'),
        ({"kind": None}, '"kind"'),
        ({"kind": True}, '"kind"'),
        ({"kind": "error", "tool": ["lookup"]}, '"tool"'),
        ({"kind": "error", "tool": {"name": "lookup"}}, '"tool"'),
        ({"kind": "error", "tool": 7}, '"tool"'),
        ({"kind": "error", "tools": [["lookup"]]}, '"tools"'),
        ({"kind": "error", "tools": [{"a": 1}]}, '"tools"'),
        ({"kind": "error", "tools": {"lookup": 1}}, '"tools"'),
        ({"kind": "dependency_down", "dependency": ["docs"]}, '"dependency"'),
        ({"kind": "dependency_down", "dependency": {"x": 1}}, '"dependency"'),
        ({"kind": "latency", "tool": "lookup", "seconds": [1]}, '"seconds"'),
        ({"kind": "latency", "tool": "lookup", "seconds": {"s": 1}}, '"seconds"'),
        ({"kind": "error", "tool": "lookup", "rate": "0.5"}, '"rate"'),
        ({"kind": "cache_flush", "every_seconds": [1]}, '"every_seconds"'),
        ({"kind": "error", "tool": "lookup", "duration_seconds": {"d": 1}}, '"duration_seconds"'),
    ],
)
def test_fault_fields_of_the_wrong_type_are_a_400_naming_the_field(
    faulty: LiveService, body: dict[str, Any], field: str
) -> None:
    response = faulty.post("/v1/faults", json=body, headers=AUTH)
    assert_json_error(response, 400, "invalid_type", field)


def test_fault_numbers_too_large_for_a_float_are_a_400(faulty: LiveService) -> None:
    huge = "1" + "0" * 400
    raw = '{"kind": "latency", "tool": "lookup", "seconds": ' + huge + "}"
    response = faulty.post("/v1/faults", data=raw, headers={**AUTH, "Content-Type": "application/json"})
    assert_json_error(response, 400, "invalid_value", '"seconds"')


def test_fault_without_a_kind_says_which_kinds_exist(faulty: LiveService) -> None:
    response = faulty.post("/v1/faults", json={"tool": "lookup"}, headers=AUTH)
    assert_json_error(response, 400, "missing_field", '"kind"', "latency")


# --- a cleared latency fault wakes the calls it delays (they slept on, holding up SIGTERM) --------


def test_clearing_a_latency_fault_releases_the_requests_it_holds(faulty: LiveService) -> None:
    created = faulty.post("/v1/faults", json={"kind": "latency", "tool": "shout", "seconds": 8}, headers=AUTH)
    assert created.status_code == 201, created.text
    replies: list[requests.Response] = []
    started = time.monotonic()
    task = threading.Thread(
        target=lambda: replies.append(faulty.post("/v1/tasks", json={"task": "write it", "agent": "writer"}))
    )
    task.start()
    time.sleep(0.5)
    assert task.is_alive()
    assert faulty.request("DELETE", "/v1/faults", headers=AUTH).json() == {"cleared": 1}
    task.join(timeout=10)
    elapsed = time.monotonic() - started
    assert [r.status_code for r in replies] == [200]
    assert replies[0].json()["output"] == "WRITE IT"
    assert elapsed < 3, f"the task took {elapsed:.1f}s: the cleared fault kept its thread asleep"


# --- http_fetch behind POST /v1/tasks: the allow-list holds against parser differentials -----------

PUBLIC = "93.184.216.34"


def _resolver(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
    """``*.allowed.test`` resolves to a public address; IP literals to themselves; nothing else resolves."""
    try:
        socket.inet_pton(socket.AF_INET, host)
        answer = host
    except OSError:
        if not host.endswith(".allowed.test"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
        answer = PUBLIC
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer, port))]


@pytest.fixture()
def fetch_service(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, LoopbackServer, list[tuple[str, int]]]]:
    """A service whose ``fetcher`` agent runs the real http_fetch (allow-list ``*.allowed.test``).

    Yields its URL, an internal loopback server that must never be reached,
    and every (host, port) an HTTP client dialled, the test's own requests to the
    service included (only loopback is really connected).
    """
    real_connect = urllib3.util.connection.create_connection
    dialled: list[tuple[str, int]] = []

    def recording_connect(address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        dialled.append((str(address[0]), int(address[1])))
        if address[0] == "127.0.0.1":
            return real_connect(address, *args, **kwargs)
        raise ConnectionRefusedError(111, "refused by the test")

    monkeypatch.setattr(urllib3.util.connection, "create_connection", recording_connect)
    internal = LoopbackServer()
    internal.routes["/"] = lambda _: Reply(200, b"internal secret", {"Content-Type": "text/plain"})
    fetcher = HttpFetcher(["*.allowed.test"], resolver=_resolver, connect_timeout_seconds=1.0)
    tools = ToolRegistry()
    tools.register(ToolSpec(name="http_fetch", cacheable=False, timeout_seconds=5), fetcher)
    config = parse_config(
        {
            "agents": [
                {
                    "name": "fetcher",
                    "tools": ["http_fetch"],
                    "specialties": [{"domain": "web", "keywords": {"fetch": 1.0}}],
                    "plan": [{"id": "page", "tool": "http_fetch", "args": {"url": "{context[url]}"}}],
                }
            ]
        },
        source="test",
    )
    runtime = Runtime(config, tools=tools, metrics_registry=CollectorRegistry())
    try:
        with serve(create_app(runtime, ServiceSettings())) as url:
            yield url, internal, dialled
    finally:
        runtime.close()
        fetcher.close()
        internal.close()


@pytest.mark.parametrize(
    "template",
    [
        "http://127.0.0.1\\.allowed.test/",
        "http://127.0.0.1:{port}\\.allowed.test/",
        "http://127.0.0.1\\.allowed.test:{port}/",
        "http://127.0.0.1\t.allowed.test:{port}/",
        "http://127.0.0.1\n.allowed.test/",
        "http://127%2e0%2e0%2e1.allowed.test:{port}/",
        "http://x.allowed.test@127.0.0.1:{port}/",
        "http://x.allowed.test.:{port}/",
    ],
)
def test_fetch_tasks_never_reach_an_unchecked_address(
    fetch_service: tuple[str, LoopbackServer, list[tuple[str, int]]], template: str
) -> None:
    url, internal, dialled = fetch_service
    target = template.format(port=internal.port)
    response = requests.post(
        url + "/v1/tasks", json={"task": "fetch it", "agent": "fetcher", "context": {"url": target}}, timeout=30
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["outcome"] == "error", result
    [call] = result["tool_calls"]
    assert call["error_type"] in (ToolError.__name__, "RetryableToolError"), call
    assert internal.requests == []
    service_port = int(url.rsplit(":", 1)[1])
    fetched_from = [(host, port) for host, port in dialled if (host, port) != ("127.0.0.1", service_port)]
    assert {host for host, _ in fetched_from} <= {PUBLIC}, (target, fetched_from)
