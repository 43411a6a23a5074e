"""The executor's fast lanes: cache hits run in the calling thread; unsampled tasks get no child spans."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from agent_runtime.config.models import PlanStep
from agent_runtime.execution.executor import PlanExecutor
from agent_runtime.execution.plan import build_plan
from agent_runtime.telemetry import tracing


@dataclass(frozen=True)
class Report:
    outcome: str
    result: Any = None
    error: BaseException | None = None
    cache_layer: str | None = None
    attempts: int = 1
    duration_seconds: float = 0.0


class PeekingCaller:
    """Tools named ``hit*`` are "cached": peek says so; every call records its thread."""

    def __init__(self) -> None:
        self.threads: dict[str, str] = {}
        self.peeks: list[str] = []

    def peek(self, tool: str, args: Mapping[str, Any]) -> bool:
        self.peeks.append(tool)
        return tool.startswith("hit")

    def call(self, tool: str, args: Mapping[str, Any], deadline: float | None = None) -> Report:
        self.threads[tool] = threading.current_thread().name
        return Report("success", result=tool)


def test_cache_hits_of_a_parallel_group_run_in_the_calling_thread() -> None:
    tools = {"hit_a", "hit_b", "miss_a", "miss_b"}
    plan = build_plan([PlanStep(name, name) for name in sorted(tools)], task_text="t", context={}, known_tools=tools)
    caller = PeekingCaller()
    executor = PlanExecutor(caller, max_parallel=4)
    try:
        outcomes, timed_out = executor.run(plan, timeout_seconds=5)
    finally:
        executor.close()
    here = threading.current_thread().name
    assert not timed_out and all(o.outcome == "success" for o in outcomes)
    assert caller.threads["hit_a"] == caller.threads["hit_b"] == here
    assert caller.threads["miss_a"].startswith("agent-tool") and caller.threads["miss_b"].startswith("agent-tool")


def test_a_lone_miss_with_hits_beside_it_runs_in_the_calling_thread() -> None:
    tools = {"hit_a", "miss_a"}
    plan = build_plan([PlanStep(name, name) for name in sorted(tools)], task_text="t", context={}, known_tools=tools)
    caller = PeekingCaller()
    executor = PlanExecutor(caller, max_parallel=4)
    try:
        executor.run(plan, timeout_seconds=5)
    finally:
        executor.close()
    assert set(caller.threads.values()) == {threading.current_thread().name}


def test_children_are_traced_unless_the_current_span_is_a_real_unsampled_one() -> None:
    assert tracing.children_traced()  # no current span: the sampler decides, as before
    unsampled = NonRecordingSpan(SpanContext(trace_id=1, span_id=2, is_remote=False, trace_flags=TraceFlags(0)))
    token = otel_context.attach(trace.set_span_in_context(unsampled))
    try:
        assert not tracing.children_traced()
    finally:
        otel_context.detach(token)


def test_an_unsampled_task_span_is_known_without_a_current_span_lookup() -> None:
    assert not tracing.task_unsampled()
    span, tokens = tracing.start_agent_span()
    try:
        # With the API's no-op tracer the task span is not recording: nothing of the task is traced,
        # not even a no-op child span is made.
        assert tracing.task_unsampled() == (not span.is_recording())
        assert tracing.children_traced() == span.is_recording()
        assert tracing.sampled_trace_id() is None
    finally:
        tracing.end_agent_span(span, tokens)
    assert not tracing.task_unsampled()


class CachingCaller(PeekingCaller):
    """``PeekingCaller`` that also answers ``hit*`` tools through ``call_cached``, recording which way each went."""

    def __init__(self) -> None:
        super().__init__()
        self.cached: list[str] = []

    def call_cached(self, tool: str, args: Mapping[str, Any]) -> Report | None:
        if not tool.startswith("hit"):
            return None
        self.cached.append(tool)
        self.threads[tool] = threading.current_thread().name
        return Report("success", result=tool)


def _run_parallel_group(caller: CachingCaller) -> None:
    tools = {"hit_a", "hit_b", "miss_a", "miss_b"}
    plan = build_plan([PlanStep(name, name) for name in sorted(tools)], task_text="t", context={}, known_tools=tools)
    executor = PlanExecutor(caller, max_parallel=4)
    try:
        outcomes, timed_out = executor.run(plan, timeout_seconds=5)
    finally:
        executor.close()
    assert not timed_out and [o.result for o in outcomes] == sorted(tools)
    assert all(o.call_id for o in outcomes)


def test_an_untraced_group_s_cache_hits_are_answered_by_call_cached_in_the_calling_thread() -> None:
    caller = CachingCaller()
    unsampled = NonRecordingSpan(SpanContext(trace_id=1, span_id=2, is_remote=False, trace_flags=TraceFlags(0)))
    token = otel_context.attach(trace.set_span_in_context(unsampled))
    try:
        _run_parallel_group(caller)
    finally:
        otel_context.detach(token)
    here = threading.current_thread().name
    assert sorted(caller.cached) == ["hit_a", "hit_b"] and caller.peeks == []
    assert caller.threads["hit_a"] == caller.threads["hit_b"] == here
    assert caller.threads["miss_a"].startswith("agent-tool") and caller.threads["miss_b"].startswith("agent-tool")


def test_a_traced_group_peeks_and_calls_its_hits_in_their_spans() -> None:
    caller = CachingCaller()
    _run_parallel_group(caller)  # no current span: traced, each call needs its span current while it runs
    assert caller.cached == [] and sorted(caller.peeks) == ["hit_a", "hit_b", "miss_a", "miss_b"]
    assert caller.threads["hit_a"] == threading.current_thread().name
