"""Fault injection: each fault kind's effect, expiry, clearing, sharing between processes, the HTTP API."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from agent_runtime.config.loader import parse_config
from agent_runtime.config.models import CacheSettings, ToolSpec
from agent_runtime.errors import RetryableToolError
from agent_runtime.ops.fault_store import FaultError, FaultRequest
from agent_runtime.ops.faults import FaultInjector, FaultSettings
from agent_runtime.registry import ToolRegistry
from agent_runtime.runtime import Runtime
from agent_runtime.service.app import create_app
from agent_runtime.service.faults_api import openapi_paths
from agent_runtime.service.settings import ServiceSettings
from agent_runtime.tools.cache import ToolCache
from agent_runtime.tools.pipeline import ToolPipeline


class FakeClock:
    """Wall-clock seconds that only move when told to."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def make_tools() -> ToolRegistry:
    registry = ToolRegistry()

    @registry.tool(timeout_seconds=0.2, cache_tags=("prometheus",))
    def promql_query(query: str) -> str:
        return f"result of {query}"

    @registry.tool(timeout_seconds=1.0, cache_tags=("corpus",))
    def knowledge_search(query: str) -> str:
        return f"passages about {query}"

    return registry


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture()
def tools() -> ToolRegistry:
    return make_tools()


@pytest.fixture()
def injector(tools: ToolRegistry, clock: FakeClock) -> Iterator[FaultInjector]:
    flushed: list[str] = []
    injector = FaultInjector(
        tools, invalidate=flushed.append, clock=clock, rng=random.Random(7), tick_seconds=0, hang_margin_seconds=0.1
    )
    injector.flushed = flushed  # type: ignore[attr-defined]
    yield injector
    injector.close()


def call(tools: ToolRegistry, name: str) -> Any:
    return tools.get(name).func(query="up")


def test_without_faults_tools_answer_as_before_and_install_is_idempotent(
    tools: ToolRegistry, injector: FaultInjector
) -> None:
    assert call(tools, "promql_query") == "result of up"
    assert injector.install() == []
    assert tools.get("promql_query").func.__wrapped__(query="x") == "result of x"  # type: ignore[attr-defined]


def test_tools_registered_later_are_wrapped_on_inject(tools: ToolRegistry, injector: FaultInjector) -> None:
    tools.register(ToolSpec(name="late"), lambda: "late")
    injector.inject(FaultRequest(kind="error", tools=("late",)))
    with pytest.raises(RetryableToolError):
        tools.get("late").func()


def test_latency_delays_only_the_targeted_tool(tools: ToolRegistry, injector: FaultInjector) -> None:
    injector.inject(FaultRequest(kind="latency", tools=("knowledge_search",), seconds=0.15))
    started = time.perf_counter()
    assert call(tools, "knowledge_search") == "passages about up"
    assert time.perf_counter() - started >= 0.15
    started = time.perf_counter()
    call(tools, "promql_query")
    assert time.perf_counter() - started < 0.1


def test_error_rate_fails_that_share_of_calls(tools: ToolRegistry, injector: FaultInjector) -> None:
    injector.inject(FaultRequest(kind="error", tools=("promql_query",), rate=0.5))
    failures = 0
    for _ in range(400):
        try:
            call(tools, "promql_query")
        except RetryableToolError as exc:
            assert "injected fault error-" in str(exc)
            failures += 1
    assert 140 < failures < 260


def test_hang_blocks_past_the_timeout_and_clearing_releases_it(tools: ToolRegistry, injector: FaultInjector) -> None:
    fault = injector.inject(FaultRequest(kind="hang", tools=("promql_query",)))
    started = time.perf_counter()
    with pytest.raises(RetryableToolError, match="hung"):
        call(tools, "promql_query")
    assert time.perf_counter() - started >= 0.2 + 0.1  # the tool's timeout plus the margin

    outcome: list[Any] = []
    hung = threading.Thread(target=lambda: outcome.append(_safe_call(tools, "knowledge_search")))
    injector.inject(FaultRequest(kind="hang", tools=("knowledge_search",)))
    hung.start()
    time.sleep(0.1)
    assert hung.is_alive()
    assert injector.clear() == 2
    hung.join(timeout=1)
    assert not hung.is_alive()
    assert fault.id not in [f.id for f in injector.active()]


def _safe_call(tools: ToolRegistry, name: str) -> Any:
    try:
        return call(tools, name)
    except RetryableToolError as exc:
        return exc


def test_hang_makes_the_pipeline_time_out(tools: ToolRegistry, injector: FaultInjector) -> None:
    injector.inject(FaultRequest(kind="hang", tools=("promql_query",)))
    with ToolPipeline(tools, ToolCache(CacheSettings())) as pipeline:
        report = pipeline.call("promql_query", {"query": "up"})
    assert report.outcome == "timeout"


