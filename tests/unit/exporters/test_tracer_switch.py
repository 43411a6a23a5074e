"""The global provider switch: tracers follow whichever SDK provider is active."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from exporters import tracer_switch


def _provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def test_a_cached_tracer_follows_every_switch() -> None:
    switch = tracer_switch.install()
    assert switch is not None and trace.get_tracer_provider() is switch
    cached = trace.get_tracer("cached-by-a-library")
    first, first_spans = _provider()
    second, second_spans = _provider()
    with tracer_switch.using(first):
        with cached.start_as_current_span("one"):
            pass
        with tracer_switch.using(second):
            cached.start_span("two").end()
        cached.start_span("three").end()
    with cached.start_as_current_span("after") as span:
        assert not span.is_recording()
    assert [s.name for s in first_spans.get_finished_spans()] == ["one", "three"]
    assert [s.name for s in second_spans.get_finished_spans()] == ["two"]
    assert tracer_switch.active() is None


def test_tracers_are_shared_per_scope_and_deactivate_ignores_a_stale_provider() -> None:
    switch = tracer_switch.install()
    assert switch is not None
    assert switch.get_tracer("a", "1") is switch.get_tracer("a", "1")
    assert switch.get_tracer("a", attributes={"k": "v"}) is not switch.get_tracer("a", attributes={"k": "v"})
    current, _ = _provider()
    stale, _ = _provider()
    with tracer_switch.using(current):
        tracer_switch.deactivate(stale)
        assert tracer_switch.active() is current
