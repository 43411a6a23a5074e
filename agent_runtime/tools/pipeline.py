"""The tool pipeline: cache → circuit breaker → retry → timeout → tool (docs/architecture.md).

``ToolPipeline.call(tool, args)`` runs one tool call through every stage and
returns a ``CallReport``; it never raises for a tool failure (only for an
unknown tool name, which is a programming error):

1. cache look-up: a hit returns at once (outcome ``success``, the layer
   that answered, 0 attempts);
2. the tool's circuit breaker: when open, the call is not made (outcome
   ``short_circuited``, or ``fallback`` if the tool's fallback answers);
3. retries of retryable failures (``retry.call_with_retry``, the back-off
   cut at the task's deadline), each attempt run on the pipeline's bounded
   thread pool (``tools.attempts``) and abandoned after ``timeout_seconds``
   with a ``ToolTimeoutError``; a tool registered with ``inline=True`` runs
   in the calling thread instead (no hand-off, no hard timeout: for
   in-process tools that return quickly);
4. success is stored in the cache; spent retries go to the fallback tool
   (outcome ``fallback``) or end as ``error`` / ``timeout``.

The fallback (``spec.fallback``, called with the same arguments) goes
through its own cache entry, breaker and timeout, but gets one attempt and
no fallback of its own, so fallbacks never chain or loop, and only while
the task's deadline allows. A timed-out attempt keeps its worker thread
until the tool returns (Python threads cannot be killed); the pool is
bounded, and one tool's share of it too, so a hung dependency neither grows
threads without limit nor takes the workers of the others: its attempts past
its share time out at once, without a worker, and open its breaker
(``tools.attempts``).

``listener.tool_called`` fires exactly once per ``call``, for the tool asked
for, with the outcome and the time spent in the pipeline.

Example::

    >>> from agent_runtime.config.models import CacheSettings
    >>> from agent_runtime.registry import ToolRegistry
    >>> from agent_runtime.tools.cache import CacheLookup, ToolCache
    >>> registry = ToolRegistry()
    >>> @registry.tool(timeout_seconds=1.0)
    ... def add(a: int, b: int) -> int:
    ...     return a + b
    >>> pipeline = ToolPipeline(registry, ToolCache(CacheSettings()))
    >>> pipeline.call("add", {"a": 1, "b": 2}).result
    3
    >>> report = pipeline.call("add", {"b": 2, "a": 1})
    >>> report.outcome.value, report.cache_layer, report.attempts
    ('success', 'l0', 0)
    >>> pipeline.close()
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final

from agent_runtime.config.models import ToolSpec
from agent_runtime.errors import (
    CircuitOpenError,
    ToolTimeoutError,
    UnknownToolError,
    trips_breaker,
)
from agent_runtime.registry import RegisteredTool, ToolRegistry
from agent_runtime.results import assembled
from agent_runtime.telemetry.listener import ListenerSet, RuntimeListener
from agent_runtime.tools.attempts import AttemptRunner
from agent_runtime.tools.breaker import BreakerTicket, CircuitBreaker
from agent_runtime.tools.cache import CacheLookup, ToolCache
from agent_runtime.tools.retry import Attempt, call_with_retry
from agent_runtime.vocabulary import USABLE_TOOL_OUTCOMES, ToolOutcome

logger = logging.getLogger(__name__)

SUCCESS: Final = ToolOutcome.SUCCESS
ERROR: Final = ToolOutcome.ERROR
TIMEOUT: Final = ToolOutcome.TIMEOUT
SHORT_CIRCUITED: Final = ToolOutcome.SHORT_CIRCUITED
FALLBACK: Final = ToolOutcome.FALLBACK


@dataclass(frozen=True)
class CallReport:
    """What happened to one tool call.

    ``outcome`` is one of success, error, timeout, short_circuited, fallback.
    For ``fallback``, ``result`` is the fallback's result and ``error`` the
    failure that caused it. ``cache_layer`` names the layer that answered
    (l0, l1, l2) or is None. ``attempts`` counts calls of the requested tool
    (0 on a cache hit or an open breaker).
    """

    outcome: ToolOutcome
    result: Any = None
    error: BaseException | None = None
    cache_layer: str | None = None
    attempts: int = 0
    duration_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the call produced a usable result (directly or by fallback)."""
        return self.outcome in USABLE_TOOL_OUTCOMES


