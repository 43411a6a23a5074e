"""Set up OpenTelemetry tracing from the standard ``OTEL_*`` environment variables.

``configure_tracing_from_env(metrics)`` installs the OpenTelemetry SDK with an
OTLP exporter (http/protobuf or grpc) behind a bounded, counting batch
processor (``exporters.span_export``). Without an OTLP endpoint, or with
``OTEL_SDK_DISABLED=true``, nothing is installed, the SDK is not even
imported, and the runtime's spans stay the API's no-op.

Honoured variables: ``OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT``,
``..._PROTOCOL``, ``..._HEADERS``, ``..._TIMEOUT`` (see
``exporters.otlp_settings``), ``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER`` and
``OTEL_TRACES_SAMPLER_ARG`` (read by the SDK's ``TracerProvider``),
``OTEL_BSP_MAX_QUEUE_SIZE``, ``OTEL_BSP_MAX_EXPORT_BATCH_SIZE``,
``OTEL_BSP_SCHEDULE_DELAY``, ``OTEL_BSP_EXPORT_TIMEOUT`` and
``OTEL_SDK_DISABLED``.

Tracing is configured once per process: a second call returns the same
handle (attaching ``metrics`` if given). After ``handle.shutdown()`` it can be
configured again, and a forked child (a gunicorn worker) forgets the handle
it inherited, whose export thread did not survive the fork.

Example::

    runtime = build_runtime()
    tracing = configure_tracing_from_env(runtime.metrics)  # None: tracing is off
    ...
    if tracing is not None:
        tracing.shutdown()  # bounded: exports what it can, counts the rest as dropped
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from typing import TYPE_CHECKING, Final

from agent_runtime._version import __version__
from exporters import tracer_switch
from exporters.otlp_settings import GRPC, OtlpSettings, QueueSettings, env_flag

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

    from exporters.span_export import BoundedBatchSpanProcessor, ExporterLogCapture, ExportStats, TelemetryCounters

_log = logging.getLogger(__name__)

DEFAULT_SERVICE_NAME: Final = "agent-runtime"
DEFAULT_SHUTDOWN_TIMEOUT_SECONDS: Final = 5.0


class TracingHandle:
    """The tracing set-up of this process: its SDK provider, queue and counters."""

    def __init__(
        self,
        provider: TracerProvider,
        processor: BoundedBatchSpanProcessor,
        capture: ExporterLogCapture,
        destination: str,
    ) -> None:
        self._provider = provider
        self._processor = processor
        self._capture = capture
        self.destination = destination
        self.pid = os.getpid()
        self._closed = False

    @property
    def provider(self) -> TracerProvider:
        """The SDK ``TracerProvider`` spans are recorded by."""
        return self._provider

    @property
    def active(self) -> bool:
        """True until ``shutdown`` (or a fork) ends this set-up."""
        return not self._closed

    def attach_metrics(self, metrics: TelemetryCounters) -> None:
        """Count drops and failures into ``metrics`` (``runtime.metrics``) from now on."""
        self._processor.health.attach(metrics)

    def stats(self) -> ExportStats:
        """Spans exported and dropped, and failed exports, since configuration."""
        return self._processor.health.stats()

    def force_flush(self, timeout_seconds: float = DEFAULT_SHUTDOWN_TIMEOUT_SECONDS) -> bool:
        """Export every queued span; False if the collector did not take them within the timeout."""
        if self._closed:
            return False
        return self._provider.force_flush(int(timeout_seconds * 1000))

    def shutdown(self, timeout_seconds: float = DEFAULT_SHUTDOWN_TIMEOUT_SECONDS) -> None:
        """Stop tracing: export what is queued within ``timeout_seconds``, drop (and count) the rest."""
        global _handle  # noqa: PLW0603 - the per-process handle
        with _lock:
            if self._closed:
                return
            self._closed = True
            if _handle is self:
                _handle = None
        atexit.unregister(self.shutdown)
        tracer_switch.deactivate(self._provider)
        self._processor.shutdown_timeout_seconds = timeout_seconds
        self._provider.shutdown()
        self._capture.uninstall()

    def _forget(self) -> None:
        """In a forked child: drop the inherited set-up without exporting or counting."""
        self._closed = True
        atexit.unregister(self.shutdown)
        self._processor.forget()
        self._capture.uninstall()


_lock = threading.Lock()
_handle: TracingHandle | None = None


def current_handle() -> TracingHandle | None:
    """The active tracing set-up of this process, if any."""
    handle = _handle
    return handle if handle is not None and handle.active else None


def configure_tracing_from_env(
    metrics: TelemetryCounters | None = None,
    *,
    span_exporter: SpanExporter | None = None,
) -> TracingHandle | None:
    """Install the SDK from ``OTEL_*`` variables; None when tracing is off.

    ``metrics`` (normally ``runtime.metrics``, a ``PrometheusListener``)
    receives ``spans_dropped`` and ``export_failed("traces")``.
    ``span_exporter`` replaces the OTLP exporter (tests, benchmarks): spans
    still go through the same queue and counting, and no endpoint is needed.
    """
    global _handle  # noqa: PLW0603 - the per-process handle
    with _lock:
        existing = _handle
        if existing is not None and existing.active:
            if metrics is not None:
                existing.attach_metrics(metrics)
            return existing
        if env_flag(os.environ, "OTEL_SDK_DISABLED"):
            _log.info("OTEL_SDK_DISABLED=true: tracing is off")
            return None
        settings = OtlpSettings.from_env() if span_exporter is None else None
        if span_exporter is None and settings is None:
            _log.debug("no OTLP endpoint configured: tracing is off")
            return None
        if tracer_switch.install() is None:
            return None
        try:
            exporter = span_exporter if span_exporter is not None else _otlp_exporter(settings)  # type: ignore[arg-type]
        except ImportError as exc:
            _log.error("OTLP endpoint set but the OpenTelemetry SDK is missing (pip install '.[otlp]'): %s", exc)
            return None
        destination = settings.endpoint if settings is not None else type(exporter).__name__
        _handle = _build(exporter, metrics, destination)
        return _handle


def _otlp_exporter(settings: OtlpSettings) -> SpanExporter:
    """The SDK's OTLP span exporter for ``settings`` (imported only when used)."""
    headers = dict(settings.headers) or None
    if settings.protocol == GRPC:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter

        return GrpcSpanExporter(endpoint=settings.endpoint, headers=headers, timeout=settings.timeout_seconds)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter

    return HttpSpanExporter(endpoint=settings.endpoint, headers=headers, timeout=settings.timeout_seconds)