def test_dependency_down_fails_every_tool_of_that_dependency(tools: ToolRegistry, injector: FaultInjector) -> None:
    fault = injector.inject(FaultRequest(kind="dependency_down", dependency="prometheus"))
    assert fault.tools == ("promql_query",)
    with pytest.raises(RetryableToolError, match=r"cannot connect to prometheus: .*Connection refused"):
        call(tools, "promql_query")
    assert call(tools, "knowledge_search") == "passages about up"
    assert injector.dependencies() == {"corpus": ["knowledge_search"], "prometheus": ["promql_query"]}
    with pytest.raises(FaultError, match="no tool depends on 'redis'"):
        injector.inject(FaultRequest(kind="dependency_down", dependency="redis"))


def test_errors_through_the_pipeline_open_the_breaker(tools: ToolRegistry, injector: FaultInjector) -> None:
    injector.inject(FaultRequest(kind="error", tools=("knowledge_search",)))
    with ToolPipeline(tools, ToolCache(CacheSettings())) as pipeline:
        outcomes = {pipeline.call("knowledge_search", {"query": str(i)}).outcome for i in range(8)}
        assert outcomes == {"error", "short_circuited"}
        assert pipeline.breaker("knowledge_search").is_open


def test_cache_flush_once_then_every_period(injector: FaultInjector, clock: FakeClock) -> None:
    flushed: list[str] = injector.flushed  # type: ignore[attr-defined]
    injector.inject(FaultRequest(kind="cache_flush"))
    assert sorted(flushed) == ["knowledge_search", "promql_query"]
    clock.now += 10
    injector.refresh()
    assert len(flushed) == 2  # a one-shot flush is not repeated
    injector.clear()
    flushed.clear()

    injector.inject(FaultRequest(kind="cache_flush", tools=("promql_query",), every_seconds=0.5))
    injector.refresh()
    assert flushed == ["promql_query"]
    clock.now += 0.5
    injector.refresh()
    assert flushed == ["promql_query", "promql_query"]


def test_faults_expire_after_their_duration(tools: ToolRegistry, injector: FaultInjector, clock: FakeClock) -> None:
    injector.inject(FaultRequest(kind="error", tools=("promql_query",), duration_seconds=30))
    (listed,) = injector.status()["faults"]
    assert listed["remaining_seconds"] == 30
    clock.now += 29.9
    with pytest.raises(RetryableToolError):
        call(tools, "promql_query")
    clock.now += 0.1
    injector.refresh()
    assert injector.status()["faults"] == []
    assert call(tools, "promql_query") == "result of up"


def test_clear_by_id_leaves_the_others(tools: ToolRegistry, injector: FaultInjector) -> None:
    first = injector.inject(FaultRequest(kind="error", tools=("promql_query",)))
    second = injector.inject(FaultRequest(kind="latency", tools=("*",), seconds=0.01))
    assert second.tools == ("knowledge_search", "promql_query")
    assert injector.clear(first.id) == 1
    assert injector.clear(first.id) == 0
    assert [f.id for f in injector.active()] == [second.id]


def test_faults_are_shared_through_the_state_file(tmp_path: Path, clock: FakeClock) -> None:
    # Two registries and injectors over one file: two gunicorn workers.
    state = str(tmp_path / "faults.json")
    tools_a, tools_b = make_tools(), make_tools()
    worker_a = FaultInjector(tools_a, state_path=state, clock=clock, tick_seconds=0)
    worker_b = FaultInjector(tools_b, state_path=state, clock=clock, tick_seconds=0)
    fault = worker_a.inject(FaultRequest(kind="dependency_down", dependency="prometheus"))
    worker_b.refresh()
    with pytest.raises(RetryableToolError):
        call(tools_b, "promql_query")
    assert worker_b.clear(fault.id) == 1
    worker_a.refresh()
    assert call(tools_a, "promql_query") == "result of up"


def test_a_corrupt_state_file_reads_as_no_faults(tmp_path: Path, clock: FakeClock) -> None:
    state = tmp_path / "faults.json"
    state.write_text("{not json")
    tools = make_tools()
    injector = FaultInjector(tools, state_path=str(state), clock=clock, tick_seconds=0)
    assert injector.active() == []
    injector.inject(FaultRequest(kind="error", tools=("promql_query",)))
    assert len(injector.active()) == 1


def test_the_background_thread_expires_faults() -> None:
    tools = make_tools()
    injector = FaultInjector(tools, tick_seconds=0.02)
    try:
        injector.inject(FaultRequest(kind="error", tools=("promql_query",), duration_seconds=0.1))
        deadline = time.monotonic() + 2
        while injector._effects and time.monotonic() < deadline:
            time.sleep(0.02)
        assert call(tools, "promql_query") == "result of up"
    finally:
        injector.close()