class _HealthTracker(RuntimeListener):
    """Counts breaker transitions: the router's health version."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.version = 0

    def breaker_changed(self, breaker: str, state: str) -> None:
        self.bump()

    def bump(self) -> None:
        with self._lock:
            self.version += 1


class ToolPipeline:
    """Runs registered tools through cache, breaker, retries and timeouts.

    ``max_workers`` bounds the threads that run tool attempts, of which one
    tool may hold three quarters (``tools.attempts``: a hung dependency leaves
    the rest to the other tools). ``clock``
    times calls; ``breaker_clock`` and ``sleep`` (retry waits) are
    injectable for tests.
    """

    def __init__(
        self,
        registry: ToolRegistry,
        cache: ToolCache,
        listener: RuntimeListener | None = None,
        *,
        max_workers: int = 32,
        clock: Callable[[], float] = time.perf_counter,
        breaker_clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._registry = registry
        self._cache = cache
        self._listener = listener or RuntimeListener()
        self._clock = clock
        self._breaker_clock = breaker_clock
        self._sleep = sleep
        self._attempts = AttemptRunner(max_workers)
        self._health = _HealthTracker()
        self._breaker_listener = ListenerSet((self._listener, self._health))
        self._breakers: dict[str, CircuitBreaker] = {}
        self._breakers_lock = threading.Lock()
        self._warned_fallbacks: set[str] = set()

    @property
    def cache(self) -> ToolCache:
        """The tool cache in front of every call."""
        return self._cache

    @property
    def health_version(self) -> int:
        """Increments whenever any breaker changes state (or is rebuilt with new settings)."""
        return self._health.version

    def call(self, tool: str, args: Mapping[str, Any], deadline: float | None = None) -> CallReport:
        """Call ``tool(**args)`` through the pipeline; raises only ``UnknownToolError``.

        ``deadline`` (``time.monotonic()`` seconds) is the task's: an attempt
        still running then is abandoned as a timeout that does not count
        against the tool's breaker (the tool was not slow, the task was out
        of time).
        """
        started = self._clock()
        registered = self._registry.get(tool)
        spec = registered.spec
        lookup = self._lookup(registered, args)
        if lookup.key is not None:
            self._listener.stage_timed("cache", self._clock() - started)
        if lookup.hit:
            return self._finish(tool, started, SUCCESS, result=lookup.value, layer=lookup.layer)
        breaker = self._breaker_for(spec)
        ticket = breaker.allow()
        if ticket is None:
            error = CircuitOpenError(
                f"circuit breaker for tool {tool!r} is open; retry in {breaker.retry_after_seconds():.2f}s"
            )
            return self._fallback(spec, args, started, deadline, outcome=SHORT_CIRCUITED, error=error, attempts=0)
        attempt = self._attempt(registered, args, breaker, ticket, deadline)
        if attempt.error is None:
            self._store(registered, lookup, attempt.value, self._clock() - started)
            return self._finish(tool, started, SUCCESS, result=attempt.value, attempts=attempt.attempts)
        outcome = TIMEOUT if isinstance(attempt.error, ToolTimeoutError) else ERROR
        return self._fallback(
            spec, args, started, deadline, outcome=outcome, error=attempt.error, attempts=attempt.attempts
        )

    def call_cached(self, tool: str, args: Mapping[str, Any]) -> CallReport | None:
        """``call`` when the L0 cache answers ``tool(**args)`` now, else None with nothing counted or reported.

        The executor runs a cache hit of a parallel group this way, in the
        calling thread, with one look-up (``peek`` and then ``call`` build the
        key twice). None for an unknown tool.
        """
        started = self._clock()
        registered = self._l0_candidate(tool, args)
        if registered is None:
            return None
        lookup = self._cache.lookup_l0(registered.spec, args, cache=registered.cache_name)
        if lookup is None:
            return None
        self._listener.stage_timed("cache", self._clock() - started)
        return self._finish(tool, started, SUCCESS, result=lookup.value, layer=lookup.layer)

    def peek(self, tool: str, args: Mapping[str, Any]) -> bool:
        """True when the L0 cache would answer ``tool(**args)`` now; nothing is counted or reported.

        The executor uses it to run cache hits in the calling thread rather
        than hand them to its pool. False for an unknown tool.
        """
        registered = self._l0_candidate(tool, args)
        return registered is not None and self._cache.peek(registered.spec, args)

    def _l0_candidate(self, tool: str, args: Mapping[str, Any]) -> RegisteredTool | None:
        """The registered ``tool`` when its L0 cache may answer ``tool(**args)``: None when it is unknown or
        these arguments bypass the cache."""
        if tool not in self._registry:
            return None
        registered = self._registry.get(tool)
        if registered.bypass_cache is not None and registered.bypass_cache(args):
            return None
        return registered

    def breaker(self, tool: str) -> CircuitBreaker:
        """The circuit breaker of ``tool`` (rebuilt if its settings changed)."""
        return self._breaker_for(self._registry.get(tool).spec)

    def breakers(self) -> Mapping[str, CircuitBreaker]:
        """Every registered tool's breaker, by tool name."""
        return {name: self.breaker(name) for name in self._registry.names()}

    def is_healthy(self, tool: str) -> bool:
        """False when ``tool`` is unknown or its breaker is open (for routing)."""
        try:
            return not self.breaker(tool).is_open
        except UnknownToolError:
            return False

    def invalidate(self, tool: str | None = None, tag: str | None = None) -> int:
        """Invalidate cached results by tool, by tag, or all; see ``ToolCache.invalidate``."""
        return self._cache.invalidate(tool=tool, tag=tag)

    def warm(self, top_n: int | None = None) -> int:
        """Re-run the most popular recorded calls that are not cached; returns how many were stored."""
        return self._cache.warm(self._call_uncached, top_n, cost_of=self._cost_of)

    def close(self) -> None:
        """Stop the worker threads; attempts still running are abandoned, queued ones cancelled."""
        self._attempts.close()

    def __enter__(self) -> ToolPipeline:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _breaker_for(self, spec: ToolSpec) -> CircuitBreaker:
        """The breaker for ``spec``, replaced (and health bumped) when its settings changed."""
        tool, settings = spec.name, spec.breaker
        breaker = self._breakers.get(tool)
        if breaker is not None and (breaker.settings is settings or breaker.settings == settings):
            return breaker
        with self._breakers_lock:
            breaker = self._breakers.get(tool)
            if breaker is None or breaker.settings != settings:
                if breaker is not None:
                    self._health.bump()
                breaker = CircuitBreaker(tool, settings, self._breaker_listener, clock=self._breaker_clock)
                self._breakers[tool] = breaker
            return breaker

    def _attempt(
        self,
        registered: RegisteredTool,
        args: Mapping[str, Any],
        breaker: CircuitBreaker,
        ticket: BreakerTicket,
        deadline: float | None = None,
    ) -> Attempt[Any]:
        """The retry loop under one breaker ticket: the breaker sees one outcome per call."""
        spec = registered.spec
        try:
            attempt = call_with_retry(
                lambda: self._attempts.run(registered, args, deadline),
                spec.retry,
                tool=spec.name,
                listener=self._listener,
                sleep=self._sleep if deadline is None else self._sleeping_until(deadline),
            )
        except BaseException:
            breaker.release(ticket)
            raise
        if attempt.error is None:
            breaker.record_success(ticket)
        elif trips_breaker(attempt.error):
            breaker.record_failure(ticket)
        else:
            # The caller's input was refused: the dependency is not to blame.
            breaker.release(ticket)
        return attempt

    def _sleeping_until(self, deadline: float) -> Callable[[float], None]:
        """A retry's back-off cut at the task's deadline: the next attempt then ends the call as the deadline's."""

        def sleep(seconds: float) -> None:
            self._sleep(max(min(seconds, deadline - time.monotonic()), 0.0))

        return sleep

    def _fallback(
        self,
        spec: ToolSpec,
        args: Mapping[str, Any],
        started: float,
        deadline: float | None,
        *,
        outcome: ToolOutcome,
        error: BaseException,
        attempts: int,
    ) -> CallReport:
        """Answer from ``spec.fallback`` if it can (within the task's ``deadline``), else report ``outcome``."""
        answered = self._call_fallback(spec, args, deadline) if spec.fallback is not None else None
        if answered is None:
            return self._finish(spec.name, started, outcome, error=error, attempts=attempts)
        value, layer = answered
        return self._finish(spec.name, started, FALLBACK, result=value, error=error, layer=layer, attempts=attempts)

    def _call_fallback(
        self, spec: ToolSpec, args: Mapping[str, Any], deadline: float | None = None
    ) -> tuple[Any, str | None] | None:
        """(result, cache layer) from the fallback tool, or None when it cannot answer (by the ``deadline``)."""
        name = spec.fallback
        if name is None:
            return None
        try:
            fallback = self._registry.get(name)
        except UnknownToolError:
            if name not in self._warned_fallbacks:
                self._warned_fallbacks.add(name)
                logger.warning("tool %r names fallback %r, which is not registered", spec.name, name)
            return None
        lookup = self._lookup(fallback, args)
        if lookup.hit:
            return lookup.value, lookup.layer
        if deadline is not None and deadline <= time.monotonic():
            return None  # a cached answer costs nothing; running the fallback would overrun the task
        breaker = self._breaker_for(fallback.spec)
        ticket = breaker.allow()
        if ticket is None:
            return None
        started = self._clock()
        try:
            value = self._attempts.run(fallback, args, deadline)
        except Exception as exc:
            if trips_breaker(exc):
                breaker.record_failure(ticket)
            else:
                breaker.release(ticket)
            logger.debug("fallback %r of %r failed: %s: %s", name, spec.name, type(exc).__name__, exc)
            return None
        except BaseException:
            breaker.release(ticket)
            raise
        breaker.record_success(ticket)
        self._store(fallback, lookup, value, self._clock() - started)
        return value, None

    def _call_uncached(self, tool: str, args: Mapping[str, Any]) -> Any:
        """Breaker, retries and timeout without the cache (for warming); raises on failure."""
        registered = self._registry.get(tool)
        breaker = self._breaker_for(registered.spec)
        ticket = breaker.allow()
        if ticket is None:
            raise CircuitOpenError(f"circuit breaker for tool {tool!r} is open")
        attempt = self._attempt(registered, args, breaker, ticket)
        if attempt.error is not None:
            raise attempt.error
        return attempt.value

    def _lookup(self, registered: RegisteredTool, args: Mapping[str, Any]) -> CacheLookup:
        bypass = registered.bypass_cache is not None and registered.bypass_cache(args)
        return self._cache.lookup(registered.spec, args, cache=registered.cache_name, bypass=bypass)

    def _store(self, registered: RegisteredTool, lookup: CacheLookup, value: Any, seconds: float) -> None:
        if lookup.key is None:
            return
        self._cache.store(lookup, value, seconds, _dollars(registered, value))

    def _cost_of(self, tool: str, value: Any) -> float:
        """What ``tool``'s result ``value`` cost (a warmed entry saves it on every hit, as a stored one does)."""
        return _dollars(self._registry.get(tool), value)

    def _finish(
        self,
        tool: str,
        started: float,
        outcome: ToolOutcome,
        *,
        result: Any = None,
        error: BaseException | None = None,
        layer: str | None = None,
        attempts: int = 0,
    ) -> CallReport:
        seconds = self._clock() - started
        self._listener.tool_called(tool, outcome, seconds)
        return assembled(
            CallReport,
            outcome=outcome,
            result=result,
            error=error,
            cache_layer=layer,
            attempts=attempts,
            duration_seconds=seconds,
        )


def _dollars(registered: RegisteredTool, value: Any) -> float:
    return registered.cost_of(value) if registered.cost_of is not None else 0.0
