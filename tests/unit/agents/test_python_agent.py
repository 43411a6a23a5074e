"""Python agents and agents as tools: calls through the pipeline (cache, breaker), the model, nesting."""

from __future__ import annotations

from typing import Any

import pytest

from agent_runtime import AgentRegistry, Task
from agent_runtime.agents.python_agent import AgentContext, ToolCallFailedError
from agent_runtime.errors import ConfigError
from agent_runtime.vocabulary import StopReason, TaskOutcome
from tests.support.openai_server import Reply
from tests.unit.agents.conftest import Harness, llm_agent


def test_python_agent_calls_tools_in_parallel_through_the_cache(harness: Harness) -> None:
    agents = AgentRegistry()

    @agents.agent(tools=("lookup",), keywords=("weather",))
    def forecaster(task: Task, ctx: AgentContext) -> str:
        results = ctx.call_parallel([("lookup", {"city": c}) for c in ("Oslo", "Rome", "Oslo")])
        return "; ".join(r.result for r in results)

    runtime = harness.build([], python_agents=agents)
    first = runtime.handle("what is the weather?")
    assert first.agent == "forecaster" and first.kind == "python"
    assert first.output == "sunny in Oslo; sunny in Rome; sunny in Oslo"
    second = runtime.handle("what is the weather?")
    assert {call.cache_layer for call in second.tool_calls} == {"l0"}
    assert harness.calls.counts["lookup"] <= 3 and harness.events.finished[-1] == (
        "forecaster",
        "python",
        "final",
        0,
        3,
    )


def test_python_agent_tool_failures_open_the_breaker_and_raise_to_the_agent(harness: Harness) -> None:
    agents = AgentRegistry()
    seen: list[str] = []

    @agents.agent(tools=("broken",), keywords=("fix",))
    def fixer(task: Task, ctx: AgentContext) -> str:
        for _ in range(3):
            try:
                ctx.call("broken")
            except ToolCallFailedError as exc:
                seen.append(exc.outcome.outcome)
        return "gave up"

    runtime = harness.build([], python_agents=agents)
    assert runtime.handle("fix it").output == "gave up"
    assert seen == ["error", "error", "short_circuited"]
    assert harness.calls.counts["broken"] == 2


def test_python_agent_that_raises_stops_with_error_and_keeps_what_it_found(harness: Harness) -> None:
    agents = AgentRegistry()

    @agents.agent(tools=("lookup",), keywords=("weather",))
    def clumsy(task: Task, ctx: AgentContext) -> str:
        ctx.call("lookup", city="Oslo")
        raise ValueError("oops")

    runtime = harness.build([], python_agents=agents)
    result = runtime.handle("weather")
    assert result.stop_reason == StopReason.ERROR and result.outcome == TaskOutcome.ERROR
    assert result.error == "ValueError: oops"
    assert result.output == [{"tool": "lookup", "result": "sunny in Oslo"}]


def test_python_agent_may_only_call_the_tools_it_lists(harness: Harness) -> None:
    agents = AgentRegistry()

    @agents.agent(tools=("lookup",), keywords=("weather",))
    def nosy(task: Task, ctx: AgentContext) -> Any:
        return ctx.call("population", city="Oslo")

    result = harness.build([], python_agents=agents).handle("weather")
    assert "does not list tool 'population'" in (result.error or "")


def test_python_agent_calls_the_model_and_reads_the_budget(harness: Harness) -> None:
    harness.server.enqueue(Reply.text("Oslo is sunny.", prompt_tokens=20, completion_tokens=4))
    agents = AgentRegistry()

    @agents.agent(keywords=("weather",))
    def writer(task: Task, ctx: AgentContext) -> str:
        assert ctx.remaining_seconds > 0 and ctx.tokens_left > 0
        return str(ctx.chat(prompt=task.text)["content"])

    result = harness.build([], python_agents=agents).handle("weather report")
    assert result.output == "Oslo is sunny."
    assert [(t.input_tokens, t.output_tokens) for t in result.turns] == [(20, 4)]


def test_an_llm_agent_hands_a_task_to_a_python_agent(harness: Harness) -> None:
    agents = AgentRegistry()

    @agents.agent(tools=("lookup",), keywords=("forecast",))
    def forecaster(task: Task, ctx: AgentContext) -> str:
        return str(ctx.call("lookup", city=task.text))

    harness.server.enqueue(Reply.tool_calls([("forecaster", {"task": "Bergen"})]), Reply.text("Sunny in Bergen."))
    runtime = harness.build([llm_agent(tools=["forecaster"], tool_call_mode="native")], python_agents=agents)
    result = runtime.handle(Task("weather in Bergen?", agent="helper"))

    assert result.output == "Sunny in Bergen."
    nested = result.tool_calls[0]
    assert (nested.tool, nested.result, nested.turn) == ("forecaster", "sunny in Bergen", 0)
    tool = harness.server.requests[0]["tools"][0]["function"]
    assert tool["name"] == "forecaster" and tool["parameters"]["required"] == ["task"]
    assert [f[:3] for f in harness.events.finished] == [("forecaster", "python", "final"), ("helper", "llm", "final")]


def test_nesting_deeper_than_the_limit_is_refused_with_a_clear_error(harness: Harness) -> None:
    agents = AgentRegistry()

    @agents.agent(name="echo", tools=("echo",), keywords=("echo",))
    def echo(task: Task, ctx: AgentContext) -> Any:
        return ctx.call("echo", task=task.text)

    result = harness.build([], python_agents=agents, execution={"max_agent_depth": 2}).handle("echo")
    assert "nesting depth limit of 2 reached" in (result.error or "")
    assert [f[2] for f in harness.events.finished] == ["error", "error", "error"]


def test_a_python_agent_in_yaml_needs_a_registered_function(harness: Harness) -> None:
    with pytest.raises(ConfigError, match=r"agents\.ghost\.kind: kind: python, but no function is registered"):
        harness.build([{"name": "ghost", "kind": "python", "tools": ["lookup"]}])
