"""Pytest fixtures for telemetry tests; load with ``pytest_plugins = ["tests.support.telemetry_fixtures"]``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.otlp_receiver import OtlpReceiver
from tests.support.tracing import clean_otel_env, shutdown_tracing


@pytest.fixture()
def otlp_receiver() -> Iterator[OtlpReceiver]:
    """A started OTLP/HTTP receiver on a free loopback port."""
    with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture()
def otel_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """A clean OTEL_* environment; tracing shut down before and after the test."""
    clean_otel_env(monkeypatch)
    yield monkeypatch
    shutdown_tracing()
