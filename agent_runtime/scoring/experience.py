"""Experience: recent task outcomes per agent, decaying, bounded and quantised.

Each agent keeps exponentially decaying counts of successes ``s`` and failures
``f`` (half-life ``half_life_seconds``). Its experience term is::

    (s - f) / (s + f + prior)

which lies strictly inside (-1, 1), is small while there is little evidence
(the ``prior`` pseudo-count) and drifts back towards 0 as outcomes age, since
the counts decay while the prior does not.

The term is then *quantised* towards zero to multiples of ``step`` (0.1 by
default). Routing sees only quantised terms, through snapshots, and the
snapshot's ``epoch`` increments exactly when some agent's quantised term
differs from the previous snapshot's, whether by new outcomes or by decay. A
cached routing decision records the epoch it was made under; while the epoch
holds, scoring would produce the same numbers, so the cached decision is
still the fresh one. Quantisation keeps the epoch (and so the decision cache)
from churning on every single outcome.

Example::

    >>> now = [0.0]
    >>> tracker = ExperienceTracker(half_life_seconds=60.0, clock=lambda: now[0])
    >>> for _ in range(5):
    ...     tracker.record("writer", success=True)
    >>> tracker.term("writer"), tracker.epoch  # 5 / (5 + prior 10) = 0.33
    (0.3, 1)
    >>> now[0] = 600.0  # ten half-lives later the evidence has faded
    >>> tracker.term("writer"), tracker.epoch
    (0.0, 2)
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

_NUDGE = 1e-9

PRIOR = 10.0
"""Pseudo-outcomes in the term's denominator: an agent needs about this many
net successes to earn half of its experience bonus, so one lucky or unlucky
task barely moves routing (and does not invalidate cached decisions)."""

HYSTERESIS = 0.25
"""How far (in steps) a term must move past its interval before its quantised
value changes: a term hovering at a boundary would otherwise move the epoch,
and drop every cached decision, on every outcome."""


@dataclass(frozen=True)
class ExperienceSnapshot:
    """Quantised experience terms at one moment, and the epoch they belong to.

    Scoring against one snapshot and caching under its epoch keeps the two
    consistent even if outcomes arrive meanwhile.
    """

    epoch: int
    terms: Mapping[str, float] = field(default_factory=dict)

    def term(self, agent: str) -> float:
        """The agent's quantised term in [-1, 1]; 0.0 without history."""
        return self.terms.get(agent, 0.0)


@dataclass
class _Counts:
    """Decayed success/failure counts as of ``at`` (clock seconds)."""

    successes: float
    failures: float
    at: float


