"""Keeping a shared cache layer healthy: back-off, re-opening, probing while degraded, reporting changes.

``ReopeningLayer`` is what L1 and L2 (``agent_runtime.tools.layers``) share.
Neither ever raises into the caller, and neither stays broken:

- every operation runs through one guard (``guarded``): a layer in its
  back-off period is skipped; the first attempt after a failure re-opens
  the layer (a new diskcache handle, a new Redis client) before trying; a
  failure is counted and backs the layer off exponentially, from
  ``retry_after_seconds`` doubling up to ``max_retry_after_seconds``
  (``cache.layer_initial_backoff_seconds`` and
  ``cache.layer_max_backoff_seconds``); a success resets the back-off;
- while a layer is degraded it also probes itself: a thread of its own
  wakes when the back-off expires, re-opens the layer and makes one cheap
  read (``_ping``) through the same guard, and ends once the layer is up
  (or closed). A process that gets no calls after an outage so still
  reports the recovery, and a healthy layer runs no thread at all. The
  prober is started where the failure happens; a process forked while a
  layer is degraded starts its own (threads do not survive ``fork``);
- the outage is logged once and the recovery once (docs/security.md), and both
  are reported to the listener as ``cache_layer_changed(cache, layer, up)``
  (``agent_runtime_cache_layer_up``): up when the layer is built, down when
  it degrades, up again when it recovers, only on changes (``LayerHealth``).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Concatenate, Final, ParamSpec, TypeVar

from agent_runtime.config.models import CacheSettings
from agent_runtime.telemetry.listener import RuntimeListener

logger = logging.getLogger(__name__)

# How long a failing layer is first skipped before it is re-opened and tried
# again: an unreachable Redis then costs one connect timeout per period, not
# one per call. Each further failure doubles the period, up to the maximum.
# The configuration's defaults, so the two cannot drift apart.
DEFAULT_RETRY_AFTER_SECONDS: Final = CacheSettings.layer_initial_backoff_seconds
DEFAULT_MAX_RETRY_AFTER_SECONDS: Final = CacheSettings.layer_max_backoff_seconds
# The shortest wait between two probes: a zero back-off (re-try on every
# call) must not turn a degraded layer's prober into a busy loop.
MIN_PROBE_SECONDS = 0.05


class LayerHealth:
    """Failure bookkeeping for one layer: count, back off exponentially, log and report changes once.

    ``available()`` is False for the current back-off period after a
    failure: ``retry_after_seconds``, doubled by each further failure up to
    ``max_retry_after_seconds``, reset by a success. ``on_change(up)`` is
    called on each change of state (and by ``report_up`` once built).
    """

    def __init__(
        self,
        layer: str,
        *,
        retry_after_seconds: float = DEFAULT_RETRY_AFTER_SECONDS,
        max_retry_after_seconds: float = DEFAULT_MAX_RETRY_AFTER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self.layer = layer
        self._retry_after = retry_after_seconds
        self._max_retry_after = max(retry_after_seconds, max_retry_after_seconds)
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._failing = False
        self._consecutive = 0
        self.errors = 0

    def available(self) -> bool:
        """True when the layer should be tried now."""
        return self._clock() >= self._down_until

    def seconds_until_available(self) -> float:
        """How long the current back-off period still runs (0 when the layer may be tried now)."""
        return max(0.0, self._down_until - self._clock())

    @property
    def degraded(self) -> bool:
        """True while the last operation failed."""
        return self._failing

    @property
    def backoff_seconds(self) -> float:
        """The back-off period the next failure would start."""
        with self._lock:
            return self._backoff(self._consecutive + 1)

    def _backoff(self, failures: int) -> float:
        return min(self._retry_after * float(2 ** min(failures - 1, 32)), self._max_retry_after)

    def report_up(self) -> None:
        """Say the layer is up (it was just built)."""
        self._notify(True)

    def failed(self, operation: str, exc: BaseException) -> None:
        """Record a failure and back off; logs and reports only on the change from healthy."""
        with self._lock:
            self.errors += 1
            self._consecutive += 1
            backoff = self._backoff(self._consecutive)
            self._down_until = self._clock() + backoff
            first = not self._failing
            self._failing = True
        if first:
            logger.warning(
                "tool cache %s degraded (%s failed: %s: %s); calls continue without it, "
                "re-opening it with back-off from %gs to %gs",
                self.layer,
                operation,
                type(exc).__name__,
                exc,
                backoff,
                self._max_retry_after,
            )
            self._notify(False)

    def clear_backoff(self) -> None:
        """Make the layer available at once (it was just re-opened successfully)."""
        with self._lock:
            self._down_until = 0.0

    def succeeded(self) -> None:
        """Record a success; logs and reports the recovery after an outage."""
        if not self._failing and not self._consecutive:
            return  # the hot path: healthy, nothing to update
        with self._lock:
            recovered, self._failing = self._failing, False
            self._consecutive = 0
        if recovered:
            logger.info("tool cache %s recovered", self.layer)
            self._notify(True)

    def reset_lock_after_fork(self) -> None:
        """In a forked child: a thread of the parent may have held the lock when it forked."""
        self._lock = threading.Lock()

    def _notify(self, up: bool) -> None:
        if self._on_change is None:
            return
        try:
            self._on_change(up)
        except Exception:  # a listener must not break the cache
            logger.exception("reporting tool cache %s %s failed", self.layer, "up" if up else "down")


_L = TypeVar("_L", bound="ReopeningLayer")
_P = ParamSpec("_P")
_R = TypeVar("_R")


def guarded(
    operation: str,
) -> Callable[[Callable[Concatenate[_L, _P], _R]], Callable[Concatenate[_L, _P], _R | None]]:
    """The one place a layer operation is tried: skip while backing off, re-open after a
    failure, count a failure, record a success. The operation answers None when skipped or failed.
    """

    def decorate(method: Callable[Concatenate[_L, _P], _R]) -> Callable[Concatenate[_L, _P], _R | None]:
        def guarded_method(self: _L, /, *args: _P.args, **kwargs: _P.kwargs) -> _R | None:
            if not self._ready():
                return None
            try:
                result = method(self, *args, **kwargs)
            except Exception as exc:  # connection, timeout, SQLite and disk errors degrade the layer
                self.health.failed(operation, exc)
                return None
            self.health.succeeded()
            return result

        functools.update_wrapper(guarded_method, method)
        return guarded_method

    return decorate


class ReopeningLayer:
    """What L1 and L2 share: health reported to a listener, re-opening after failures, probing while degraded.

    A layer implements ``_open``, ``_discard`` and ``_ping``, and runs each
    operation through ``guarded``.
    """

    name = ""

    def __init__(
        self,
        *,
        cache: str,
        listener: RuntimeListener | None,
        retry_after_seconds: float,
        max_retry_after_seconds: float,
        clock: Callable[[], float],
    ) -> None:
        self._reporter = listener or RuntimeListener()
        self._cache_name = cache
        self.health = LayerHealth(
            self.name,
            retry_after_seconds=retry_after_seconds,
            max_retry_after_seconds=max_retry_after_seconds,
            clock=clock,
            on_change=self._health_changed,
        )
        self._clock = clock
        self._open_lock = threading.Lock()
        # health.errors when the layer was last (re-)opened: a failure since means "re-open first".
        self._opened_at_errors = 0
        # The prober runs only while the layer is degraded; _probe_lock orders its start and end.
        self._probe_lock = threading.Lock()
        self._prober: threading.Thread | None = None
        self._closing = threading.Event()

    def _open(self) -> None:
        """Open the handle (first time and every re-open); raise when that fails."""
        raise NotImplementedError

    def _discard(self) -> None:
        """Drop the current handle, ignoring errors (it may be what broke)."""
        raise NotImplementedError

    def _ping(self) -> None:
        """One cheap real operation on the open handle; raise when it fails."""
        raise NotImplementedError

    @guarded("probe")
    def _probe(self) -> None:
        self._ping()

    def close(self) -> None:
        """Stop probing (waiting for a probe in flight, which the layer's timeouts bound) and release the handle."""
        with self._probe_lock:
            self._closing.set()
            prober = self._end_probing()
        if prober is not None:
            prober.join()
        self._discard()

    def _health_changed(self, up: bool) -> None:
        if not up:
            self._start_probing()
        self._reporter.cache_layer_changed(self._cache_name, self.name, up)

    def _start_probing(self) -> None:
        with self._probe_lock:
            if self._prober is not None or self._closing.is_set():
                return
            # A weak reference: a layer dropped without close() ends its prober at the next wake-up.
            self._prober = threading.Thread(
                target=_probe_while_degraded,
                args=(weakref.ref(self), self._closing),
                name=f"tool-cache-{self.name}-probe",
                daemon=True,
            )
            self._prober.start()
            _probers.add(self)

    def _next_probe_in(self) -> float | None:
        """Seconds until the prober's next probe, or None when it must end (the layer is up, or closed)."""
        with self._probe_lock:
            if self._closing.is_set() or not self.health.degraded:
                self._end_probing()
                return None
        return max(self.health.seconds_until_available(), MIN_PROBE_SECONDS)

    def _end_probing(self) -> threading.Thread | None:
        """Forget the prober (under ``_probe_lock``); the thread it was."""
        prober, self._prober = self._prober, None
        _probers.discard(self)
        return prober

    def _restart_probing_after_fork(self) -> None:
        """In a forked child: the prober did not survive the fork and may have held these locks."""
        self._open_lock = threading.Lock()
        self._probe_lock = threading.Lock()
        self.health.reset_lock_after_fork()
        self._closing = threading.Event()
        self._prober = None
        if self.health.degraded:
            self._start_probing()

    def _start(self) -> None:
        """Open for the first time: up when it works, degraded (and retried later) when it does not."""
        try:
            self._open()
        except Exception as exc:  # the next attempt, after the back-off, opens it again
            self.health.failed("open", exc)
        else:
            self.health.report_up()

    def _ready(self) -> bool:
        """True when an operation may run now; re-opens first after a failure."""
        if not self.health.available():
            return False
        if self.health.errors != self._opened_at_errors:
            with self._open_lock:
                if self.health.errors != self._opened_at_errors:
                    self._opened_at_errors = self.health.errors
                    try:
                        self._discard()
                        self._open()
                    except Exception as exc:  # counted: the next attempt re-opens again
                        self.health.failed("re-open", exc)
                        return False
        return True


class _Probers:
    """The layers whose prober runs in this process: a forked child has to start them again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._layers: weakref.WeakSet[ReopeningLayer] = weakref.WeakSet()

    def add(self, layer: ReopeningLayer) -> None:
        with self._lock:
            self._layers.add(layer)

    def discard(self, layer: ReopeningLayer) -> None:
        with self._lock:
            self._layers.discard(layer)

    def restart_after_fork(self) -> None:
        self._lock = threading.Lock()  # a thread of the parent may have held it
        layers = list(self._layers)
        self._layers.clear()
        for layer in layers:
            layer._restart_probing_after_fork()


_probers = _Probers()


def _probe_while_degraded(layer_ref: weakref.ref[ReopeningLayer], closing: threading.Event) -> None:
    """The prober: wait out the back-off, probe, repeat until the layer is up, closed or gone."""
    while True:
        layer = layer_ref()
        delay = None if layer is None else layer._next_probe_in()
        del layer  # no strong reference while waiting
        if delay is None or closing.wait(delay):
            return
        layer = layer_ref()
        if layer is None:
            return
        layer._probe()
        del layer


os.register_at_fork(after_in_child=_probers.restart_after_fork)
