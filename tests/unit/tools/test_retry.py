"""call_with_retry: what is retried, backoff/jitter bounds, tenacity off the fast path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import tenacity

from agent_runtime.config.models import RetryPolicy
from agent_runtime.errors import CircuitOpenError, RetryableToolError, ToolError, ToolTimeoutError
from agent_runtime.tools.retry import backoff_seconds, call_with_retry, is_retryable
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


def test_waits_back_off_exponentially_with_bounded_jitter() -> None:
    policy = RetryPolicy(
        max_attempts=6,
        initial_backoff_seconds=0.1,
        multiplier=2.0,
        max_backoff_seconds=0.5,
        jitter_seconds=0.05,
    )
    waits: list[float] = []
    func, _ = failing([RetryableToolError("down")] * 10)

    attempt = call_with_retry(func, policy, tool="search", sleep=waits.append)

    bases = [0.1, 0.2, 0.4, 0.5, 0.5]
    assert attempt.attempts == 6
    assert len(waits) == len(bases)
    for wait, base in zip(waits, bases, strict=True):
        assert base <= wait <= base + 0.05
    assert [backoff_seconds(policy, n) for n in range(1, 6)] == pytest.approx(bases)


@pytest.mark.parametrize(("rng_value", "extra"), [(0.0, 0.0), (1.0, 0.05)])
def test_jitter_spans_zero_to_jitter_seconds(rng_value: float, extra: float) -> None:
    policy = RetryPolicy(max_attempts=3, initial_backoff_seconds=0.1, multiplier=3.0, jitter_seconds=0.05)
    waits: list[float] = []
    func, _ = failing([RetryableToolError("down")] * 3)

    call_with_retry(func, policy, tool="search", sleep=waits.append, rng=lambda: rng_value)

    assert waits == pytest.approx([0.1 + extra, 0.3 + extra])


def test_the_first_attempt_builds_no_tenacity_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("tenacity used on the fast path")

    monkeypatch.setattr(tenacity, "Retrying", forbidden)
    monkeypatch.setattr(tenacity, "stop_after_attempt", forbidden)
    monkeypatch.setattr(tenacity, "retry_if_exception", forbidden)
    policy = RetryPolicy(max_attempts=5)

    assert call_with_retry(lambda: "fast", policy, tool="search").value == "fast"
    func, _ = failing([ToolError("bad input")])
    assert isinstance(call_with_retry(func, policy, tool="search").error, ToolError)

    # The patch is effective: a retryable failure does reach tenacity.
    func, _ = failing([RetryableToolError("flaky")])
    with pytest.raises(AssertionError, match="fast path"):
        call_with_retry(func, policy, tool="search", sleep=lambda _: None)
