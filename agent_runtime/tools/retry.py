"""Retries with exponential backoff and jitter through tenacity, kept off the fast path.

Only retryable failures are retried: ``ToolError`` subclasses with
``retryable = True`` (``RetryableToolError``, ``ToolTimeoutError``) and the
built-in ``TimeoutError`` and ``ConnectionError``. Anything else fails at once.

Most calls succeed first time, so the first attempt is a plain function
call: no tenacity objects are built, no retry state is allocated (a call
through even a prebuilt ``tenacity.Retrying`` costs several microseconds).
Only after a retryable failure does ``call_with_retry`` hand the call to
tenacity: a ``Retrying`` built once per ``RetryPolicy`` (and cached) with
tenacity's own strategies::

    stop         stop_after_attempt(max_attempts)
    wait         wait_exponential(multiplier=initial_backoff_seconds, exp_base=multiplier,
                                  max=max_backoff_seconds)
                 + wait_random(0, jitter_seconds)
    retry        retry_if_exception(is_retryable)
    before_sleep the listener's tool_retried(tool)

The first failure is replayed into that loop as tenacity's attempt 1, so its
attempt numbers are the real ones: the wait before retry *n* (1 for the
first retry) is ``min(initial * multiplier ** (n - 1), max_backoff) +
uniform(0, jitter)``, and ``statistics["attempt_number"]`` is the number of
calls made.

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

import functools
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


def wait_strategy(policy: RetryPolicy) -> tenacity.wait.wait_base:
    """tenacity's wait for ``policy``: exponential backoff from ``initial_backoff_seconds``, capped, plus jitter."""
    backoff = tenacity.wait_exponential(
        multiplier=policy.initial_backoff_seconds,
        exp_base=policy.multiplier,
        max=policy.max_backoff_seconds,
    )
    return backoff + tenacity.wait_random(0, policy.jitter_seconds)


@functools.lru_cache(maxsize=256)
def retrying_for(policy: RetryPolicy) -> tenacity.Retrying:
    """The ``tenacity.Retrying`` of ``policy``, built once; ``call_with_retry`` runs a copy of it per call."""
    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.max_attempts),
        wait=wait_strategy(policy),
        retry=tenacity.retry_if_exception(is_retryable),
        reraise=True,
    )


def call_with_retry(
    func: Callable[[], T],
    policy: RetryPolicy,
    *,
    tool: str,
    listener: RuntimeListener | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Attempt[T]:
    """Call ``func`` up to ``policy.max_attempts`` times; never raises ``Exception``s.

    Each retry is reported with ``listener.tool_retried(tool)`` before its
    wait. ``sleep`` is injectable for tests.
    """
    try:
        return Attempt(func(), None, 1)
    except Exception as exc:
        if policy.max_attempts <= 1 or not is_retryable(exc):
            return Attempt(None, exc, 1)
        first_failure: Exception | None = exc

    def attempt() -> T:
        # tenacity's attempt 1 is the call already made: replay its failure.
        nonlocal first_failure
        if first_failure is not None:
            failure, first_failure = first_failure, None
            raise failure
        return func()

    events = listener or RuntimeListener()
    # A copy per call, as tenacity's own decorator does: it binds this call's hooks
    # and keeps its statistics apart from any other call in this thread (nested ones).
    retrying = retrying_for(policy).copy(
        sleep=sleep,
        before_sleep=lambda state: events.tool_retried(tool),
    )
    try:
        value = retrying(attempt)
    except Exception as exc:
        return Attempt(None, exc, retrying.statistics["attempt_number"])
    return Attempt(value, None, retrying.statistics["attempt_number"])
