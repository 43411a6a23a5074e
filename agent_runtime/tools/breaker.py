"""A circuit breaker that never holds its lock while the protected call runs.

States: ``closed`` (calls pass, outcomes are recorded), ``open`` (calls are
refused until the open time has passed) and ``half_open`` (a few probe calls
are admitted; enough successes close the breaker, one failure re-opens it).

It trips from closed to open on either rule:

* failure rate: over the last ``window_size`` calls, and once at least
  ``minimum_calls`` of them were made, the share of failures reaches
  ``failure_rate_threshold``;
* ``consecutive_failures`` failures in a row.

The open time adapts: it starts at ``open_seconds``, is multiplied by
``backoff_multiplier`` (up to ``max_open_seconds``) each time a half-open probe
fails, and returns to ``open_seconds`` when the breaker closes.

Callers ask for a ticket, run the call *without any lock held*, then report
the outcome with the ticket. The lock only guards the state bookkeeping,
so concurrent calls through one closed breaker run in parallel. A ticket
remembers the state epoch it was issued in; outcomes from an earlier epoch
(a slow call that started before the breaker tripped) are ignored, so they
cannot close a breaker that has opened since.

The closed state's common case takes no lock at all: ``allow`` hands out
the epoch's shared ticket after one attribute read, and ``record_success``
with that ticket is one atomic ``deque.append`` and one store (the failure
rate and the consecutive-failure count are derived, under the lock, only
when a failure is recorded). A success racing a trip can leave one stale
entry in the window of the state just entered; every transition clears the
window again, so it never reaches a closed period's rate.

Example::

    >>> from agent_runtime.config.models import BreakerSettings
    >>> breaker = CircuitBreaker("search", BreakerSettings(consecutive_failures=2))
    >>> for _ in range(2):
    ...     ticket = breaker.allow()
    ...     breaker.record_failure(ticket)
    >>> str(breaker.state)
    'open'
    >>> breaker.allow() is None
    True
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from agent_runtime.config.models import BreakerSettings
from agent_runtime.telemetry.listener import RuntimeListener
from agent_runtime.vocabulary import BreakerState

CLOSED: Final = BreakerState.CLOSED
HALF_OPEN: Final = BreakerState.HALF_OPEN
OPEN: Final = BreakerState.OPEN


@dataclass(frozen=True, slots=True)
class BreakerTicket:
    """Permission for one call; hand it back to ``record_success``/``record_failure``."""

    epoch: int
    probe: bool = False


class CircuitBreaker:
    """Closed / open / half-open breaker with failure-rate and consecutive-failure trips.

    ``clock`` returns monotonic seconds (inject one in tests). Every state
    change calls ``listener.breaker_changed(name, state)``; that happens
    under the bookkeeping lock so the listener sees transitions in the order
    they happened (listeners must be cheap and must not call back into the
    breaker).
    """

    def __init__(
        self,
        name: str,
        settings: BreakerSettings | None = None,
        listener: RuntimeListener | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.settings = settings or BreakerSettings()
        self._listener = listener or RuntimeListener()
        self._clock = clock
        self._lock = threading.Lock()
        self._enabled = self.settings.enabled
        self._state: str = CLOSED
        self._epoch = 0
        # Outcomes of the last window_size calls (True = failed), appended without the lock.
        self._window: deque[bool] = deque(maxlen=max(1, self.settings.window_size))
        # Consecutive failures = failures recorded since the last success: ``_failures``
        # moves only under the lock, a success just stores the count it saw.
        self._failures = 0
        self._failures_at_success = 0
        self._open_duration = self.settings.open_seconds
        self._open_until = 0.0
        self._probes_in_flight = 0
        self._probe_successes = 0
        self._transitions = 0
        # Tickets are immutable: closed-state calls share one per epoch.
        self._ticket = BreakerTicket(self._epoch)

    @property
    def state(self) -> str:
        """The current state; an elapsed open period turns into ``half_open`` here."""
        with self._lock:
            self._refresh(self._clock())
            return self._state

    @property
    def is_open(self) -> bool:
        """True while calls are refused outright."""
        return self.state == OPEN

    def allow(self) -> BreakerTicket | None:
        """A ticket if a call may proceed now, else None (the call must not be made)."""
        if self._state is CLOSED or not self._enabled:
            # The common case: no lock, no clock read. Reading the state and the
            # ticket is two atomic loads; a trip in between only hands out a
            # ticket of the old epoch, whose outcome is then ignored.
            return self._ticket
        with self._lock:
            if self._state == CLOSED:
                return self._ticket
            self._refresh(self._clock())
            if self._state == HALF_OPEN and self._probes_in_flight < max(1, self.settings.half_open_max_calls):
                self._probes_in_flight += 1
                return BreakerTicket(self._epoch, probe=True)
            return None

    def record_success(self, ticket: BreakerTicket) -> None:
        """Report that the call admitted by ``ticket`` succeeded."""
        if ticket is self._ticket and self._state is CLOSED:
            # The closed epoch's own shared ticket: lock-free bookkeeping.
            if self._enabled:
                self._window.append(False)
                self._failures_at_success = self._failures
            return
        if not self._enabled:
            return
        with self._lock:
            if ticket.epoch != self._epoch:
                return
            if self._state == CLOSED:
                self._window.append(False)
                self._failures_at_success = self._failures
            elif self._state == HALF_OPEN and ticket.probe:
                self._probes_in_flight -= 1
                self._probe_successes += 1
                if self._probe_successes >= max(1, self.settings.half_open_max_calls):
                    self._open_duration = self.settings.open_seconds
                    self._transition(CLOSED)

    def record_failure(self, ticket: BreakerTicket) -> None:
        """Report that the call admitted by ``ticket`` failed."""
        if not self._enabled:
            return
        with self._lock:
            if ticket.epoch != self._epoch:
                return
            now = self._clock()
            if self._state == CLOSED:
                self._failures += 1
                self._window.append(True)
                if self._should_trip():
                    self._open(now)
            elif self._state == HALF_OPEN and ticket.probe:
                self._open_duration = min(
                    self._open_duration * self.settings.backoff_multiplier, self.settings.max_open_seconds
                )
                self._open(now)

    def release(self, ticket: BreakerTicket) -> None:
        """Give a ticket back without an outcome (the call was never made or was cancelled)."""
        with self._lock:
            if ticket.epoch == self._epoch and ticket.probe and self._state == HALF_OPEN:
                self._probes_in_flight -= 1

    def retry_after_seconds(self) -> float:
        """Seconds until an open breaker admits a probe (0 unless open)."""
        with self._lock:
            self._refresh(self._clock())
            if self._state != OPEN:
                return 0.0
            return max(0.0, self._open_until - self._clock())

    def reset(self) -> None:
        """Admin: forget all history and close (reported as a transition if not closed)."""
        with self._lock:
            self._open_duration = self.settings.open_seconds
            if self._state != CLOSED:
                self._transition(CLOSED)
            else:
                self._new_epoch()
                self._clear_window()

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready view for the admin API and dashboards."""
        with self._lock:
            now = self._clock()
            self._refresh(now)
            window = tuple(self._window)
            calls = len(window)
            return {
                "name": self.name,
                "enabled": self.settings.enabled,
                "state": self._state,
                "failure_rate": round(sum(window) / calls, 4) if calls else 0.0,
                "calls_in_window": calls,
                "consecutive_failures": self._consecutive(),
                "open_seconds": self._open_duration,
                "retry_after_seconds": round(max(0.0, self._open_until - now), 3) if self._state == OPEN else 0.0,
                "transitions": self._transitions,
            }

    # Bookkeeping below runs with self._lock held.

    def _refresh(self, now: float) -> None:
        if self._state == OPEN and now >= self._open_until:
            self._transition(HALF_OPEN)

    def _consecutive(self) -> int:
        return max(0, self._failures - self._failures_at_success)

    def _should_trip(self) -> bool:
        settings = self.settings
        if 0 < settings.consecutive_failures <= self._consecutive():
            return True
        window = tuple(self._window)  # a copy: successes append concurrently
        calls = len(window)
        minimum = max(1, min(settings.minimum_calls, self._window.maxlen or 1))
        return calls >= minimum and sum(window) / calls >= settings.failure_rate_threshold

    def _open(self, now: float) -> None:
        self._open_until = now + self._open_duration
        self._transition(OPEN)
        # Turn half-open on time even when no call comes: an idle gunicorn worker would
        # otherwise report "open" forever, and decisions routed around the tool would
        # never be re-scored (the health version moves only on a transition).
        timer = threading.Timer(self._open_duration, self._refresh_now)
        timer.daemon = True
        timer.start()

    def _refresh_now(self) -> None:
        with self._lock:
            self._refresh(self._clock())

    def _transition(self, state: str) -> None:
        self._state = state
        self._new_epoch()
        self._transitions += 1
        self._probes_in_flight = 0
        self._probe_successes = 0
        self._clear_window()
        self._listener.breaker_changed(self.name, state)

    def _new_epoch(self) -> None:
        self._epoch += 1
        self._ticket = BreakerTicket(self._epoch)

    def _clear_window(self) -> None:
        self._window.clear()
        self._failures_at_success = self._failures
