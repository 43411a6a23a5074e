"""Span export that never blocks a task: a bounded queue, counted drops, one log line.

``BoundedBatchSpanProcessor`` replaces the SDK's ``BatchSpanProcessor``:

- the SDK processor drops spans silently when its queue is full (it evicts
  the *oldest* span and only logs), its ``force_flush`` ignores the timeout
  and its queue length is private state. Counting every drop reliably needs
  the queue in our hands, so this processor owns a small one;
- ``on_end`` on the task's thread is a length check and an append, nothing
  else; encoding and network I/O happen on one background thread;
- ``force_flush`` and ``shutdown`` are bounded by a timeout, whatever the
  collector does.

``CountingSpanExporter`` wraps the OTLP exporter: a failed batch counts one
export failure and all of its spans as dropped. ``ExportHealth`` holds the
counters and logs a failure once per outage (and once on recovery), instead
of the exporter's own line per batch and per retry.

Example::

    >>> from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    >>> health = ExportHealth(None, "memory")
    >>> processor = BoundedBatchSpanProcessor(CountingSpanExporter(InMemorySpanExporter(), health))
    >>> processor.shutdown()
    >>> health.stats().dropped_spans
    0
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

_log = logging.getLogger(__name__)

# Loggers the OTLP exporters report every failed batch and every retry on.
EXPORTER_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.common.http",
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
)


class TelemetryCounters(Protocol):
    """Where drops and failures are counted (``PrometheusListener`` implements it)."""

    def spans_dropped(self, count: int) -> None:
        """Count ``count`` spans that will never reach the collector."""

    def export_failed(self, signal: str) -> None:
        """Count one failed export attempt of ``signal``."""


@dataclass(frozen=True)
class ExportStats:
    """Totals since tracing was configured (also exported as Prometheus counters)."""

    exported_spans: int
    dropped_spans: int
    failed_exports: int


class ExportHealth:
    """Counts exported, dropped and failed spans; logs each outage once, and its end once.

    Spans the queue had no room for are counted at once, but their log line
    waits for the outcome of the export in progress (``settle``): when the
    collector is failing, the failure line already says spans are dropped,
    so an outage is one line, not two. A full queue while exports succeed
    (the collector cannot keep up) is logged once per process.
    """

    def __init__(self, counters: TelemetryCounters | None, destination: str) -> None:
        self._counters = counters
        self._destination = destination
        self._lock = threading.Lock()
        self._exported = 0
        self._dropped = 0
        self._failed = 0
        self._failing = False
        self._discard_reason: str | None = None
        self._discard_logged = False

    def attach(self, counters: TelemetryCounters) -> None:
        """Start counting into ``counters`` (the runtime's metrics exist after tracing)."""
        self._counters = counters

    def stats(self) -> ExportStats:
        """The totals so far."""
        with self._lock:
            return ExportStats(self._exported, self._dropped, self._failed)

    def export_succeeded(self, spans: int) -> None:
        """A batch of ``spans`` reached the collector."""
        with self._lock:
            self._exported += spans
            recovered, self._failing = self._failing, False
        if recovered:
            _log.info("span export to %s recovered", self._destination)

    def export_failed(self, spans: int, reason: str) -> None:
        """A batch of ``spans`` could not be exported: all of them are dropped."""
        with self._lock:
            self._failed += 1
            self._dropped += spans
            first, self._failing = not self._failing, True
            self._discard_reason = None  # explained by this failure
        counters = self._counters
        if counters is not None:
            counters.export_failed("traces")
            counters.spans_dropped(spans)
        if first:
            _log.warning(
                "span export to %s failed (%s); spans are dropped and counted in "
                "agent_runtime_telemetry_spans_dropped_total until it recovers",
                self._destination,
                reason,
            )

    def spans_discarded(self, spans: int, why: str) -> None:
        """``spans`` never left the queue (it was full, or tracing shut down): counted now."""
        with self._lock:
            self._dropped += spans
            if self._discard_reason is None:
                self._discard_reason = why
        counters = self._counters
        if counters is not None:
            counters.spans_dropped(spans)

    def settle(self) -> None:
        """After an export round: log discards once, unless a failing collector explains them."""
        with self._lock:
            why, self._discard_reason = self._discard_reason, None
            log = why is not None and not self._failing and not self._discard_logged
            self._discard_logged = self._discard_logged or log
        if log:
            _log.warning(
                "span export queue: %s; spans are dropped and counted in "
                "agent_runtime_telemetry_spans_dropped_total (logged once)",
                why,
            )


class ExporterLogCapture(logging.Filter):
    """Keeps the OTLP exporters' per-batch warnings for the failure reason, and drops them.

    Our single line (``ExportHealth``) replaces them; debug and info records
    pass through untouched.
    """

    def __init__(self) -> None:
        super().__init__()
        self._local = threading.local()

    def install(self) -> None:
        """Attach to the exporter loggers."""
        for name in EXPORTER_LOGGERS:
            logging.getLogger(name).addFilter(self)

    def uninstall(self) -> None:
        """Detach from the exporter loggers."""
        for name in EXPORTER_LOGGERS:
            logging.getLogger(name).removeFilter(self)

    def begin(self) -> None:
        """Forget the reasons noted during the previous export on this thread."""
        self._local.reasons = []

    def note(self, reason: str) -> None:
        """Remember ``reason`` for the export running on this thread."""
        reasons: list[str] | None = getattr(self._local, "reasons", None)
        if reasons is None:
            self._local.reasons = reasons = []
        reasons.append(reason)

    def reason(self) -> str | None:
        """The first and the last reason noted since ``begin`` on this thread (retries in between)."""
        reasons: list[str] = getattr(self._local, "reasons", None) or []
        if not reasons:
            return None
        return reasons[0] if len(reasons) == 1 else f"{reasons[0]} ... {reasons[-1]}"

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        self.note(record.getMessage())
        return False


class CountingSpanExporter(SpanExporter):
    """Delegates to ``inner``; a failed or raising export counts as a failure of the whole batch."""

    def __init__(self, inner: SpanExporter, health: ExportHealth, capture: ExporterLogCapture | None = None) -> None:
        self._inner = inner
        self._health = health
        self._capture = capture or ExporterLogCapture()

    @property
    def health(self) -> ExportHealth:
        """Where this exporter counts its batches."""
        return self._health

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self._capture.begin()
        try:
            result = self._inner.export(spans)
        except Exception as exc:  # an exporter bug must not kill the export thread
            self._capture.note(f"{type(exc).__name__}: {exc}")
            result = SpanExportResult.FAILURE
        if result is SpanExportResult.SUCCESS:
            self._health.export_succeeded(len(spans))
        else:
            self._health.export_failed(len(spans), self._capture.reason() or "the exporter reported a failure")
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


class BoundedBatchSpanProcessor(SpanProcessor):
    """Queues ended, sampled spans (at most ``max_queue_size``) and exports them in batches.

    A span that finds the queue full is dropped and counted at once; the
    queue is never waited on. Batches leave every ``schedule_delay_seconds``,
    or as soon as a full batch is queued.
    """

    def __init__(
        self,
        exporter: CountingSpanExporter,
        *,
        max_queue_size: int = 2048,
        max_export_batch_size: int = 512,
        schedule_delay_seconds: float = 5.0,
        shutdown_timeout_seconds: float = 5.0,
    ) -> None:
        if max_queue_size < 1 or not 1 <= max_export_batch_size <= max_queue_size:
            raise ValueError(
                f"need 1 <= max_export_batch_size ({max_export_batch_size}) <= max_queue_size ({max_queue_size})"
            )
        self._exporter = exporter
        self._health = exporter.health
        self._max_queue_size = max_queue_size
        self._batch_size = max_export_batch_size
        self._delay = schedule_delay_seconds
        self.shutdown_timeout_seconds = shutdown_timeout_seconds
        # No maxlen: a full deque would evict the oldest span silently. The
        # length check in on_end is racy by at most one span per concurrent
        # thread, which keeps the queue bounded and every drop counted.
        self._queue: deque[ReadableSpan] = deque()
        self._wake = threading.Event()
        self._waiters_lock = threading.Lock()
        self._flush_waiters: list[threading.Event] = []
        self._stopping = False
        self._abandoned = False
        self._thread = threading.Thread(target=self._run, name="agent-runtime-span-export", daemon=True)
        self._thread.start()

    @property
    def health(self) -> ExportHealth:
        """The counters this processor and its exporter report to."""
        return self._health

    @property
    def queued(self) -> int:
        """Spans waiting to be exported."""
        return len(self._queue)

    def on_end(self, span: ReadableSpan) -> None:
        context = span.context
        if context is None or not context.trace_flags.sampled:
            return
        queue = self._queue
        if self._stopping:
            self._health.spans_discarded(1, "tracing is shut down")
            return
        if len(queue) >= self._max_queue_size:
            self._health.spans_discarded(1, f"the queue is full ({self._max_queue_size} spans)")
            return
        queue.append(span)
        if len(queue) >= self._batch_size and not self._wake.is_set():
            self._wake.set()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export everything queued now; False if that took longer than the timeout."""
        if self._stopping or not self._thread.is_alive():
            return False
        done = threading.Event()
        with self._waiters_lock:
            self._flush_waiters.append(done)
        self._wake.set()
        return done.wait(max(timeout_millis, 0) / 1000)

    def shutdown(self) -> None:
        """Export what is queued within ``shutdown_timeout_seconds``; the rest is dropped and counted."""
        if self._stopping:
            return
        self._stopping = True
        self._wake.set()
        self._thread.join(self.shutdown_timeout_seconds)
        self._abandoned = True
        # Interrupts the OTLP exporter's retry backoff if an export is still running.
        self._exporter.shutdown()
        leftover = self._pop(len(self._queue))
        if leftover:
            self._health.spans_discarded(len(leftover), "tracing shut down before the queue drained")
            self._health.settle()

    def forget(self) -> None:
        """Disown the queue without exporting or counting (a forked child's inherited copy)."""
        self._stopping = True
        self._abandoned = True
        self._queue.clear()

    def _pop(self, count: int) -> list[ReadableSpan]:
        batch: list[ReadableSpan] = []
        queue = self._queue
        while len(batch) < count:
            try:
                batch.append(queue.popleft())
            except IndexError:
                break
        return batch

    def _run(self) -> None:
        # Spans of the export itself (an instrumented HTTP client) must not be traced.
        otel_context.attach(otel_context.set_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY, True))
        while True:
            self._wake.wait(self._delay)
            # Clear before reading waiters and the stop flag: a flush or stop
            # that arrives later keeps the event set for the next round.
            self._wake.clear()
            with self._waiters_lock:
                waiters, self._flush_waiters = self._flush_waiters, []
            stopping = self._stopping
            self._export_queued()
            self._health.settle()
            for waiter in waiters:
                waiter.set()
            if stopping:
                return

    def _export_queued(self) -> None:
        while self._queue and not self._abandoned:
            batch = self._pop(self._batch_size)
            if batch:
                self._exporter.export(batch)
