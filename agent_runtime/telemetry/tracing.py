"""Spans through the OpenTelemetry API only (GenAI semantic conventions).

With no SDK installed every call here is the API's no-op; ``exporters/``
installs the SDK when an OTLP endpoint is configured.

Span shapes:
- ``invoke_agent {agent}`` (INTERNAL) per task: ``gen_ai.operation.name``,
  ``gen_ai.agent.name``, routing confidence and source;
- ``route`` child span with the decision;
- ``execute_tool {tool}`` (INTERNAL) per tool call: ``gen_ai.tool.name``,
  ``gen_ai.tool.call.id``, cache layer, attempts, ``error.type`` on failure;
- breaker transitions as span events on whichever span is current;
- cache hits as attributes where a span answers for its own cache (a tool
  hit is the ``execute_tool`` span's ``agent_runtime.cache.layer``, a
  decision hit the ``route`` span's ``agent_runtime.routing.source``), as a
  ``cache.hit`` event on the current span for the others (the analysis memo,
  a model call answered by the LLM cache).

Sampling is decided once per task, by the root span: the child spans
(``route``, ``execute_tool``) are only created when the task's span is
recording (``children_traced``), so with tracing off a task makes no child
span at all. An unsampled task costs one non-recording root span, which
still carries the trace id into the result, to outgoing calls and to the
logs; with the standard samplers (parent-based, or a
trace-id ratio) its children would not have been sampled either, so
sampled tasks keep exactly the spans they had.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GEN_AI_AGENT_NAME,
    GEN_AI_OPERATION_NAME,
    GEN_AI_TOOL_CALL_ID,
    GEN_AI_TOOL_NAME,
    GenAiOperationNameValues,
)
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from agent_runtime._version import __version__
from agent_runtime.results import RoutingDecision
from agent_runtime.telemetry.listener import RuntimeListener
from agent_runtime.vocabulary import CacheName

TRACER_NAME: Final = "agent_runtime"
INVOKE_AGENT: Final = GenAiOperationNameValues.INVOKE_AGENT.value
EXECUTE_TOOL: Final = GenAiOperationNameValues.EXECUTE_TOOL.value
# The index of the model turn that asked for a tool call (no GenAI convention defines one yet).
TURN_ATTRIBUTE: Final = "agent_runtime.agent.turn"
KIND_ATTRIBUTE: Final = "agent_runtime.agent.kind"
STOP_ATTRIBUTE: Final = "agent_runtime.agent.stop_reason"


# Obtained once: before an SDK is installed the API hands out a proxy tracer
# that follows the provider set later, so caching it is safe and saves a
# get_tracer call per span.
_TRACER: Final = trace.get_tracer(TRACER_NAME, __version__)


def tracer() -> trace.Tracer:
    """The runtime's tracer (follows the globally configured provider)."""
    return _TRACER


class _TaskTrace:
    """What the running task's span says about tracing, read once when the task starts.

    Inside a task every span is the task span or one of its descendants, in
    the same trace and (with the standard samplers) with the same sampling
    decision, so these answer for the whole task without a current-span
    look-up per question.
    """

    __slots__ = ("sampled_trace_id", "unsampled")

    def __init__(self, span: Span) -> None:
        context = span.get_span_context()
        # Not recording also when it is invalid: no SDK was installed when the task started, so the
        # same tracer would hand its children out as no-op spans (their making would be all they cost).
        self.unsampled = not span.is_recording()
        # The sampled flag, not is_recording(): with no SDK installed a sampled caller's trace is still the exemplar.
        self.sampled_trace_id = (
            format(context.trace_id, "032x") if context.is_valid and context.trace_flags.sampled else None
        )


# The running task's tracing (set by start_agent_span, carried to worker threads with the context).
_TASK: ContextVar[_TaskTrace | None] = ContextVar("agent_runtime_task_trace", default=None)


_Tokens = tuple[object, Token[_TaskTrace | None]]


