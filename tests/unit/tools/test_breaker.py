"""CircuitBreaker: trip rules, half-open probes, adaptive open time, events, concurrency."""

from __future__ import annotations

import threading
import time

import pytest

from agent_runtime.config.models import BreakerSettings
from agent_runtime.telemetry.listener import RuntimeListener
from agent_runtime.tools.breaker import CircuitBreaker
from tests.unit.tools.conftest import FakeClock, RecordingListener


def settings(**overrides: float | int | bool) -> BreakerSettings:
    base: dict[str, float | int | bool] = {
        "failure_rate_threshold": 0.5,
        "window_size": 10,
        "minimum_calls": 6,
        "consecutive_failures": 100,
        "open_seconds": 1.0,
        "max_open_seconds": 3.0,
        "backoff_multiplier": 2.0,
        "half_open_max_calls": 1,
    }
    base.update(overrides)
    return BreakerSettings(**base)  # type: ignore[arg-type]


def fail(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        ticket = breaker.allow()
        assert ticket is not None
        breaker.record_failure(ticket)


def succeed(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        ticket = breaker.allow()
        assert ticket is not None
        breaker.record_success(ticket)


def trip(breaker: CircuitBreaker) -> None:
    fail(breaker, breaker.settings.minimum_calls)
    assert breaker.state == "open"


def test_failure_rate_needs_the_minimum_number_of_calls() -> None:
    breaker = CircuitBreaker("search", settings())
    fail(breaker, 5)  # 100 % failures, but only 5 of the 6 calls needed
    assert breaker.state == "closed"
    fail(breaker)
    assert breaker.state == "open"


def test_failure_rate_is_measured_over_the_sliding_window() -> None:
    breaker = CircuitBreaker("search", settings(window_size=4, minimum_calls=4))
    succeed(breaker, 10)
    for _ in range(3):  # one failure in every four calls: 25 %
        fail(breaker)
        succeed(breaker, 3)
    fail(breaker)  # last four: S S S F
    assert breaker.state == "closed"
    fail(breaker)  # last four: S S F F -> 50 %
    assert breaker.state == "open"


def test_successes_keep_the_rate_below_the_threshold() -> None:
    breaker = CircuitBreaker("search", settings(failure_rate_threshold=0.6))
    for _ in range(10):
        fail(breaker)
        succeed(breaker)
    assert breaker.state == "closed"
    assert breaker.snapshot()["failure_rate"] == 0.5


def test_consecutive_failures_trip_regardless_of_rate() -> None:
    breaker = CircuitBreaker("search", settings(consecutive_failures=3, minimum_calls=100))
    fail(breaker, 2)
    succeed(breaker)
    fail(breaker, 2)
    assert breaker.state == "closed"
    fail(breaker)
    assert breaker.state == "open"
    assert breaker.allow() is None


def test_half_open_admits_limited_probes_and_a_success_closes(clock: FakeClock) -> None:
    breaker = CircuitBreaker("search", settings(half_open_max_calls=2), clock=clock)
    trip(breaker)
    clock.advance(0.99)
    assert breaker.allow() is None

    clock.advance(0.01)
    assert breaker.state == "half_open"
    first, second = breaker.allow(), breaker.allow()
    assert first is not None
    assert second is not None
    assert breaker.allow() is None  # only two probes at a time

    breaker.record_success(first)
    assert breaker.state == "half_open"  # needs both probes to succeed
    breaker.record_success(second)
    assert breaker.state == "closed"


def test_failed_probes_back_off_the_open_time_up_to_the_cap(clock: FakeClock) -> None:
    breaker = CircuitBreaker("search", settings(), clock=clock)
    trip(breaker)
    opened_for = []
    for _ in range(3):
        opened_for.append(breaker.retry_after_seconds())
        clock.advance(opened_for[-1])
        fail(breaker)  # the half-open probe fails
        assert breaker.state == "open"
    opened_for.append(breaker.retry_after_seconds())

    assert opened_for == pytest.approx([1.0, 2.0, 3.0, 3.0])

    clock.advance(3.0)
    succeed(breaker)  # probe succeeds: closed, open time reset
    assert breaker.state == "closed"
    trip(breaker)
    assert breaker.retry_after_seconds() == pytest.approx(1.0)


def test_every_transition_is_reported(listener: RecordingListener, clock: FakeClock) -> None:
    breaker = CircuitBreaker("search", settings(), listener, clock=clock)
    trip(breaker)
    clock.advance(1)
    fail(breaker)
    clock.advance(2)
    succeed(breaker)
    trip(breaker)
    breaker.reset()

    assert listener.of("breaker_changed") == [
        ("search", "open"),
        ("search", "half_open"),
        ("search", "open"),
        ("search", "half_open"),
        ("search", "closed"),
        ("search", "open"),
        ("search", "closed"),
    ]
    assert breaker.snapshot()["transitions"] == 7


def test_outcomes_of_calls_admitted_before_a_transition_are_ignored(clock: FakeClock) -> None:
    breaker = CircuitBreaker("search", settings(), clock=clock)
    slow = breaker.allow()
    assert slow is not None
    trip(breaker)
    clock.advance(1)
    assert breaker.state == "half_open"

    breaker.record_success(slow)  # started while closed: not a probe
    assert breaker.state == "half_open"
    breaker.record_failure(slow)
    assert breaker.state == "half_open"


def test_reset_closes_and_forgets_history(clock: FakeClock) -> None:
    breaker = CircuitBreaker("search", settings(), clock=clock)
    trip(breaker)
    clock.advance(1)
    fail(breaker)  # open time backed off to 2 s
    breaker.reset()

    assert breaker.state == "closed"
    assert breaker.snapshot()["calls_in_window"] == 0
    trip(breaker)
    assert breaker.retry_after_seconds() == pytest.approx(1.0)


def test_snapshot_describes_the_breaker(clock: FakeClock) -> None:
    breaker = CircuitBreaker("search", settings(), clock=clock)
    fail(breaker, 2)
    succeed(breaker, 2)

    assert breaker.snapshot() == {
        "name": "search",
        "enabled": True,
        "state": "closed",
        "failure_rate": 0.5,
        "calls_in_window": 4,
        "consecutive_failures": 0,
        "open_seconds": 1.0,
        "retry_after_seconds": 0.0,
        "transitions": 0,
    }


def test_disabled_breaker_never_opens(listener: RecordingListener) -> None:
    breaker = CircuitBreaker("search", settings(enabled=False, consecutive_failures=1), listener)
    fail(breaker, 50)
    assert breaker.state == "closed"
    assert listener.events == []


def test_an_open_breaker_admits_no_call_until_its_open_time_has_passed() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("search", settings(consecutive_failures=1), clock=clock)
    fail(breaker)

    assert breaker.allow() is None
    assert breaker.retry_after_seconds() == pytest.approx(1.0)
    clock.advance(1.0)
    assert breaker.allow() is not None


def test_concurrent_calls_through_a_closed_breaker_are_not_serialised() -> None:
    breaker = CircuitBreaker("slow", settings())
    threads_count, one_call = 8, 0.2
    start = threading.Barrier(threads_count + 1)
    results: list[str] = []

    def slow_tool() -> str:
        time.sleep(one_call)
        return "done"

    def worker() -> None:
        start.wait()
        ticket = breaker.allow()
        assert ticket is not None
        results.append(slow_tool())
        breaker.record_success(ticket)

    threads = [threading.Thread(target=worker) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began

    assert results == ["done"] * threads_count
    # Serialised, eight calls would take 1.6 s; in parallel about one call.
    assert elapsed < 3 * one_call


def test_an_idle_open_breaker_turns_half_open_on_time() -> None:
    settings = BreakerSettings(consecutive_failures=1, minimum_calls=1, open_seconds=0.05, max_open_seconds=1.0)
    states: list[str] = []

    class Record(RuntimeListener):
        def breaker_changed(self, breaker: str, state: str) -> None:
            states.append(state)

    breaker = CircuitBreaker("idle", settings, Record())
    ticket = breaker.allow()
    assert ticket is not None
    breaker.record_failure(ticket)
    # Only the listener is watched: reading breaker.state would itself refresh the state.
    deadline = time.monotonic() + 2.0
    while len(states) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert states == ["open", "half_open"], "no call came, yet the breaker must move on by itself"
