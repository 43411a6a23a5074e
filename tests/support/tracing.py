"""Tracing helpers for tests: a clean OTEL_* environment and spans recorded in memory.

Tests that need an SDK provider should use these instead of
``trace.set_tracer_provider`` (which works once per process): tracing goes
through the switch in ``exporters.tracer_switch`` and is shut down after
each test.
"""

from __future__ import annotations

import os

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from exporters.otlp import TracingHandle, configure_tracing_from_env, current_handle
from exporters.span_export import TelemetryCounters


def shutdown_tracing() -> None:
    """Shut down this process's tracing set-up, if any (bounded)."""
    handle = current_handle()
    if handle is not None:
        handle.shutdown(timeout_seconds=2.0)


def clean_otel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No OTEL_* variable from the developer's shell, quick batches, and no tracing set-up left over."""
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    # Quick batches: tests should not wait for the 5 s default schedule.
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    shutdown_tracing()


def record_spans(metrics: TelemetryCounters | None = None) -> tuple[TracingHandle, InMemorySpanExporter]:
    """Tracing to memory through the same bounded queue and counting as OTLP."""
    exporter = InMemorySpanExporter()
    handle = configure_tracing_from_env(metrics, span_exporter=exporter)
    assert handle is not None, "tracing is already configured, or OTEL_SDK_DISABLED is set"
    return handle, exporter
