"""ToolPipeline: stage order, outcomes, fallbacks, cache hits, events and health."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from agent_runtime.config.models import BreakerSettings, CacheSettings, RetryPolicy, ToolSpec
from agent_runtime.errors import (
    CircuitOpenError,
    DependencyError,
    RetryableToolError,
    ToolBusyError,
    ToolError,
    ToolTimeoutError,
    UnknownToolError,
)
from agent_runtime.registry import RegisteredTool, ToolRegistry
from agent_runtime.tools.cache import ToolCache
from agent_runtime.tools.pipeline import CallReport, ToolPipeline
from tests.unit.tools.conftest import FakeClock, RecordingListener

NO_WAIT = RetryPolicy(max_attempts=3, initial_backoff_seconds=0.0, jitter_seconds=0.0)
TRIP_ON_TWO = BreakerSettings(consecutive_failures=2, minimum_calls=100, open_seconds=10.0)


class Harness:
    """A registry, cache and pipeline with call counting."""

    def __init__(self, listener: RecordingListener, breaker_clock: FakeClock) -> None:
        self.registry = ToolRegistry()
        self.listener = listener
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()
        self.pipeline = ToolPipeline(
            self.registry,
            ToolCache(CacheSettings(), listener),
            listener,
            max_workers=16,  # a tool may hold 12 workers: more than any test here calls at once
            breaker_clock=breaker_clock,
        )

    def add(self, name: str, func: Callable[..., Any], **settings: Any) -> None:
        def counted(**args: Any) -> Any:
            with self._lock:
                self.calls[name] = self.calls.get(name, 0) + 1
            return func(**args)

        self.registry.register(ToolSpec(name=name, **settings), counted)

    def call(self, tool: str, **args: Any) -> CallReport:
        return self.pipeline.call(tool, args)


@pytest.fixture()
def harness(listener: RecordingListener, clock: FakeClock) -> Iterator[Harness]:
    h = Harness(listener, clock)
    yield h
    h.pipeline.close()


def boom(**args: Any) -> Any:
    raise DependencyError("upstream said no")


def refuses_input(**args: Any) -> Any:
    raise ToolError("url is not on the allow-list")


def flaky_forever(**args: Any) -> Any:
    raise RetryableToolError("503")


def sleeping(seconds: float) -> Callable[..., Any]:
    """A tool that sleeps, then returns its ``n`` argument (or "x")."""

    def tool(n: Any = "x") -> Any:
        time.sleep(seconds)
        return n

    return tool


def test_success_is_cached_and_a_hit_reports_its_layer_and_no_attempts(harness: Harness) -> None:
    harness.add("add", lambda a, b: a + b)

    first = harness.call("add", a=1, b=2)
    second = harness.call("add", b=2, a=1)

    assert (first.outcome, first.result, first.cache_layer, first.attempts) == ("success", 3, None, 1)
    assert (second.outcome, second.result, second.cache_layer, second.attempts) == ("success", 3, "l0", 0)
    assert harness.calls == {"add": 1}
    assert first.ok and second.ok


def test_the_stored_duration_is_what_a_hit_saves(harness: Harness, listener: RecordingListener) -> None:
    harness.add("slow", sleeping(0.05))
    miss = harness.call("slow")
    harness.call("slow")

    [(cache, saved)] = listener.of("cache_saved")
    assert cache == "tool"
    assert 0.05 <= saved <= miss.duration_seconds


def test_never_cache_tools_run_every_time(harness: Harness) -> None:
    harness.add("send", lambda to: f"sent to {to}", cacheable=False)
    for _ in range(3):
        assert harness.call("send", to="ops").cache_layer is None
    assert harness.calls == {"send": 3}


def test_a_slow_tool_times_out(harness: Harness) -> None:
    release = threading.Event()
    harness.add("hang", lambda: release.wait(5), timeout_seconds=0.05)

    report = harness.call("hang")
    release.set()

    assert report.outcome == "timeout"
    assert isinstance(report.error, ToolTimeoutError)
    assert report.attempts == 1
    assert 0.05 <= report.duration_seconds < 1.0


def test_timeouts_are_retried_per_attempt(harness: Harness, listener: RecordingListener) -> None:
    release = threading.Event()
    harness.add("hang", lambda: release.wait(5), timeout_seconds=0.03, retry=NO_WAIT)

    report = harness.call("hang")
    release.set()

    assert (report.outcome, report.attempts) == ("timeout", 3)
    assert listener.of("tool_retried") == [("hang",), ("hang",)]


def test_a_tool_raising_timeout_error_itself_is_an_error_not_a_pipeline_timeout(harness: Harness) -> None:
    def socket_timeout() -> Any:
        raise TimeoutError("read timed out")

    harness.add("sock", socket_timeout, timeout_seconds=5.0)

    report = harness.call("sock")

    assert report.outcome == "error"
    assert type(report.error) is TimeoutError


def test_retryable_failures_are_retried_then_succeed(harness: Harness) -> None:
    attempts: list[int] = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise RetryableToolError("503")
        return "ok"

    harness.add("flaky", flaky, retry=NO_WAIT)

    report = harness.call("flaky")

    assert (report.outcome, report.result, report.attempts) == ("success", "ok", 3)


def test_spent_retries_go_to_the_fallback(harness: Harness) -> None:
    harness.add("primary", flaky_forever, retry=NO_WAIT, fallback="backup")
    harness.add("backup", lambda q: f"backup:{q}")

    report = harness.call("primary", q="x")

    assert (report.outcome, report.result, report.attempts) == ("fallback", "backup:x", 3)
    assert isinstance(report.error, RetryableToolError)
    assert harness.calls == {"primary": 3, "backup": 1}
    assert report.ok


def test_without_a_fallback_spent_retries_are_an_error(harness: Harness) -> None:
    harness.add("primary", flaky_forever, retry=NO_WAIT)
    report = harness.call("primary")
    assert (report.outcome, report.attempts, report.ok) == ("error", 3, False)


def test_an_open_breaker_short_circuits_without_calling(harness: Harness) -> None:
    harness.add("down", boom, breaker=TRIP_ON_TWO)
    harness.call("down")
    harness.call("down")

    report = harness.call("down")

    assert (report.outcome, report.attempts) == ("short_circuited", 0)
    assert isinstance(report.error, CircuitOpenError)
    assert harness.calls == {"down": 2}


def test_an_open_breaker_uses_the_fallback(harness: Harness) -> None:
    harness.add("down", boom, breaker=TRIP_ON_TWO, fallback="backup")
    harness.add("backup", lambda: "copy", cacheable=False)
    harness.call("down")
    harness.call("down")

    report = harness.call("down")

    assert (report.outcome, report.result, report.attempts) == ("fallback", "copy", 0)
    assert isinstance(report.error, CircuitOpenError)
    assert harness.calls == {"down": 2, "backup": 3}


def test_a_failing_fallback_keeps_the_original_outcome_and_does_not_chain(harness: Harness) -> None:
    harness.add("a", boom, fallback="b")
    harness.add("b", boom, fallback="c")
    harness.add("c", lambda: "never")

    report = harness.call("a")

    assert report.outcome == "error"
    assert str(report.error) == "upstream said no"
    assert harness.calls == {"a": 1, "b": 1}


def test_a_fallback_runs_under_its_own_timeout(harness: Harness) -> None:
    release = threading.Event()
    harness.add("a", boom, fallback="b")
    harness.add("b", lambda: release.wait(5), timeout_seconds=0.03)

    report = harness.call("a")
    release.set()

    assert report.outcome == "error"
    assert report.duration_seconds < 1.0


def test_tool_called_fires_once_per_call_with_the_outcome(harness: Harness, listener: RecordingListener) -> None:
    harness.add("ok", lambda: 1)
    harness.add("bad", boom, fallback="ok")
    harness.add("worse", boom, breaker=BreakerSettings(consecutive_failures=1))

    harness.call("ok")
    harness.call("ok")
    harness.call("bad")
    harness.call("worse")
    harness.call("worse")

    assert [event[:2] for event in listener.of("tool_called")] == [
        ("ok", "success"),
        ("ok", "success"),
        ("bad", "fallback"),
        ("worse", "error"),
        ("worse", "short_circuited"),
    ]
    assert all(event[2] >= 0 for event in listener.of("tool_called"))


def test_unknown_tools_raise(harness: Harness) -> None:
    with pytest.raises(UnknownToolError, match="nope"):
        harness.call("nope")
    assert harness.pipeline.is_healthy("nope") is False


def test_health_follows_the_breakers(harness: Harness, clock: FakeClock, listener: RecordingListener) -> None:
    harness.add("down", boom, breaker=TRIP_ON_TWO)
    version = harness.pipeline.health_version
    assert harness.pipeline.is_healthy("down")

    harness.call("down")
    harness.call("down")

    assert not harness.pipeline.is_healthy("down")
    assert harness.pipeline.health_version == version + 1
    clock.advance(10.0)
    assert harness.pipeline.is_healthy("down")  # half-open: worth a probe
    assert harness.pipeline.health_version == version + 2
    assert ("down", "open") in listener.of("breaker_changed")


def test_errors_the_caller_caused_never_open_the_breaker(harness: Harness, listener: RecordingListener) -> None:
    harness.add("fetch", refuses_input, breaker=TRIP_ON_TWO)
    for _ in range(5):
        report = harness.call("fetch")
        assert report.outcome == "error" and isinstance(report.error, ToolError)
    assert harness.pipeline.is_healthy("fetch")
    assert harness.pipeline.breaker("fetch").state == "closed"
    assert not listener.of("breaker_changed")


@pytest.mark.parametrize("inline", [True, False])
def test_arguments_the_tool_does_not_take_are_the_callers_error(harness: Harness, inline: bool) -> None:
    def weather(city: str) -> str:
        if city == "nowhere":
            raise TypeError("the tool's own bug")  # raised inside: the tool's failure, as before
        return f"sunny in {city}"

    spec = ToolSpec(name="weather", inline=inline, cacheable=False, breaker=TRIP_ON_TWO, retry=NO_WAIT)
    harness.registry.register(spec, weather)
    for _ in range(3):
        report = harness.pipeline.call("weather", {"town": "Oslo"})
        assert (report.outcome, report.attempts, type(report.error)) == ("error", 1, ToolError)
        assert "bad arguments for tool 'weather': missing a required argument: 'city'" in str(report.error)
    assert harness.pipeline.breaker("weather").state == "closed"
    assert harness.pipeline.call("weather", {"city": "Paris"}).result == "sunny in Paris"
    harness.pipeline.call("weather", {"city": "nowhere"})
    harness.pipeline.call("weather", {"city": "nowhere"})
    assert harness.pipeline.breaker("weather").state == "open"


def test_a_retry_back_off_never_runs_past_the_task_deadline(harness: Harness) -> None:
    slow_back_off = RetryPolicy(max_attempts=3, initial_backoff_seconds=1.5, max_backoff_seconds=2.0, jitter_seconds=0)
    harness.add("flaky", flaky_forever, cacheable=False, retry=slow_back_off)
    started = time.monotonic()
    report = harness.pipeline.call("flaky", {}, deadline=started + 0.2)
    assert time.monotonic() - started < 0.6  # the back-off alone is 1.5 s
    assert (report.outcome, type(report.error).__name__) == ("timeout", "TaskDeadlineError")
    assert harness.calls["flaky"] == 1  # no attempt after the deadline


@pytest.mark.parametrize("inline", [True, False])
def test_no_attempt_starts_once_the_deadline_has_passed(harness: Harness, inline: bool) -> None:
    harness.add("write", lambda: "written", cacheable=False, inline=inline)
    report = harness.pipeline.call("write", {}, deadline=time.monotonic() - 0.01)
    time.sleep(0.05)  # a pool worker that had been handed the call would have run it by now
    assert (report.outcome, type(report.error).__name__) == ("timeout", "TaskDeadlineError")
    assert harness.calls.get("write", 0) == 0


def test_the_fallback_keeps_to_the_task_deadline(harness: Harness) -> None:
    harness.add("slow", sleeping(2.0), cacheable=False, fallback="backup")
    harness.add("backup", sleeping(1.5), cacheable=False)
    started = time.monotonic()
    report = harness.pipeline.call("slow", {}, deadline=started + 0.2)
    assert time.monotonic() - started < 0.6
    assert report.outcome == "timeout" and harness.calls.get("backup", 0) == 0


def test_plain_exceptions_count_as_dependency_failures(harness: Harness) -> None:
    def crash() -> None:
        raise ConnectionError("reset by peer")

    harness.add("crashy", crash, breaker=TRIP_ON_TWO)
    harness.call("crashy")
    harness.call("crashy")
    assert not harness.pipeline.is_healthy("crashy")


def test_breakers_cover_every_tool_and_follow_new_settings(harness: Harness) -> None:
    harness.add("a", lambda: 1)
    harness.add("b", lambda: 2)
    assert set(harness.pipeline.breakers()) == {"a", "b"}
    old = harness.pipeline.breaker("a")
    version = harness.pipeline.health_version

    harness.registry.configure(ToolSpec(name="a", breaker=TRIP_ON_TWO))

    assert harness.pipeline.breaker("a") is not old
    assert harness.pipeline.breaker("a").settings == TRIP_ON_TWO
    assert harness.pipeline.health_version == version + 1


def test_invalidate_and_warm_go_through_the_cache(harness: Harness) -> None:
    harness.add("search", lambda q: q.upper(), cache_tags=("web",))
    harness.call("search", q="a")
    harness.call("search", q="a")
    harness.call("search", q="b")

    assert harness.pipeline.invalidate(tag="web") == 2
    assert harness.pipeline.warm(top_n=1) == 1

    assert harness.calls == {"search": 3}
    assert harness.call("search", q="a").cache_layer == "l0"
    assert harness.call("search", q="b").cache_layer is None


def test_a_hit_on_a_warmed_entry_saves_what_the_result_cost(harness: Harness, listener: RecordingListener) -> None:
    def chat(prompt: str) -> dict[str, Any]:
        return {"text": prompt, "cost_dollars": 0.02}

    costly = RegisteredTool(ToolSpec(name="chat", ttl_seconds=300), chat, cost_of=lambda r: r["cost_dollars"])
    harness.registry.register(costly)
    harness.pipeline.call("chat", {"prompt": "b"})
    harness.pipeline.invalidate(tool="chat")
    assert harness.pipeline.warm() == 1
    assert harness.pipeline.call("chat", {"prompt": "b"}).cache_layer == "l0"
    cache, _, dollars = listener.of("cache_saved")[-1]
    assert (cache, dollars) == ("tool", 0.02)


def test_a_hung_tool_opens_its_breaker_and_leaves_the_others_theirs(harness: Harness) -> None:
    release = threading.Event()
    harness.add("hung", lambda: release.wait(10), cacheable=False, timeout_seconds=0.05, retry=NO_WAIT,
                breaker=TRIP_ON_TWO)  # fmt: skip
    harness.add("healthy", lambda: "ok", cacheable=False, timeout_seconds=1.0, breaker=TRIP_ON_TWO)
    try:
        with ThreadPoolExecutor(max_workers=16) as callers:  # as many callers as the pool has workers
            reports = list(callers.map(lambda _: harness.call("hung"), range(16)))
        # Timed out, refused as hanging (a timeout), short-circuited once open, or busy while the first wave ran.
        assert all(r.outcome in ("timeout", "short_circuited") or isinstance(r.error, ToolBusyError) for r in reports)
        assert harness.pipeline.breaker("hung").state == "open"
        assert [harness.call("healthy").result for _ in range(10)] == ["ok"] * 10
        assert harness.pipeline.breaker("healthy").state == "closed"
    finally:
        release.set()


def test_concurrent_calls_run_in_parallel(harness: Harness) -> None:
    harness.add("slow", sleeping(0.2), cacheable=False)
    results: list[CallReport] = []
    threads = [threading.Thread(target=lambda n=n: results.append(harness.call("slow", n=n))) for n in range(8)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(r.result for r in results) == list(range(8))
    assert time.perf_counter() - began < 0.6
