"""Fixtures for the tool pipeline tests: a recording listener and a fake clock."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from agent_runtime.telemetry.listener import RuntimeListener


class RecordingListener(RuntimeListener):
    """Keeps every pipeline event as a tuple ``(event, *args)``; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[tuple[Any, ...]] = []

    def _record(self, *event: Any) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, kind: str) -> list[tuple[Any, ...]]:
        """The arguments of every ``kind`` event, in order."""
        with self._lock:
            return [event[1:] for event in self.events if event[0] == kind]

    def tool_called(self, tool: str, outcome: str, seconds: float) -> None:
        self._record("tool_called", tool, outcome, seconds)

    def tool_retried(self, tool: str) -> None:
        self._record("tool_retried", tool)

    def cache_looked_up(self, cache: str, layer: str, hit: bool) -> None:
        self._record("cache_looked_up", cache, layer, hit)

    def cache_saved(self, cache: str, seconds: float, dollars: float = 0.0) -> None:
        if dollars:
            self._record("cache_saved", cache, seconds, dollars)
        else:
            self._record("cache_saved", cache, seconds)

    def breaker_changed(self, breaker: str, state: str) -> None:
        self._record("breaker_changed", breaker, state)


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture()
def listener() -> RecordingListener:
    """A fresh recording listener."""
    return RecordingListener()


@pytest.fixture()
def clock() -> FakeClock:
    """A fake clock starting at an arbitrary wall-clock-like value."""
    return FakeClock()


@pytest.fixture()
def calls_only_recovery(monkeypatch: pytest.MonkeyPatch) -> None:
    """No timed probe of a degraded layer during the test.

    For tests that break a layer with a zero back-off and recover it through
    calls: a probe in flight while they repair it would fail after the repair
    and report the layer down again.
    """
    monkeypatch.setattr("agent_runtime.tools.layer_health.MIN_PROBE_SECONDS", 3600.0)