def _build(exporter: SpanExporter, metrics: TelemetryCounters | None, destination: str) -> TracingHandle:
    from opentelemetry.sdk.resources import OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import TracerProvider

    from exporters.root_sampling import PrimedIdGenerator, RootSampling
    from exporters.span_export import BoundedBatchSpanProcessor, CountingSpanExporter, ExporterLogCapture, ExportHealth

    queue = QueueSettings.from_env()
    capture = ExporterLogCapture()
    capture.install()
    processor = BoundedBatchSpanProcessor(
        CountingSpanExporter(exporter, ExportHealth(metrics, destination), capture),
        max_queue_size=queue.max_queue_size,
        max_export_batch_size=queue.max_export_batch_size,
        schedule_delay_seconds=queue.schedule_delay_seconds,
        shutdown_timeout_seconds=DEFAULT_SHUTDOWN_TIMEOUT_SECONDS,
    )
    # OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES win; ours only fill the gaps
    # (the SDK would otherwise call the service "unknown_service").
    detected = OTELResourceDetector().detect().attributes
    resource = Resource.create({"service.name": DEFAULT_SERVICE_NAME, "service.version": __version__, **detected})
    # sampler=None: the SDK reads OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG. Primable ids: a ratio
    # sampler's dropped roots are answered without the SDK, its kept ones get the id they were judged on.
    provider = TracerProvider(resource=resource, id_generator=PrimedIdGenerator(), shutdown_on_exit=False)
    provider.add_span_processor(processor)
    handle = TracingHandle(provider, processor, capture, destination)
    tracer_switch.activate(provider, RootSampling.of(provider))
    atexit.register(handle.shutdown)
    _log.info(
        "tracing: exporting spans to %s (sampler %s, queue %d)",
        destination,
        provider.sampler.get_description(),
        queue.max_queue_size,
    )
    return handle


def _forget_inherited() -> None:
    """After fork, in the child: the parent's export thread is gone, so is its handle."""
    global _handle, _lock  # noqa: PLW0603 - reset per-process state in the child
    _lock = threading.Lock()  # another thread may have held it at fork time
    tracer_switch.reset_after_fork()
    handle, _handle = _handle, None
    if handle is not None:
        handle._forget()


os.register_at_fork(after_in_child=_forget_inherited)
