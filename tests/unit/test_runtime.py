"""Runtime.handle end to end in-process: routing, plan, tools, timings, telemetry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from agent_runtime.config.loader import parse_config
from agent_runtime.config.models import AgentSpec, PlanStep, Specialty
from agent_runtime.errors import ConfigError, RejectedError, UnknownAgentError
from agent_runtime.registry import ToolRegistry
from agent_runtime.results import Task
from agent_runtime.runtime import Runtime
from agent_runtime.telemetry.listener import RuntimeListener
from tests.unit.runtime_fixtures import make_config, make_tools


class Recorder(RuntimeListener):
    def __init__(self) -> None:
        self.tasks: list[tuple[str, str]] = []
        self.stages: list[str] = []

    def task_finished(self, agent: str, outcome: str, seconds: float) -> None:
        self.tasks.append((agent, outcome))

    def stage_timed(self, stage: str, seconds: float) -> None:
        self.stages.append(stage)


@pytest.fixture()
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture()
def runtime(recorder: Recorder) -> Iterator[Runtime]:
    rt = Runtime(make_config(), tools=make_tools(), listeners=[recorder], metrics_registry=CollectorRegistry())
    yield rt
    rt.close()


def test_handle_routes_runs_plan_and_reports(runtime: Runtime, recorder: Recorder) -> None:
    result = runtime.handle("why is cache latency high and the error alert firing?")
    assert result.outcome == "success"
    assert result.agent == "diagnostics"
    assert result.decision is not None and result.decision.source == "scored"
    assert result.decision.explanation
    assert [c.step_id for c in result.tool_calls] == ["docs", "numbers", "answer"]
    assert all(c.outcome == "success" and c.attempts == 1 for c in result.tool_calls)
    assert result.output == "DOC ABOUT WHY IS CACHE LATENCY HIGH AND THE ERROR ALERT FIRING? | 0.42"
    for stage in ("analyse", "route", "plan", "execute", "aggregate", "tool:lookup", "tool:metrics"):
        assert stage in result.stage_seconds
    assert result.duration_seconds >= result.stage_seconds["execute"]
    assert recorder.tasks == [("diagnostics", "success")]
    assert {"analyse", "route", "plan", "execute", "aggregate", "tool"} <= set(recorder.stages)


def test_second_identical_task_hits_decision_and_tool_caches(runtime: Runtime) -> None:
    first = runtime.handle("cache latency alert")
    second = runtime.handle("cache latency alert")
    assert second.decision is not None and second.decision.source == "cache"
    assert second.agent == first.agent
    lookup = next(c for c in second.tool_calls if c.tool == "lookup")
    assert lookup.cache_layer == "l0" and lookup.attempts == 0
    assert lookup.result == next(c for c in first.tool_calls if c.tool == "lookup").result
    shout = next(c for c in second.tool_calls if c.tool == "shout")
    assert shout.cache_layer is None, "never-cache tools are always called"


def test_failing_tool_marks_call_and_task_failed_without_raising(runtime: Runtime) -> None:
    result = runtime.handle(Task("explode", agent="flaky"))
    assert result.outcome == "error"
    assert result.tool_calls[0].outcome == "error"
    assert result.tool_calls[0].error_type == "ToolError"
    assert result.error is not None and "the dependency is down" in result.error


def test_unknown_requested_agent_is_rejected_and_counted(runtime: Runtime, recorder: Recorder) -> None:
    with pytest.raises(UnknownAgentError, match="diagnostics"):
        runtime.handle(Task("hello", agent="nobody"))
    assert recorder.tasks == [("none", "rejected")]


def test_over_the_in_flight_limit_is_rejected(recorder: Recorder) -> None:
    rt = Runtime(
        make_config(execution={"max_in_flight_tasks": 1}),
        tools=make_tools(),
        listeners=[recorder],
        metrics_registry=None,
    )
    try:
        assert rt._admission.acquire(blocking=False)
        with pytest.raises(RejectedError, match="in-flight limit of 1"):
            rt.handle("write a summary")
        assert recorder.tasks == [("none", "rejected")]
    finally:
        rt.close()


def test_low_confidence_falls_back(runtime: Runtime) -> None:
    result = runtime.handle("zzz qqq")
    assert result.decision is not None
    assert result.decision.source == "fallback"
    assert result.agent == "writer"


def test_reload_invalidates_cached_decisions(runtime: Runtime) -> None:
    runtime.handle("write a draft summary")
    assert runtime.route("write a draft summary").source == "cache"
    old_version = runtime.config.version
    routing = {"fallback_chain": ["writer"], "min_confidence": 0.45, "experience_weight": 0.0}
    runtime.reload(make_config(routing=routing))
    assert runtime.config.version != old_version
    assert runtime.route("write a draft summary").source == "scored"


def test_register_agent_from_python(runtime: Runtime) -> None:
    runtime.register_agent(
        AgentSpec(
            name="poet",
            specialties=(Specialty("poetry", {"poem": 1.0, "verse": 1.0}),),
            tools=("shout",),
            base_confidence=0.6,
            plan=(PlanStep("say", "shout", {"parts": ["{task}"]}),),
        )
    )
    assert runtime.handle("a poem in verse").agent == "poet"


def test_config_naming_an_unregistered_tool_fails_clearly() -> None:
    config = make_config(tools={"ghost": {}})
    with pytest.raises(ConfigError, match=r"test-config: tools\.ghost: no implementation is registered"):
        Runtime(config, tools=make_tools(), metrics_registry=None)


def test_partial_results_reach_the_user_when_one_sink_fails() -> None:
    config = make_config(
        agents=[
            {
                "name": "both",
                "tools": ["lookup", "broken"],
                "specialties": [{"domain": "ops", "keywords": ["cache"]}],
                "plan": [
                    {"id": "docs", "tool": "lookup", "args": {"query": "{task}"}},
                    {"id": "live", "tool": "broken", "args": {}},
                ],
            }
        ],
        routing={},
    )
    rt = Runtime(config, tools=make_tools(), metrics_registry=None)
    try:
        result = rt.handle("cache")
    finally:
        rt.close()
    assert result.outcome == "success"
    assert result.output == {"docs": "doc about cache"}
    assert [c.outcome for c in result.tool_calls] == ["success", "error"]


def test_the_runtime_never_mutates_the_registry_it_is_given() -> None:
    tools = ToolRegistry()

    @tools.tool(timeout_seconds=2.0)
    def echo(text: str) -> str:
        return text

    before = tools.get("echo")
    config = parse_config(
        {
            "agents": [
                {"name": "parrot", "tools": ["echo"], "plan": [{"id": "a", "tool": "echo", "args": {"text": "x"}}]}
            ],
            "tools": {"echo": {"timeout_seconds": 9.0, "cacheable": False}},
        }
    )
    runtime = Runtime(config, tools=tools, metrics_registry=None)
    try:
        runtime.wrap_tools(lambda name, func: lambda **args: "wrapped")
        assert runtime.handle("x").output == "wrapped"
        assert {spec.name: spec.timeout_seconds for spec in runtime.tool_specs()} == {"echo": 9.0}
    finally:
        runtime.close()
    # The caller's registry still holds its own settings and callable.
    assert tools.get("echo") is before
    assert tools.get("echo").spec.timeout_seconds == 2.0 and tools.get("echo").func(text="y") == "y"
    assert tools.names() == ("echo",)