def test_unknown_or_missing_tools_are_refused(injector: FaultInjector) -> None:
    with pytest.raises(FaultError, match="unknown tool 'nope'; registered tools: knowledge_search, promql_query"):
        injector.inject(FaultRequest(kind="error", tools=("nope",)))
    with pytest.raises(FaultError, match="name the tools"):
        injector.inject(FaultRequest(kind="error"))


def test_settings_from_env() -> None:
    assert FaultSettings.from_env({}) == FaultSettings(enabled=False, state_path=None)
    on = FaultSettings.from_env({"AGENT_RUNTIME_FAULTS": "1", "AGENT_RUNTIME_FAULTS_STATE": "/tmp/f.json"})
    assert on == FaultSettings(enabled=True, state_path="/tmp/f.json")
    assert not FaultSettings.from_env({"AGENT_RUNTIME_FAULTS": "0"}).enabled


# --- the HTTP API -----------------------------------------------------------------------------------------

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def make_runtime() -> Runtime:
    config = parse_config(
        {
            "agents": [
                {
                    "name": "diagnostics",
                    "tools": ["promql_query", "knowledge_search"],
                    "plan": [{"id": "numbers", "tool": "promql_query", "args": {"query": "{task}"}}],
                }
            ]
        }
    )
    return Runtime(config, tools=make_tools(), metrics_registry=None)


@pytest.fixture()
def runtime() -> Iterator[Runtime]:
    runtime = make_runtime()
    yield runtime
    runtime.close()


def make_client(runtime: Runtime, *, enabled: bool, token: str | None = TOKEN) -> tuple[Flask, FlaskClient]:
    app = create_app(runtime, ServiceSettings(admin_token=token, faults=FaultSettings(enabled=enabled)))
    return app, app.test_client()


def test_api_injects_lists_and_clears(runtime: Runtime) -> None:
    _, client = make_client(runtime, enabled=True)
    created = client.post(
        "/v1/faults", json={"kind": "error", "tool": "promql_query", "duration_seconds": 60}, headers=AUTH
    )
    assert created.status_code == 201
    fault_id = created.get_json()["fault"]["id"]
    result = runtime.handle("what is up")
    assert result.outcome == "error"
    assert "injected fault" in (result.error or "")

    listed = client.get("/v1/faults", headers=AUTH).get_json()
    assert [f["id"] for f in listed["faults"]] == [fault_id]
    assert set(listed["kinds"]) == {"latency", "error", "hang", "dependency_down", "cache_flush"}
    assert listed["dependencies"]["prometheus"] == ["promql_query"]

    assert client.delete(f"/v1/faults/{fault_id}", headers=AUTH).get_json() == {"cleared": 1, "id": fault_id}
    assert client.delete(f"/v1/faults/{fault_id}", headers=AUTH).status_code == 404
    assert client.delete("/v1/faults", headers=AUTH).get_json() == {"cleared": 0}
    assert runtime.handle("what is up now").outcome == "success"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"kind": "boom"}, "invalid_kind"),
        ({"kind": "error", "tool": "x", "tools": ["y"]}, "invalid_body"),
        ({"kind": "error", "tools": "promql_query"}, "invalid_type"),
        ({"kind": "latency", "tool": "promql_query", "seconds": "1"}, "invalid_type"),
        ({"kind": "latency", "tool": "promql_query", "seconds": True}, "invalid_type"),
        ({"kind": "error", "tool": "missing"}, "invalid_fault"),
        ({"kind": "error", "tool": "promql_query", "colour": "red"}, "unknown_field"),
        ({"kind": "latency", "seconds": 1, "tool": ""}, "invalid_value"),
        ({"kind": "error", "tools": ["promql_query", " "]}, "invalid_value"),
        ({"kind": "dependency_down", "dependency": ""}, "invalid_value"),
        ({"kind": "error", "tools": ["*", "promql_query"]}, "invalid_fault"),
    ],
)
def test_api_refuses_bad_bodies_with_a_json_error(runtime: Runtime, body: dict[str, Any], code: str) -> None:
    _, client = make_client(runtime, enabled=True)
    response = client.post("/v1/faults", json=body, headers=AUTH)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code


def test_api_messages_say_what_to_send(runtime: Runtime) -> None:
    _, client = make_client(runtime, enabled=True)

    def message(**kwargs: Any) -> str:
        response = client.post("/v1/faults", **{"headers": AUTH, **kwargs})
        assert response.status_code == 400, response.text
        return str(response.get_json()["error"]["message"])

    assert '"tool" is empty' in message(json={"kind": "latency", "seconds": 1, "tool": ""})
    assert '"*" (every tool) must be the only name' in message(json={"kind": "error", "tools": ["*", "promql_query"]})
    assert 'e.g. {"kind": "latency"' in message(headers={**AUTH, "Content-Type": "application/json"})


