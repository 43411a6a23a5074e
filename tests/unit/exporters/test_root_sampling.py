"""Dropped root spans answered without the SDK: the same spans, the same sampling ratio."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
    TraceIdRatioBased,
)

from exporters import tracer_switch
from exporters.root_sampling import PrimedIdGenerator, RootSampling


class SeededIds(IdGenerator):
    """Random-looking ids from a seed: two generators with one seed hand out the same sequence."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)

    def generate_trace_id(self) -> int:
        return self._random.getrandbits(128)

    def generate_span_id(self) -> int:
        return self._random.getrandbits(64)

    def is_trace_id_random(self) -> bool:
        return True


def _primed(sampler: Sampler, seed: int = 7) -> tuple[TracerProvider, RootSampling, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler, id_generator=PrimedIdGenerator(SeededIds(seed)), shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    roots = RootSampling.of(provider)
    assert roots is not None
    return provider, roots, exporter


@pytest.fixture()
def switched() -> Iterator[tuple[trace.Tracer, InMemorySpanExporter]]:
    """The global switch on a primed provider at 25%, as ``exporters.otlp`` sets it up."""
    provider, roots, exporter = _primed(ParentBasedTraceIdRatio(0.25))
    tracer_switch.activate(provider, roots)
    try:
        yield trace.get_tracer("root-sampling-test"), exporter
    finally:
        tracer_switch.deactivate(provider)


def _described(span: trace.Span) -> tuple[bool, int, int, int, bool]:
    context = span.get_span_context()
    return span.is_recording(), context.trace_id, context.span_id, context.trace_flags, context.is_remote


@pytest.mark.parametrize(
    "sampler", [ParentBasedTraceIdRatio(0.3), TraceIdRatioBased(0.3), ParentBased(TraceIdRatioBased(0.3))]
)
def test_every_root_is_the_span_the_sdk_alone_would_start(sampler: Sampler) -> None:
    provider, roots, _ = _primed(sampler)
    tracer = provider.get_tracer("ours")
    alone = TracerProvider(sampler=sampler, id_generator=SeededIds(7), shutdown_on_exit=False).get_tracer("sdk")
    ours, theirs = [], []
    for _ in range(300):
        span = roots.start(None) or tracer.start_span("task")
        ours.append(_described(span))
        theirs.append(_described(alone.start_span("task")))
    assert ours == theirs
    kept = sum(recording for recording, *_ in ours)
    assert 0 < kept < 300  # both kinds of root compared


def test_the_ratio_holds_through_the_switch(switched: tuple[trace.Tracer, InMemorySpanExporter]) -> None:
    tracer, exporter = switched
    for _ in range(20_000):
        tracer.start_span("task").end()
    # 25% +- 0.6 points is 8 standard deviations; judging kept roots twice would give 6.25%.
    assert abs(len(exporter.get_finished_spans()) / 20_000 - 0.25) < 0.006


def test_children_and_linked_spans_are_the_sdks(switched: tuple[trace.Tracer, InMemorySpanExporter]) -> None:
    tracer, exporter = switched
    sampled_parent = trace.set_span_in_context(
        trace.NonRecordingSpan(trace.SpanContext(1, 2, is_remote=True, trace_flags=trace.TraceFlags(1)))
    )
    child = tracer.start_span("child", context=sampled_parent)
    assert child.is_recording() and child.get_span_context().trace_id == 1
    unsampled_parent = trace.set_span_in_context(
        trace.NonRecordingSpan(trace.SpanContext(3, 4, is_remote=True, trace_flags=trace.TraceFlags(0)))
    )
    assert tracer.start_span("child", context=unsampled_parent).get_span_context().trace_id == 3
    link = trace.Link(trace.SpanContext(5, 6, is_remote=True))
    linked = [tracer.start_span("linked", links=[link]) for _ in range(200)]
    recorded = [span for span in linked if span.is_recording()]
    assert 0 < len(recorded) < 200
    for span in recorded:
        span.end()
    assert {tuple(link.context.trace_id for link in span.links) for span in exporter.get_finished_spans()} == {(5,)}


@pytest.mark.parametrize(
    ("sampler", "primed"),
    [
        (ALWAYS_ON, True),
        (ParentBased(ALWAYS_ON), True),
        (ParentBasedTraceIdRatio(0.1), False),  # ids the SDK makes itself cannot be primed
    ],
)
def test_other_samplers_and_generators_are_left_to_the_sdk(sampler: Sampler, primed: bool) -> None:
    ids = PrimedIdGenerator() if primed else SeededIds(1)
    assert RootSampling.of(TracerProvider(sampler=sampler, id_generator=ids, shutdown_on_exit=False)) is None


def test_a_primed_id_is_handed_out_once_and_only_to_its_thread() -> None:
    ids = PrimedIdGenerator(SeededIds(3))
    ids.prime(42)
    elsewhere: list[int] = []
    other = threading.Thread(target=lambda: elsewhere.append(ids.generate_trace_id()))
    other.start()
    other.join()
    assert elsewhere != [42]
    assert ids.generate_trace_id() == 42
    assert ids.generate_trace_id() != 42
    assert ids.fresh_trace_id() != 42