def start_agent_span(parent: otel_context.Context | None = None) -> tuple[Span, _Tokens]:
    """Start the per-task span and make it current; end it with ``end_agent_span``.

    The same span as ``agent_span`` without two generator context managers on
    the hot path (their cost is paid by every task, sampled or not).
    """
    span = _TRACER.start_span(
        INVOKE_AGENT,
        context=parent,
        kind=SpanKind.INTERNAL,
        attributes={GEN_AI_OPERATION_NAME: INVOKE_AGENT},
        record_exception=False,
        set_status_on_exception=False,
    )
    return span, (otel_context.attach(trace.set_span_in_context(span)), _TASK.set(_TaskTrace(span)))


def end_agent_span(span: Span, tokens: _Tokens) -> None:
    """Restore the context ``start_agent_span`` replaced and end its span."""
    otel_token, task_token = tokens
    _TASK.reset(task_token)
    otel_context.detach(otel_token)  # type: ignore[arg-type]
    span.end()


def start_child_span(name: str, attributes: dict[str, str | int] | None = None) -> tuple[Span, object]:
    """Start an INTERNAL child span of the current one and make it current; end it with ``end_child_span``.

    What ``start_as_current_span`` does, without its two context managers.
    """
    span = _TRACER.start_span(
        name,
        kind=SpanKind.INTERNAL,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    )
    return span, otel_context.attach(trace.set_span_in_context(span))


def end_child_span(span: Span, token: object) -> None:
    """Restore the context ``start_child_span`` replaced and end its span."""
    otel_context.detach(token)  # type: ignore[arg-type]
    span.end()


def tool_span_attributes(tool: str, call_id: str, turn: int | None = None) -> dict[str, str | int]:
    """The attributes an ``execute_tool {tool}`` span starts with."""
    attributes: dict[str, str | int] = {
        GEN_AI_OPERATION_NAME: EXECUTE_TOOL,
        GEN_AI_TOOL_NAME: tool,
        GEN_AI_TOOL_CALL_ID: call_id,
    }
    if turn is not None:
        attributes[TURN_ATTRIBUTE] = turn
    return attributes


def task_unsampled() -> bool:
    """True inside a task whose span is not recording: nothing of it is traced (one ContextVar read)."""
    task = _TASK.get()
    return task is not None and task.unsampled


def sampled_trace_id() -> str | None:
    """The current trace id when it is sampled (for exemplars), else None; one ContextVar read inside a task."""
    task = _TASK.get()
    if task is not None:
        return task.sampled_trace_id
    context = trace.get_current_span().get_span_context()
    if context.is_valid and context.trace_flags.sampled:
        return format(context.trace_id, "032x")
    return None


def children_traced() -> bool:
    """False when the current span is a real span that is not recording (an unsampled task).

    Its child spans would not be recorded either, so callers skip creating
    them. With no current span at all the sampler decides, as before.
    Inside a task the task's span answers (one ContextVar read): False also
    when tracing is off (no SDK installed when the task started).
    """
    task = _TASK.get()
    if task is not None:
        return not task.unsampled
    span = trace.get_current_span()
    return span.is_recording() or not span.get_span_context().is_valid


def trace_id_of(span: Span) -> str | None:
    """``span``'s trace id as 32 hex digits, or None for an invalid span."""
    context = span.get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


