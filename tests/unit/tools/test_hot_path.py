"""The hot path's fast lanes: inline tools, cache peeks, the lock-free breaker and byte-bounded L0."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from agent_runtime.config.models import BreakerSettings, CacheSettings, ToolSpec
from agent_runtime.errors import DependencyError, TaskDeadlineError
from agent_runtime.registry import ToolRegistry
from agent_runtime.tools.breaker import CircuitBreaker
from agent_runtime.tools.cache import ToolCache
from agent_runtime.tools.pipeline import ToolPipeline
from tests.unit.tools.conftest import RecordingListener


@pytest.fixture()
def threads_seen() -> dict[str, str]:
    return {}


@pytest.fixture()
def pipeline(listener: RecordingListener, threads_seen: dict[str, str]) -> Iterator[ToolPipeline]:
    registry = ToolRegistry()

    def where(name: str) -> str:
        threads_seen[name] = threading.current_thread().name
        return name

    registry.register(ToolSpec("inline", inline=True, cacheable=False), lambda: where("inline"))
    registry.register(ToolSpec("pooled", cacheable=False), lambda: where("pooled"))
    registry.register(ToolSpec("cached", ttl_seconds=60), lambda q: q.upper())
    with ToolPipeline(registry, ToolCache(CacheSettings(), listener), listener) as made:
        yield made


def test_an_inline_tool_runs_in_the_calling_thread_a_pool_tool_does_not(
    pipeline: ToolPipeline, threads_seen: dict[str, str]
) -> None:
    assert pipeline.call("inline", {}).result == "inline"
    assert pipeline.call("pooled", {}).result == "pooled"
    assert threads_seen["inline"] == threading.current_thread().name
    assert threads_seen["pooled"].startswith("tool-attempt")


def test_an_inline_tool_is_not_started_after_the_task_deadline(
    pipeline: ToolPipeline, threads_seen: dict[str, str]
) -> None:
    report = pipeline.call("inline", {}, deadline=time.monotonic() - 1)
    assert isinstance(report.error, TaskDeadlineError)
    assert "inline" not in threads_seen


def test_peek_says_whether_l0_would_answer_and_reports_nothing(
    pipeline: ToolPipeline, listener: RecordingListener
) -> None:
    assert not pipeline.peek("cached", {"q": "a"})
    assert pipeline.call("cached", {"q": "a"}).cache_layer is None
    before = list(listener.events)
    assert pipeline.peek("cached", {"q": "a"})
    assert not pipeline.peek("cached", {"q": "b"})
    assert not pipeline.peek("inline", {})
    assert not pipeline.peek("no-such-tool", {})
    assert listener.events == before
    assert pipeline.call("cached", {"q": "a"}).cache_layer == "l0"


def test_call_cached_answers_an_l0_hit_as_call_does_and_a_miss_with_nothing_reported(
    pipeline: ToolPipeline, listener: RecordingListener
) -> None:
    before = list(listener.events)
    assert pipeline.call_cached("cached", {"q": "a"}) is None
    assert pipeline.call_cached("inline", {}) is None
    assert pipeline.call_cached("no-such-tool", {}) is None
    assert listener.events == before
    pipeline.call("cached", {"q": "a"})
    stats = pipeline.cache.stats()
    events_of_call = len(listener.events)
    via_call = pipeline.call("cached", {"q": "a"})
    call_events = [event[:3] for event in listener.events[events_of_call:]]
    events_of_cached = len(listener.events)
    via_cached = pipeline.call_cached("cached", {"q": "a"})
    assert via_cached is not None
    assert (via_cached.outcome, via_cached.result, via_cached.cache_layer, via_cached.attempts) == (
        via_call.outcome,
        via_call.result,
        via_call.cache_layer,
        via_call.attempts,
    )
    assert [event[:3] for event in listener.events[events_of_cached:]] == call_events
    assert pipeline.cache.stats()["hits"] == stats["hits"] + 2


def test_closed_breaker_successes_reset_the_consecutive_count_without_the_lock() -> None:
    breaker = CircuitBreaker("b", BreakerSettings(consecutive_failures=3, minimum_calls=100))
    for _ in range(5):
        for failed in (True, True, False):
            ticket = breaker.allow()
            assert ticket is not None
            if failed:
                breaker.record_failure(ticket)
            else:
                breaker.record_success(ticket)
    assert breaker.state == "closed"
    snapshot = breaker.snapshot()
    assert snapshot["consecutive_failures"] == 0
    assert snapshot["calls_in_window"] == 15
    assert snapshot["failure_rate"] == pytest.approx(10 / 15, abs=1e-4)
    for _ in range(3):
        ticket = breaker.allow()
        assert ticket is not None
        breaker.record_failure(ticket)
    assert breaker.state == "open"


def test_a_success_from_before_a_trip_does_not_touch_the_new_state() -> None:
    breaker = CircuitBreaker("b", BreakerSettings(consecutive_failures=1))
    slow = breaker.allow()
    ticket = breaker.allow()
    assert slow is not None and ticket is not None
    breaker.record_failure(ticket)
    assert breaker.state == "open"
    breaker.record_success(slow)
    assert breaker.state == "open"
    assert breaker.snapshot()["calls_in_window"] == 0


def test_concurrent_closed_calls_count_every_outcome() -> None:
    breaker = CircuitBreaker("b", BreakerSettings(window_size=10_000, minimum_calls=10_000, consecutive_failures=0))

    def work() -> None:
        for _ in range(2000):
            ticket = breaker.allow()
            assert ticket is not None
            breaker.record_success(ticket)

    workers = [threading.Thread(target=work) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert breaker.snapshot()["calls_in_window"] == 8000


def test_a_failing_tool_still_opens_its_breaker(listener: RecordingListener) -> None:
    registry = ToolRegistry()

    def down() -> None:
        raise DependencyError("down")

    registry.register(ToolSpec("down", inline=True, breaker=BreakerSettings(consecutive_failures=2)), down)
    with ToolPipeline(registry, ToolCache(CacheSettings(), listener), listener) as made:
        outcomes = [made.call("down", {}).outcome for _ in range(3)]
    assert outcomes == ["error", "error", "short_circuited"]
