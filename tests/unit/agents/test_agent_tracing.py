"""One task of each agent kind: every span, a tool's own included, in the task's trace with the right parent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agent_runtime import AgentRegistry, Task
from agent_runtime.agents.python_agent import AgentContext
from exporters.otlp import TracingHandle
from tests.support.openai_server import Reply
from tests.support.tracing import clean_otel_env, record_spans, shutdown_tracing
from tests.unit.agents.conftest import Harness, llm_agent


@pytest.fixture()
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TracingHandle, InMemorySpanExporter]]:
    clean_otel_env(monkeypatch)
    yield record_spans()
    shutdown_tracing()


def python_agents() -> AgentRegistry:
    agents = AgentRegistry()

    @agents.agent(tools=("lookup", "traced"), keywords=("weather",))
    def forecaster(task: Task, ctx: AgentContext) -> str:
        ctx.call("traced")
        return str(ctx.call("lookup", city="Oslo"))

    return agents


def collect(handle: TracingHandle, exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    handle.force_flush(timeout_seconds=5.0)
    return list(exporter.get_finished_spans())


def by_name(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    return next(span for span in spans if span.name == name)


def parent_of(spans: list[ReadableSpan], span: ReadableSpan) -> ReadableSpan:
    assert span.parent is not None, f"{span.name} has no parent"
    return next(s for s in spans if s.context.span_id == span.parent.span_id)


def test_every_kind_nests_its_spans_in_one_trace(
    harness: Harness, spans: tuple[TracingHandle, InMemorySpanExporter]
) -> None:
    handle, exporter = spans
    runtime = harness.build(
        [
            llm_agent(tool_call_mode="native", tools=["lookup", "traced"]),
            {"name": "planner", "tools": ["lookup"], "plan": [{"id": "a", "tool": "lookup", "args": {"city": "Rome"}}]},
        ],
        python_agents=python_agents(),
    )
    harness.server.enqueue(Reply.tool_calls([("lookup", {"city": "Oslo"}), ("traced", {})]), Reply.text("Sunny."))
    for agent in ("helper", "planner", "forecaster"):
        exporter.clear()
        result = runtime.handle(Task("weather?", agent=agent))
        recorded = collect(handle, exporter)
        root = by_name(recorded, f"invoke_agent {agent}")
        assert {format(s.context.trace_id, "032x") for s in recorded} == {result.trace_id}
        for span in recorded:
            if span.name.startswith("execute_tool") or span.name.startswith("chat "):
                assert parent_of(recorded, span) is root, span.name
        if agent != "planner":
            library = by_name(recorded, "library work")
            assert parent_of(recorded, library).name == "execute_tool traced"
        if agent == "helper":
            chats = [s for s in recorded if s.name.startswith("chat ")]
            assert len(chats) == 2 and all(s.kind is trace.SpanKind.CLIENT for s in chats)
            lookup = by_name(recorded, "execute_tool lookup")
            assert lookup.attributes is not None and lookup.attributes["agent_runtime.agent.turn"] == 0
            assert root.attributes is not None and root.attributes["agent_runtime.agent.kind"] == "llm"