def test_api_is_404_when_fault_injection_is_off(runtime: Runtime) -> None:
    _, client = make_client(runtime, enabled=False)
    for response in (client.get("/v1/faults", headers=AUTH), client.post("/v1/faults", json={}, headers=AUTH)):
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "faults_disabled"
    assert runtime.call_tool("promql_query", {"query": "up"}).result == "result of up"


def test_api_needs_the_admin_token(runtime: Runtime) -> None:
    _, client = make_client(runtime, enabled=True)
    assert client.get("/v1/faults").status_code == 401
    assert client.get("/v1/faults", headers={"Authorization": "Bearer wrong"}).status_code == 401
    _, no_admin = make_client(make_runtime(), enabled=True, token=None)
    response = no_admin.get("/v1/faults", headers=AUTH)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "admin_disabled"


def test_openapi_paths_cover_every_fault_route(runtime: Runtime) -> None:
    app, _ = make_client(runtime, enabled=True)
    routes = {rule.rule.replace("<fault_id>", "{fault_id}") for rule in app.url_map.iter_rules()}
    documented = set(openapi_paths())
    assert documented <= routes
    assert {r for r in routes if r.startswith("/v1/faults")} == documented


def test_clearing_a_latency_fault_wakes_the_calls_it_delays(tools: ToolRegistry, injector: FaultInjector) -> None:
    injector.inject(FaultRequest(kind="latency", tools=("knowledge_search",), seconds=30))
    results: list[Any] = []
    started = time.perf_counter()
    slowed = threading.Thread(target=lambda: results.append(call(tools, "knowledge_search")))
    slowed.start()
    time.sleep(0.1)
    assert slowed.is_alive()
    assert injector.clear() == 1
    slowed.join(timeout=2)
    assert not slowed.is_alive()
    assert results == ["passages about up"]
    assert time.perf_counter() - started < 2


def test_closing_the_injector_wakes_delayed_calls(tools: ToolRegistry, clock: FakeClock) -> None:
    injector = FaultInjector(tools, clock=clock, tick_seconds=0)
    injector.inject(FaultRequest(kind="latency", tools=("promql_query",), seconds=30))
    slowed = threading.Thread(target=lambda: call(tools, "promql_query"))
    slowed.start()
    time.sleep(0.1)
    injector.close()
    slowed.join(timeout=2)
    assert not slowed.is_alive()


class OnlyTheRuntimeInterface:
    """A fault target with nothing but the three methods ``Runtime`` offers the injector."""

    def __init__(self) -> None:
        self.registry = make_tools()
        self.invalidated: list[str | None] = []

    def wrap_tools(self, wrapper: Any) -> list[str]:
        wrapped = []
        for registered in list(self.registry):
            func = wrapper(registered.spec.name, registered.func)
            if func is not registered.func:
                self.registry.register(registered.spec, func, replace_existing=True)
                wrapped.append(registered.spec.name)
        return wrapped

    def invalidate(self, tool: str | None = None, tag: str | None = None) -> int:
        self.invalidated.append(tool)
        return 0

    def tool_specs(self) -> tuple[ToolSpec, ...]:
        return tuple(self.registry.get(name).spec for name in self.registry.names())


def test_the_injector_uses_only_wrap_tools_invalidate_and_tool_specs() -> None:
    target = OnlyTheRuntimeInterface()
    injector = FaultInjector.for_runtime(target, FaultSettings(enabled=True))
    try:
        assert injector.install() == []  # wrapped when built; wrapping again wraps nothing twice
        target.registry.register(ToolSpec(name="late", cache_tags=("prometheus",)), lambda: "late")
        injector.inject(FaultRequest(kind="dependency_down", dependency="prometheus"))
        for name in ("promql_query", "late"):
            with pytest.raises(RetryableToolError, match="injected fault"):
                target.registry.get(name).func(**({"query": "up"} if name != "late" else {}))
        injector.inject(FaultRequest(kind="cache_flush", tools=("knowledge_search",)))
        assert target.invalidated == ["knowledge_search"]
        injector.inject(FaultRequest(kind="hang", tools=("knowledge_search",)))  # timeout read from tool_specs
        assert injector.dependencies()["prometheus"] == ["late", "promql_query"]
    finally:
        injector.close()


def test_faults_reach_the_tools_of_a_real_runtime(runtime: Runtime) -> None:
    injector = FaultInjector.for_runtime(runtime, FaultSettings(enabled=True))
    try:
        injector.inject(FaultRequest(kind="error", tools=("promql_query",)))
        assert runtime.call_tool("promql_query", {"query": "up"}).outcome != "success"
        injector.clear()
        assert runtime.call_tool("promql_query", {"query": "up"}).result == "result of up"
    finally:
        injector.close()
