"""call_with_retry: what is retried, tenacity's backoff/jitter and attempt numbering, tenacity off the fast path."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
import tenacity

from agent_runtime.config.models import RetryPolicy
from agent_runtime.errors import CircuitOpenError, RetryableToolError, ToolError, ToolTimeoutError
from agent_runtime.tools.retry import call_with_retry, is_retryable, retrying_for, wait_strategy
from tests.unit.tools.conftest import RecordingListener

FAST = RetryPolicy(max_attempts=4, initial_backoff_seconds=0.0, jitter_seconds=0.0)


def failing(errors: list[BaseException], result: Any = "ok") -> tuple[Callable[[], Any], list[int]]:
    """A function that raises ``errors`` in turn, then returns ``result``; and its call log."""
    calls: list[int] = []

    def func() -> Any:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return result

    return func, calls


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (RetryableToolError("503"), True),
        (ToolTimeoutError("slow"), True),
        (TimeoutError("socket"), True),
        (ConnectionResetError("reset"), True),
        (ToolError("bad input"), False),
        (CircuitOpenError("open"), False),
        (ValueError("bug"), False),
    ],
)
def test_which_errors_are_retryable(error: Exception, retryable: bool) -> None:
    assert is_retryable(error) is retryable


def test_non_retryable_errors_are_not_retried(listener: RecordingListener) -> None:
    func, calls = failing([ToolError("bad input")])

    attempt = call_with_retry(func, FAST, tool="search", listener=listener)

    assert len(calls) == 1
    assert attempt.attempts == 1
    assert isinstance(attempt.error, ToolError)
    assert listener.events == []


def test_retryable_errors_are_retried_until_success(listener: RecordingListener) -> None:
    func, calls = failing([RetryableToolError("a"), ConnectionError("b")], result=7)

    attempt = call_with_retry(func, FAST, tool="search", listener=listener)

    assert (attempt.ok, attempt.value, attempt.attempts) == (True, 7, 3)
    assert len(calls) == 3
    assert listener.of("tool_retried") == [("search",), ("search",)]


def test_spent_retries_return_the_last_error(listener: RecordingListener) -> None:
    errors: list[BaseException] = [RetryableToolError(f"try {n}") for n in range(10)]
    func, calls = failing(errors)

    attempt = call_with_retry(func, FAST, tool="search", listener=listener)

    assert attempt.attempts == 4
    assert len(calls) == 4
    assert str(attempt.error) == "try 3"
    assert len(listener.of("tool_retried")) == 3


def test_a_non_retryable_error_on_a_retry_stops_at_once() -> None:
    func, calls = failing([RetryableToolError("flaky"), ValueError("bug"), RetryableToolError("x")])

    attempt = call_with_retry(func, FAST, tool="search")

    assert isinstance(attempt.error, ValueError)
    assert attempt.attempts == 2
    assert len(calls) == 2


def test_single_attempt_policy_never_retries() -> None:
    func, calls = failing([RetryableToolError("flaky")])
    attempt = call_with_retry(func, RetryPolicy(max_attempts=1), tool="search")
    assert (attempt.attempts, len(calls)) == (1, 1)


POLICY = RetryPolicy(
    max_attempts=6,
    initial_backoff_seconds=0.1,
    multiplier=3.0,
    max_backoff_seconds=1.0,
    jitter_seconds=0.05,
)
#: The waits before retry 1, 2, 3, 4, 5 without jitter: initial, initial * m, initial * m**2, then capped.
BASES = [0.1, 0.3, 0.9, 1.0, 1.0]


def test_waits_back_off_exponentially_with_bounded_jitter() -> None:
    waits: list[float] = []
    func, _ = failing([RetryableToolError("down")] * 10)

    attempt = call_with_retry(func, POLICY, tool="search", sleep=waits.append)

    assert attempt.attempts == 6
    assert len(waits) == len(BASES)
    for wait, base in zip(waits, BASES, strict=True):
        assert base <= wait <= base + POLICY.jitter_seconds


@pytest.mark.parametrize(("random_value", "extra"), [(0.0, 0.0), (0.5, 0.025), (1.0, 0.05)])
def test_jitter_spans_zero_to_jitter_seconds(
    monkeypatch: pytest.MonkeyPatch, random_value: float, extra: float
) -> None:
    monkeypatch.setattr(random, "random", lambda: random_value)  # tenacity's wait_random draws from it
    waits: list[float] = []
    func, _ = failing([RetryableToolError("down")] * 10)

    call_with_retry(func, POLICY, tool="search", sleep=waits.append)

    assert waits == pytest.approx([base + extra for base in BASES])


@pytest.mark.parametrize(("retry_number", "base"), list(enumerate(BASES, start=1)))
def test_the_wait_strategy_is_numbered_by_tenacity_attempts(
    monkeypatch: pytest.MonkeyPatch, retry_number: int, base: float
) -> None:
    """tenacity's attempt ``n`` failed, so the wait is the one before retry ``n``."""
    monkeypatch.setattr(random, "random", lambda: 0.0)
    state = tenacity.RetryCallState(retry_object=retrying_for(POLICY), fn=None, args=(), kwargs={})
    state.attempt_number = retry_number

    assert wait_strategy(POLICY)(state) == pytest.approx(base)
    assert retrying_for(POLICY).wait(state) == pytest.approx(base)