class ExperienceTracker:
    """Records outcomes per agent and serves quantised, decaying experience terms.

    Thread-safe. ``clock`` returns seconds (monotonic by default; inject a
    fake one in tests). Only record outcomes for configured agents: the
    tracker keeps one small record per agent name it is given.
    """

    def __init__(
        self,
        half_life_seconds: float = 600.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        step: float = 0.1,
        prior: float = PRIOR,
        hysteresis: float = HYSTERESIS,
    ) -> None:
        if half_life_seconds <= 0:
            raise ValueError(f"half_life_seconds must be > 0, got {half_life_seconds}")
        if not 0 < step <= 1:
            raise ValueError(f"step must be in (0, 1], got {step}")
        if prior <= 0:
            raise ValueError(f"prior must be > 0, got {prior}")
        if not 0 <= hysteresis < 1:
            raise ValueError(f"hysteresis must be in [0, 1), got {hysteresis}")
        self._half_life = half_life_seconds
        self._clock = clock
        self._step = step
        self._prior = prior
        self._hysteresis = hysteresis
        self._lock = threading.Lock()
        self._counts: dict[str, _Counts] = {}
        self._ticks: dict[str, int] = {}  # non-zero quantised terms, in steps
        # What the published snapshot holds. The epoch moves when a snapshot is
        # taken and the ticks differ from these: a term that changes and
        # changes back between two snapshots costs no cache invalidation.
        self._published: dict[str, int] = {}
        self._changed = False
        self._snapshot = ExperienceSnapshot(0, MappingProxyType({}))
        # The published snapshot holds until an outcome changes a tick or the
        # clock reaches the first moment decay alone moves one (then every
        # agent is recomputed). Recording touches only its own agent, so the
        # hot path never walks all agents.
        self._valid_until = math.inf

    @property
    def half_life_seconds(self) -> float:
        """How long it takes an outcome's influence to halve."""
        return self._half_life

    @property
    def step(self) -> float:
        """The quantisation step of terms."""
        return self._step

    def record(self, agent: str, success: bool) -> None:
        """Count one outcome of a task ``agent`` handled."""
        now = self._clock()
        with self._lock:
            if now >= self._valid_until:
                self._refresh(now)
            counts = self._counts.get(agent)
            if counts is None:
                counts = self._counts[agent] = _Counts(0.0, 0.0, now)
            else:
                self._decay(counts, now)
            if success:
                counts.successes += 1.0
            else:
                counts.failures += 1.0
            tick = self._tick(counts, self._ticks.get(agent, 0))
            if tick:
                # Only ever earlier: a stale, earlier bound just costs one early refresh.
                self._valid_until = min(self._valid_until, self._next_change(counts, tick))
            if tick != self._ticks.get(agent, 0):
                if tick:
                    self._ticks[agent] = tick
                else:
                    del self._ticks[agent]
                self._changed = True

    def snapshot(self) -> ExperienceSnapshot:
        """The current quantised terms and their epoch (cheap when nothing changed)."""
        now = self._clock()
        if not self._changed and now < self._valid_until:
            # Nothing to publish (two attribute reads): an outcome recorded concurrently
            # is seen by the next snapshot, exactly as if it had come a moment later.
            return self._snapshot
        with self._lock:
            if now >= self._valid_until:
                self._refresh(now)
            if self._changed:
                self._changed = False
                if self._ticks != self._published:
                    self._published = dict(self._ticks)
                    terms = {agent: round(tick * self._step, 10) for agent, tick in self._ticks.items()}
                    self._snapshot = ExperienceSnapshot(self._snapshot.epoch + 1, MappingProxyType(terms))
            return self._snapshot

    @property
    def epoch(self) -> int:
        """Increments whenever some agent's quantised term changes."""
        return self.snapshot().epoch

    def term(self, agent: str) -> float:
        """The agent's current quantised term in [-1, 1] (0.0 without history)."""
        return self.snapshot().term(agent)

    def reset(self) -> None:
        """Forget all outcomes (the epoch moves on if any term was non-zero)."""
        with self._lock:
            self._counts.clear()
            self._ticks.clear()
            self._valid_until = math.inf
            self._changed = True

    def _refresh(self, now: float) -> None:
        """Decay every agent to ``now`` and re-derive all ticks (caller holds the lock)."""
        ticks: dict[str, int] = {}
        valid_until = math.inf
        for agent, counts in self._counts.items():
            self._decay(counts, now)
            tick = self._tick(counts, self._ticks.get(agent, 0))
            if tick:
                ticks[agent] = tick
                valid_until = min(valid_until, self._next_change(counts, tick))
        self._valid_until = valid_until
        if ticks != self._ticks:
            self._ticks = ticks
            self._changed = True

    def _decay(self, counts: _Counts, now: float) -> None:
        if now > counts.at:
            factor = 0.5 ** ((now - counts.at) / self._half_life)
            counts.successes *= factor
            counts.failures *= factor
            counts.at = now

    def _tick(self, counts: _Counts, previous: int) -> int:
        """The quantised term, in steps, given the agent's previous one.

        The previous tick holds while the term stays within ``hysteresis``
        steps beyond its own interval, so a term wandering around a boundary
        does not flip the epoch on every outcome.
        """
        units = (counts.successes - counts.failures) / (counts.successes + counts.failures + self._prior) / self._step
        h = self._hysteresis
        if previous > 0:
            stays = previous - h <= units < previous + 1 + h
        elif previous < 0:
            stays = previous - 1 - h < units <= previous + h
        else:
            stays = -1 - h < units < 1 + h
        if stays:
            return previous
        # int() truncates towards zero, so weak evidence quantises to exactly 0;
        # the nudge keeps 0.6 / 0.1 == 5.999... from landing one step short.
        return int(units + math.copysign(_NUDGE, units))

    def _next_change(self, counts: _Counts, tick: int) -> float:
        """When decay alone takes the term out of ``tick``'s interval (towards zero).

        With decay factor D the term is ``D*a / (D*b + prior)`` for a = s - f,
        b = s + f; it reaches the boundary c at ``D = c*prior / (a - c*b)``.
        """
        a = counts.successes - counts.failures
        b = counts.successes + counts.failures
        c = (tick - math.copysign(self._hysteresis, tick)) * self._step
        denominator = a - c * b
        factor = c * self._prior / denominator if denominator else 1.0
        if not 0.0 < factor < 1.0:
            return counts.at
        return counts.at + self._half_life * math.log2(1.0 / factor)