@contextmanager
def agent_span(parent: otel_context.Context | None = None) -> Iterator[Span]:
    """The per-task span; renamed to ``invoke_agent {agent}`` once routed."""
    with tracer().start_as_current_span(
        INVOKE_AGENT,
        context=parent,
        kind=SpanKind.INTERNAL,
        attributes={GEN_AI_OPERATION_NAME: INVOKE_AGENT},
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


def annotate_decision(
    span: Span, decision: RoutingDecision, *, rename: bool = True, kind: str | None = None
) -> None:
    """Record the routing decision on ``span``; ``rename`` names it ``invoke_agent {agent}``.

    ``kind`` also records the agent's kind (as ``annotate_kind``), in the same call.
    """
    if not span.is_recording():
        return
    if rename:
        span.update_name(f"{INVOKE_AGENT} {decision.agent}")
    attributes: dict[str, str | float | bool] = {
        GEN_AI_AGENT_NAME: decision.agent,
        "agent_runtime.routing.confidence": decision.confidence,
        "agent_runtime.routing.source": decision.source,
        "agent_runtime.routing.gated": decision.gated,
    }
    if kind is not None:
        attributes[KIND_ATTRIBUTE] = kind
    span.set_attributes(attributes)


def annotate_kind(span: Span, kind: str) -> None:
    """Record the agent's kind (plan, llm, python) on its ``invoke_agent`` span."""
    if span.is_recording():
        span.set_attribute(KIND_ATTRIBUTE, kind)


def annotate_stop(span: Span, reason: str) -> None:
    """Record why the agent stopped (final, max_steps, ...) on its ``invoke_agent`` span."""
    if span.is_recording():
        span.set_attribute(STOP_ATTRIBUTE, reason)


@contextmanager
def nested_agent_span(agent: str, kind: str) -> Iterator[Span]:
    """The ``invoke_agent {agent}`` span of an agent called as another agent's tool."""
    with tracer().start_as_current_span(
        f"{INVOKE_AGENT} {agent}",
        kind=SpanKind.INTERNAL,
        attributes={GEN_AI_OPERATION_NAME: INVOKE_AGENT, GEN_AI_AGENT_NAME: agent, KIND_ATTRIBUTE: kind},
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


@contextmanager
def route_span() -> Iterator[Span]:
    """The routing child span."""
    with tracer().start_as_current_span("route", kind=SpanKind.INTERNAL) as span:
        yield span


@contextmanager
def tool_span(tool: str, call_id: str, turn: int | None = None) -> Iterator[Span]:
    """The ``execute_tool {tool}`` span for one tool call; ``turn`` is the model turn that asked for it."""
    attributes: dict[str, str | int] = {
        GEN_AI_OPERATION_NAME: EXECUTE_TOOL,
        GEN_AI_TOOL_NAME: tool,
        GEN_AI_TOOL_CALL_ID: call_id,
    }
    if turn is not None:
        attributes[TURN_ATTRIBUTE] = turn
    with tracer().start_as_current_span(
        f"{EXECUTE_TOOL} {tool}",
        kind=SpanKind.INTERNAL,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


def mark_error(span: Span, error_type: str, message: str) -> None:
    """Set ``error.type`` and an error status, as the conventions ask."""
    if span.is_recording():
        span.set_attribute(ERROR_TYPE, error_type)
        span.set_status(Status(StatusCode.ERROR, message[:256]))


def current_trace_id() -> str | None:
    """The current trace id as 32 hex digits, or None when nothing is traced."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


# Caches whose hits a span attribute records already, on the span current during the look-up: the
# tool cache's as the execute_tool span's agent_runtime.cache.layer, the decision cache's as the route
# span's agent_runtime.routing.source. An event would say it twice, for 7-10 us per hit when sampled.
_HITS_AS_ATTRIBUTES: Final = frozenset({CacheName.TOOL, CacheName.DECISION})


class SpanEventListener(RuntimeListener):
    """Adds breaker transitions, and the cache hits no span attribute records, as events on the current span."""

    def breaker_changed(self, breaker: str, state: str) -> None:
        if task_unsampled():
            return
        span = trace.get_current_span()
        if span.is_recording():
            span.add_event(
                "circuit_breaker.transition",
                {"agent_runtime.breaker.name": breaker, "agent_runtime.breaker.state": state},
            )

    def cache_looked_up(self, cache: str, layer: str, hit: bool) -> None:
        if not hit or cache in _HITS_AS_ATTRIBUTES:
            return
        task = _TASK.get()  # task_unsampled() inlined: this runs for every cache hit of every task
        if task is not None and task.unsampled:
            return
        span = trace.get_current_span()
        if span.is_recording():
            span.add_event("cache.hit", {"agent_runtime.cache.name": cache, "agent_runtime.cache.layer": layer})
