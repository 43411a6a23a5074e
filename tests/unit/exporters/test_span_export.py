"""The bounded, counting span export path: drops counted, failures logged once, everything bounded."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, Sampler

from exporters.span_export import (
    BoundedBatchSpanProcessor,
    CountingSpanExporter,
    ExporterLogCapture,
    ExportHealth,
)

OTLP_HTTP_LOGGER = "opentelemetry.exporter.otlp.proto.http.trace_exporter"


class Counters:
    """Stands in for PrometheusListener's spans_dropped / export_failed."""

    def __init__(self) -> None:
        self.dropped = 0
        self.failures: list[str] = []

    def spans_dropped(self, count: int) -> None:
        self.dropped += count

    def export_failed(self, signal: str) -> None:
        self.failures.append(signal)


class GateExporter(SpanExporter):
    """Blocks in ``export`` while the gate is closed; answers ``result`` or raises ``error``."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.exported: list[str] = []
        self.result = SpanExportResult.SUCCESS
        self.error: Exception | None = None
        self.log_on_failure: str | None = None
        self.shut_down = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.entered.set()
        self.gate.wait(10)
        if self.error is not None:
            raise self.error
        if self.result is SpanExportResult.SUCCESS:
            self.exported.extend(span.name for span in spans)
        elif self.log_on_failure:
            logging.getLogger(OTLP_HTTP_LOGGER).error(self.log_on_failure)
        return self.result

    def shutdown(self) -> None:
        self.shut_down = True
        self.gate.set()


class Harness:
    def __init__(self, queue: int = 2048, batch: int = 512, sampler: Sampler | None = None) -> None:
        self.counters = Counters()
        self.exporter = GateExporter()
        self.health = ExportHealth(self.counters, "test-collector")
        self.capture = ExporterLogCapture()
        self.capture.install()
        self.processor = BoundedBatchSpanProcessor(
            CountingSpanExporter(self.exporter, self.health, self.capture),
            max_queue_size=queue,
            max_export_batch_size=batch,
            schedule_delay_seconds=60,
            shutdown_timeout_seconds=0.3,
        )
        self.provider = TracerProvider(sampler=sampler, shutdown_on_exit=False)
        self.provider.add_span_processor(self.processor)
        self.tracer = self.provider.get_tracer("test")

    def spans(self, count: int, name: str = "span") -> None:
        for _ in range(count):
            with self.tracer.start_as_current_span(name):
                pass

    def close(self) -> None:
        self.exporter.gate.set()
        self.provider.shutdown()
        self.capture.uninstall()


@pytest.fixture()
def harness() -> Iterator[Harness]:
    h = Harness()
    yield h
    h.close()


def wait_for(predicate: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def test_spans_are_exported_in_batches_on_flush(harness: Harness) -> None:
    harness.spans(3)
    assert harness.processor.force_flush(5000)
    assert harness.exporter.exported == ["span"] * 3
    assert harness.health.stats().exported_spans == 3
    assert harness.counters.dropped == 0


def test_a_full_queue_drops_and_counts_every_span_without_waiting() -> None:
    h = Harness(queue=10, batch=10)
    try:
        h.exporter.gate.clear()
        h.spans(10)  # a full batch wakes the export thread, which then hangs in export
        assert h.exporter.entered.wait(5)
        wait_for(lambda: h.processor.queued == 0)
        h.spans(10)  # fills the queue again
        started = time.perf_counter()
        h.spans(25)  # nowhere to go
        elapsed = time.perf_counter() - started
        assert h.counters.dropped == 25
        assert h.health.stats().dropped_spans == 25
        assert h.processor.queued == 10
        assert elapsed < 0.5, f"ending spans waited on the full queue ({elapsed:.3f}s)"
        h.exporter.gate.set()
        assert h.processor.force_flush(5000)
        assert len(h.exporter.exported) == 20
        assert h.counters.failures == []
    finally:
        h.close()


def test_failed_batches_count_failures_and_drops_and_log_once_per_outage(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.exporter.result = SpanExportResult.FAILURE
    harness.exporter.log_on_failure = "Failed to export spans batch code: 503, reason: Service Unavailable"
    with caplog.at_level(logging.DEBUG):
        for _ in range(4):
            harness.spans(2)
            assert harness.processor.force_flush(5000)
        assert harness.counters.failures == ["traces"] * 4
        assert harness.counters.dropped == 8
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
        assert warnings[0].name == "exporters.span_export"
        # The exporter's own per-batch line is replaced by ours, which carries its reason.
        assert "503" in warnings[0].getMessage()
        assert not [r for r in caplog.records if r.name == OTLP_HTTP_LOGGER]

        harness.exporter.result = SpanExportResult.SUCCESS
        harness.spans(1)
        assert harness.processor.force_flush(5000)
        assert any("recovered" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)

        harness.exporter.result = SpanExportResult.FAILURE
        harness.spans(1)
        assert harness.processor.force_flush(5000)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 2, "a new outage after a recovery is logged again"


def test_an_exporter_that_raises_counts_as_a_failure_and_the_thread_survives(harness: Harness) -> None:
    harness.exporter.error = ConnectionError("reset by peer")
    harness.spans(2)
    assert harness.processor.force_flush(5000)
    assert harness.counters.failures == ["traces"]
    assert harness.counters.dropped == 2
    harness.exporter.error = None
    harness.spans(1)
    assert harness.processor.force_flush(5000)
    assert harness.exporter.exported == ["span"]


def test_force_flush_is_bounded_by_its_timeout(harness: Harness) -> None:
    harness.exporter.gate.clear()
    harness.spans(1)
    started = time.perf_counter()
    assert harness.processor.force_flush(200) is False
    assert time.perf_counter() - started < 1.0


def test_shutdown_is_bounded_and_counts_what_it_could_not_export(harness: Harness) -> None:
    harness.exporter.gate.clear()
    harness.spans(1)
    harness.processor.force_flush(50)  # the export thread is now stuck in export
    assert harness.exporter.entered.wait(5)
    harness.spans(4)
    started = time.perf_counter()
    harness.processor.shutdown()
    assert time.perf_counter() - started < 2.0
    assert harness.exporter.shut_down, "shutdown must reach the exporter (it interrupts OTLP retry backoff)"
    assert harness.counters.dropped >= 4
    harness.spans(2)  # after shutdown: dropped and counted, never queued
    assert harness.processor.queued == 0
    assert harness.counters.dropped >= 6


def test_unsampled_spans_are_neither_queued_nor_counted() -> None:
    h = Harness(sampler=ALWAYS_OFF)
    try:
        h.spans(5)
        assert h.processor.queued == 0
        assert h.processor.force_flush(5000)
        assert h.exporter.exported == []
        assert h.counters.dropped == 0
    finally:
        h.close()


def test_counters_can_be_attached_later() -> None:
    health = ExportHealth(None, "nowhere")
    health.export_failed(3, "down")
    counters = Counters()
    health.attach(counters)
    health.export_failed(2, "down")
    assert counters.dropped == 2
    assert health.stats().dropped_spans == 5
    assert health.stats().failed_exports == 2


def test_batch_size_cannot_exceed_queue_size() -> None:
    with pytest.raises(ValueError, match="max_export_batch_size"):
        BoundedBatchSpanProcessor(
            CountingSpanExporter(GateExporter(), ExportHealth(None, "x")), max_queue_size=4, max_export_batch_size=5
        )