def test_each_retry_is_reported_before_its_wait() -> None:
    log: list[Any] = []

    class Listener(RecordingListener):
        def tool_retried(self, tool: str) -> None:
            log.append(("retried", tool))

    func, _ = failing([RetryableToolError("a"), RetryableToolError("b")])
    attempt = call_with_retry(func, FAST, tool="search", listener=Listener(), sleep=lambda s: log.append("sleep"))

    assert attempt.attempts == 3
    assert log == [("retried", "search"), "sleep", ("retried", "search"), "sleep"]


def test_one_retrying_per_policy_is_built_and_reused() -> None:
    same = RetryPolicy(**{field: getattr(POLICY, field) for field in POLICY.__dataclass_fields__})
    assert retrying_for(same) is retrying_for(POLICY)
    assert retrying_for(FAST) is not retrying_for(POLICY)


def test_nested_retried_calls_keep_their_own_attempt_counts() -> None:
    inner_attempts: list[int] = []
    inner, _ = failing([RetryableToolError("inner")])

    def outer_call() -> Any:
        inner_attempts.append(call_with_retry(inner, FAST, tool="inner").attempts)
        return outer()

    outer, _ = failing([RetryableToolError("a"), RetryableToolError("b")])

    attempt = call_with_retry(outer_call, FAST, tool="outer")

    assert (attempt.value, attempt.attempts) == ("ok", 3)
    assert inner_attempts == [2, 1, 1]


def test_the_first_attempt_builds_no_tenacity_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("tenacity used on the fast path")

    retrying_for.cache_clear()
    monkeypatch.setattr(tenacity, "Retrying", forbidden)
    monkeypatch.setattr(tenacity, "stop_after_attempt", forbidden)
    monkeypatch.setattr(tenacity, "retry_if_exception", forbidden)
    monkeypatch.setattr(tenacity, "wait_exponential", forbidden)
    policy = RetryPolicy(max_attempts=5)

    assert call_with_retry(lambda: "fast", policy, tool="search").value == "fast"
    func, _ = failing([ToolError("bad input")])
    assert isinstance(call_with_retry(func, policy, tool="search").error, ToolError)

    # The patch is effective: a retryable failure does reach tenacity.
    func, _ = failing([RetryableToolError("flaky")])
    with pytest.raises(AssertionError, match="fast path"):
        call_with_retry(func, policy, tool="search", sleep=lambda _: None)
    retrying_for.cache_clear()
