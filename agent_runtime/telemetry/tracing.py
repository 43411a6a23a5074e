"""Spans through the OpenTelemetry API only (GenAI semantic conventions).

With no SDK installed every call here is the API's no-op; ``exporters/``
installs the SDK when an OTLP endpoint is configured.

Span shapes:
- ``invoke_agent {agent}`` (INTERNAL) per task: ``gen_ai.operation.name``,
  ``gen_ai.agent.name``, routing confidence and source;
- ``route`` child span with the decision;
- ``execute_tool {tool}`` (INTERNAL) per tool call: ``gen_ai.tool.name``,
  ``gen_ai.tool.call.id``, cache layer, attempts, ``error.type`` on failure;
- breaker transitions as span events on whichever span is current.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from agent_runtime import __version__
from agent_runtime.results import RoutingDecision
from agent_runtime.telemetry.listener import RuntimeListener

TRACER_NAME: Final = "agent_runtime"
INVOKE_AGENT: Final = "invoke_agent"
EXECUTE_TOOL: Final = "execute_tool"


# Obtained once: before an SDK is installed the API hands out a proxy tracer
# that follows the provider set later, so caching it is safe and saves a
# get_tracer call per span.
_TRACER: Final = trace.get_tracer(TRACER_NAME, __version__)


def tracer() -> trace.Tracer:
    """The runtime's tracer (follows the globally configured provider)."""
    return _TRACER


@contextmanager
def agent_span(parent: otel_context.Context | None = None) -> Iterator[Span]:
    """The per-task span; renamed to ``invoke_agent {agent}`` once routed."""
    with tracer().start_as_current_span(
        INVOKE_AGENT,
        context=parent,
        kind=SpanKind.INTERNAL,
        attributes={"gen_ai.operation.name": INVOKE_AGENT},
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


def annotate_decision(span: Span, decision: RoutingDecision, *, rename: bool = True) -> None:
    """Record the routing decision on ``span``; ``rename`` names it ``invoke_agent {agent}``."""
    if not span.is_recording():
        return
    if rename:
        span.update_name(f"{INVOKE_AGENT} {decision.agent}")
    span.set_attributes(
        {
            "gen_ai.agent.name": decision.agent,
            "agent_runtime.routing.confidence": decision.confidence,
            "agent_runtime.routing.source": decision.source,
            "agent_runtime.routing.gated": decision.gated,
        }
    )


@contextmanager
def route_span() -> Iterator[Span]:
    """The routing child span."""
    with tracer().start_as_current_span("route", kind=SpanKind.INTERNAL) as span:
        yield span


@contextmanager
def tool_span(tool: str, call_id: str) -> Iterator[Span]:
    """The ``execute_tool {tool}`` span for one tool call."""
    with tracer().start_as_current_span(
        f"{EXECUTE_TOOL} {tool}",
        kind=SpanKind.INTERNAL,
        attributes={
            "gen_ai.operation.name": EXECUTE_TOOL,
            "gen_ai.tool.name": tool,
            "gen_ai.tool.call.id": call_id,
        },
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


def mark_error(span: Span, error_type: str, message: str) -> None:
    """Set ``error.type`` and an error status, as the conventions ask."""
    if span.is_recording():
        span.set_attribute("error.type", error_type)
        span.set_status(Status(StatusCode.ERROR, message[:256]))


def current_trace_id() -> str | None:
    """The current trace id as 32 hex digits, or None when nothing is traced."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


class SpanEventListener(RuntimeListener):
    """Adds breaker transitions and cache hits as events on the current span."""

    def breaker_changed(self, breaker: str, state: str) -> None:
        span = trace.get_current_span()
        if span.is_recording():
            span.add_event(
                "circuit_breaker.transition",
                {"agent_runtime.breaker.name": breaker, "agent_runtime.breaker.state": state},
            )

    def cache_looked_up(self, cache: str, layer: str, hit: bool) -> None:
        if not hit:
            return
        span = trace.get_current_span()
        if span.is_recording():
            span.add_event("cache.hit", {"agent_runtime.cache.name": cache, "agent_runtime.cache.layer": layer})
