"""Hardening probes through the real HTTP service: fault-API input types, cleared latency,
http_fetch's allow-list through ``POST /v1/tasks``, request limits answered in JSON (also under gunicorn).

Each test here is the regression test of one defect found by probing the
service (docs/security.md lists them).
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
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
from agent_runtime.ops.stack.ports import free_port
from agent_runtime.registry import ToolRegistry
from agent_runtime.runtime import Runtime
from agent_runtime.service import ServiceSettings, create_app
from agent_runtime.service.errors import MAX_HEADER_FIELD_BYTES, MAX_HEADER_FIELDS, MAX_REQUEST_TARGET_BYTES
from tests.integration.service_fixtures import (  # noqa: F401
    ADMIN_TOKEN,
    LiveService,
    make_live_service_fixture,
    serve,
)
from tests.support.binaries import ManagedProcess, require_binary, wait_until
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


# --- request limits: the service's own, answered in JSON (gunicorn's HTML limits sit above) -------


@pytest.fixture(name="plain")
def plain_fixture(make_live_service: Callable[[ServiceSettings], LiveService]) -> LiveService:
    return make_live_service(ServiceSettings(admin_token=ADMIN_TOKEN))


def test_oversized_header_field_is_a_json_431(plain: LiveService) -> None:
    response = plain.get("/v1/agents", headers={"X-Big": "a" * (MAX_HEADER_FIELD_BYTES + 1)})
    assert_json_error(response, 431, "header_field_too_large", "'X-Big'", str(MAX_HEADER_FIELD_BYTES))
    assert plain.get("/v1/agents", headers={"X-Big": "a" * (MAX_HEADER_FIELD_BYTES - 20)}).status_code == 200


def test_too_many_header_fields_is_a_json_431(plain: LiveService) -> None:
    headers = {f"X-Field-{n}": "v" for n in range(MAX_HEADER_FIELDS + 1)}
    assert_json_error(plain.get("/healthz", headers=headers), 431, "too_many_header_fields", str(MAX_HEADER_FIELDS))


def test_overlong_request_target_is_a_json_414(plain: LiveService) -> None:
    response = plain.get("/v1/agents?q=" + "x" * MAX_REQUEST_TARGET_BYTES)
    assert_json_error(response, 414, "uri_too_long", str(MAX_REQUEST_TARGET_BYTES))
    # Also on routes that do not exist, and before the admin check.
    assert_json_error(plain.get("/nowhere/" + "y" * MAX_REQUEST_TARGET_BYTES), 414, "uri_too_long")
    assert_json_error(
        plain.post("/v1/cache/invalidate?" + "z" * MAX_REQUEST_TARGET_BYTES, json={"tool": "lookup"}),
        414,
        "uri_too_long",
    )


SERVE_CONFIG = """
agents:
  - name: merger
    tools: [merge_results]
    specialties: [{domain: search, keywords: {merge: 1.0}}]
    plan: [{id: merged, tool: merge_results, args: {results: [], top_k: 3}}]
"""


def test_request_limits_under_gunicorn_are_json_up_to_gunicorns_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under gunicorn a 9 KB header used to be gunicorn's HTML 431: now the app answers in JSON.

    Above gunicorn's own (higher) limits gunicorn still answers itself, in HTML:
    that is documented in docs/security.md and pinned here.
    """
    require_binary("gunicorn")
    config = tmp_path / "agents.yaml"
    config.write_text(SERVE_CONFIG)
    monkeypatch.setenv("AGENT_RUNTIME_CORPUS_PATHS", str(tmp_path))
    monkeypatch.setenv("AGENT_RUNTIME_CORPUS_INDEX", str(tmp_path / "index.sqlite3"))
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    url = f"http://127.0.0.1:{free_port()}"
    argv = [sys.executable, "-m", "agent_runtime.cli.main", "serve", "--workers", "1", "--bind", url[7:]]
    process = ManagedProcess([*argv, "--config", str(config)], tmp_path / "serve.log")
    try:
        wait_until(lambda: requests.get(url + "/readyz", timeout=2).ok, 60, "agent-runtime serve to be ready")

        def get(path: str, **kwargs: Any) -> requests.Response:
            return requests.get(url + path, timeout=10, **kwargs)

        big = {"X-Big": "a" * 9000}  # over the app's 8190, under gunicorn's 16380
        assert_json_error(get("/v1/agents", headers=big), 431, "header_field_too_large")
        many = {f"X-Field-{n}": "v" for n in range(100)}  # over the app's 64, under gunicorn's 128
        assert_json_error(get("/v1/agents", headers=many), 431, "too_many_header_fields")
        assert_json_error(get("/v1/agents?q=" + "x" * 5000), 414, "uri_too_long")  # under gunicorn's 8190

        # gunicorn's own limits: answered by gunicorn, in HTML, before the app sees the request.
        huge = get("/v1/agents", headers={"X-Huge": "a" * 20_000})
        assert (huge.status_code, huge.headers["Content-Type"]) == (431, "text/html")
        overlong = get("/v1/agents?q=" + "x" * 9000)
        assert (overlong.status_code, overlong.headers["Content-Type"]) == (414, "text/html")
        assert get("/v1/agents").status_code == 200

        # A broken chunked body is the app's JSON 400 (gunicorn's parser raises while the app reads it).
        for chunks in (b"zz\r\nabc\r\n0\r\n\r\n", b"5\r\nabcdefgh\r\n0\r\n\r\n"):
            status, body = raw_chunked_post(url, "/v1/tasks", chunks)
            assert (status, body["error"]["code"]) == (400, "malformed_body"), (status, body)
            assert "chunked encoding" in body["error"]["message"]
        assert get("/v1/agents").status_code == 200
    except BaseException:
        print(process.log())
        raise
    finally:
        process.stop()


def raw_chunked_post(url: str, path: str, chunks: bytes) -> tuple[int, Any]:
    """POST ``chunks`` as a chunked JSON body over a raw socket; (status, parsed JSON body)."""
    host, port = url[7:].rsplit(":", 1)
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")  # fmt: skip
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(head.encode() + chunks)
        answer = b""
        while data := connection.recv(65536):
            answer += data
    header, _, body = answer.partition(b"\r\n\r\n")
    status = int(header.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in header.lower():
        size, _, rest = body.partition(b"\r\n")
        body = rest[: int(size, 16)]
    return status, json.loads(body)
