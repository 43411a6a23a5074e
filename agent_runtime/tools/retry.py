"""Retries with exponential backoff and jitter, tenacity kept off the fast path.

Only retryable failures are retried: ``ToolError`` subclasses with
``retryable = True`` (``RetryableToolError``, ``ToolTimeoutError``) and the
built-in ``TimeoutError`` and ``ConnectionError``. Anything else fails at once.

Most calls succeed first time, so the first attempt is a plain function
call: no tenacity objects are built, no retry state is allocated. Only after
a retryable failure does ``call_with_retry`` wait, report the retry and hand
the remaining attempts to a ``tenacity.Retrying`` loop.

The wait before retry *n* (1 for the first retry) is::

    min(initial_backoff_seconds * multiplier ** (n - 1), max_backoff_seconds)
    + uniform(0, jitter_seconds)

Example::

    >>> from agent_runtime.config.models import RetryPolicy
    >>> from agent_runtime.errors import RetryableToolError
    >>> calls = []
    >>> def flaky() -> str:
    ...     calls.append(1)
    ...     if len(calls) < 3:
    ...         raise RetryableToolError("503")
    ...     return "ok"
    >>> policy = RetryPolicy(max_attempts=3, initial_backoff_seconds=0.001, jitter_seconds=0)
    >>> attempt = call_with_retry(flaky, policy, tool="search")
    >>> attempt.value, attempt.attempts
    ('ok', 3)
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import tenacity

from agent_runtime.config.models import RetryPolicy
from agent_runtime.errors import ToolError
from agent_runtime.telemetry.listener import RuntimeListener

T = TypeVar("T")


@dataclass(frozen=True)
class Attempt(Generic[T]):
    """How a retried call ended: its value or its last error, and how many attempts it took."""

    value: T | None
    error: Exception | None
    attempts: int

    @property
    def ok(self) -> bool:
        """True when the call eventually succeeded."""
        return self.error is None


def is_retryable(exc: BaseException) -> bool:
    """True for failures worth retrying (see the module docstring)."""
    if isinstance(exc, ToolError):
        return exc.retryable
    return isinstance(exc, TimeoutError | ConnectionError)


def backoff_seconds(policy: RetryPolicy, retry_number: int) -> float:
    """The wait before retry ``retry_number`` (1-based), without jitter."""
    return min(
        policy.initial_backoff_seconds * policy.multiplier ** (retry_number - 1),
        policy.max_backoff_seconds,
    )


def wait_seconds(policy: RetryPolicy, retry_number: int, rng: Callable[[], float] = random.random) -> float:
    """The wait before retry ``retry_number``: backoff plus up to ``jitter_seconds`` of jitter."""
    return backoff_seconds(policy, retry_number) + rng() * policy.jitter_seconds


def call_with_retry(
    func: Callable[[], T],
    policy: RetryPolicy,
    *,
    tool: str,
    listener: RuntimeListener | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random.random,
) -> Attempt[T]:
    """Call ``func`` up to ``policy.max_attempts`` times; never raises ``Exception``s.

    Each retry is reported with ``listener.tool_retried(tool)`` before its
    wait. ``sleep`` and ``rng`` are injectable for tests.
    """
    try:
        return Attempt(func(), None, 1)
    except Exception as exc:
        if policy.max_attempts <= 1 or not is_retryable(exc):
            return Attempt(None, exc, 1)

    events = listener or RuntimeListener()
    events.tool_retried(tool)
    sleep(wait_seconds(policy, 1, rng))

    attempts = 1

    def attempt() -> T:
        nonlocal attempts
        attempts += 1
        return func()

    def wait(state: tenacity.RetryCallState) -> float:
        # tenacity's attempt 1 is our attempt 2, so its n-th wait is our retry n + 1.
        return wait_seconds(policy, state.attempt_number + 1, rng)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        events.tool_retried(tool)

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.max_attempts - 1),
        wait=wait,
        retry=tenacity.retry_if_exception(is_retryable),
        before_sleep=before_sleep,
        sleep=sleep,
        reraise=True,
    )
    try:
        return Attempt(retrying(attempt), None, attempts)
    except Exception as exc:
        return Attempt(None, exc, attempts)
