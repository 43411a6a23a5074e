"""Invalidation generations: the counters every tool-cache key embeds.

Invalidation is O(1) and works across processes: every key embeds the
current *generation* of the whole cache, of its tool and of each of its
tags. Invalidating bumps one counter (an atomic INCR in Redis, or in the
diskcache directory when there is no Redis), so old keys are simply never
asked for again and expire with their TTL. Other processes pick the new
generation up within ``refresh_seconds`` (one round trip per tool per
period, not per call).

The counters live in the *authority*, the most shared layer. Three races
are closed here: a refresh that read the authority before a bump made here
never writes the older value back; a bump the authority missed (it was
down) is kept as a local floor and made there once it answers again; and
a restarted authority, which counts afresh, is followed down by every
process alike unless this one bumped since it read.

Example::

    >>> generations = Generations(None, lambda: 0.0, refresh_seconds=1.0)
    >>> generations.track("search", ("web",))
    >>> generations.of("search")
    (0, 0, 0)
    >>> generations.invalidate(tag="web")
    >>> generations.of("search")
    (0, 0, 1)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence

from agent_runtime.tools.layers import SharedLayer

_ALL = "all"


class Generations:
    """The generation of the cache, of each tool and of each tag, kept in step with the authority.

    Thread-safe: ``of`` reads without a lock (it is on every look-up) and
    ``_lock`` guards the counters; ``track`` and ``forget`` write one dict
    entry each (``ToolCache`` calls them under its index lock). ``authority``
    None keeps the counters in this process only. ``refresh_seconds`` bounds
    how long another process's invalidation may go unnoticed here (0 re-reads
    them on every ``of``).
    """

    __slots__ = (
        "_authority",
        "_bumped_at",
        "_bumps",
        "_by_tool",
        "_clock",
        "_epoch",
        "_fetched_at",
        "_floor",
        "_lock",
        "_names",
        "_refresh",
        "_replaying",
        "_values",
    )

    def __init__(self, authority: SharedLayer | None, clock: Callable[[], float], refresh_seconds: float) -> None:
        self._authority = authority
        self._clock = clock
        self._refresh = refresh_seconds
        # Per tool: the generation names its keys embed (read without a lock on every look-up).
        self._names: dict[str, tuple[str, ...]] = {}

        self._lock = threading.Lock()
        self._values: dict[str, int] = {}
        self._fetched_at: dict[str, float] = {}
        # Bumps the authority never saw (it was down): kept as a local minimum.
        self._floor: dict[str, int] = {}
        # Per tool: (epoch, valid until, generations); the epoch moves on every change of a generation.
        self._epoch = 0
        # Bumps made here, counted, and the count at each name's latest: a refresh that read the
        # authority before a bump must not write the older value back (see _current).
        self._bumps = 0
        self._bumped_at: dict[str, int] = {}
        self._replaying = False  # one thread replays the bumps the authority missed (see _replay_floors)
        self._by_tool: dict[str, tuple[int, float, tuple[int, ...]]] = {}

    def track(self, tool: str, tags: Iterable[str]) -> None:
        """Make ``tool``'s generations those of the whole cache, of ``tool`` and of each of ``tags``.

        ``of`` follows the new names once ``forget(tool)`` drops what it cached under the old ones.
        """
        self._names[tool] = (_ALL, f"tool:{tool}", *(f"tag:{tag}" for tag in sorted(set(tags))))

    def forget(self, tool: str) -> None:
        """Drop ``tool``'s cached generations: the next ``of`` reads them again under its current names."""
        self._by_tool.pop(tool, None)

    def invalidate(self, tool: str | None = None, tag: str | None = None) -> None:
        """Bump the generation of ``tool``, of ``tag``, or (neither given) of the whole cache."""
        if tool is None and tag is None:
            self._bump(_ALL)
        if tool is not None:
            self._bump(f"tool:{tool}")
        if tag is not None:
            self._bump(f"tag:{tag}")

    def of(self, tool: str) -> tuple[int, ...]:
        """``tool``'s generations (``track`` it first), re-read only when one changed or the refresh period passed."""
        cached = self._by_tool.get(tool)
        epoch = self._epoch  # read first: a change after this makes the stored entry stale
        if cached is not None and cached[0] == epoch and (self._authority is None or self._clock() < cached[1]):
            return cached[2]
        names = self._names[tool]
        generations = self._current(names)
        if self._authority is None:
            valid_until = float("inf")
        else:
            fetched_at = self._fetched_at
            valid_until = min(fetched_at.get(name, -float("inf")) for name in names) + self._refresh
        self._by_tool[tool] = (epoch, valid_until, generations)
        return generations

    def _current(self, names: Sequence[str]) -> tuple[int, ...]:
        authority = self._authority
        if authority is not None:
            now = self._clock()
            fetched_at = self._fetched_at
            if any(now - fetched_at.get(name, -float("inf")) >= self._refresh for name in names):
                bumps_before = self._bumps
                fetched = authority.generations(names)
                if fetched is not None:
                    with self._lock:
                        for name, read in zip(names, fetched, strict=True):
                            value = self._followed(name, read, bumps_before)
                            self._values[name] = max(value, self._floor.get(name, 0))
                            self._fetched_at[name] = now
                        self._epoch += 1
                    if self._floor:
                        self._replay_floors(authority)
        values = self._values
        return tuple(values.get(name, 0) for name in names)

    def _replay_floors(self, authority: SharedLayer) -> None:
        """The authority answers again: make the invalidations it missed its own, then follow it.

        A floor kept alone would hide the next invalidation another process makes (its count could
        reach no higher than this process's floor), and the other processes never saw this one.
        """
        with self._lock:
            if self._replaying:
                return  # another thread replays them: each missed bump is made there once
            self._replaying = True
            floored = dict(self._floor)
        try:
            for name, floor in floored.items():
                bumps_before = self._bumps
                bumped = authority.bump_generation(name)
                if bumped is None:
                    return  # down again: the floors stay until the next answer
                with self._lock:
                    if self._floor.get(name) == floor:  # a newer missed bump keeps its floor for the next replay
                        del self._floor[name]
                    # Even below the floor: a restarted Redis counts afresh.
                    self._values[name] = self._followed(name, bumped, bumps_before)
                    self._note_bump(name)
                    self._epoch += 1
        finally:
            with self._lock:
                self._replaying = False

    def _followed(self, name: str, authority_value: int, bumps_before: int) -> int:
        """The authority's value of ``name``, even a lower one (every process follows it alike), unless it was
        invalidated here after ``bumps_before``: the value predates that, so never below ours (lock held)."""
        if self._bumped_at.get(name, 0) > bumps_before:
            return max(authority_value, self._values.get(name, 0))
        return authority_value

    def _note_bump(self, name: str) -> None:
        """Count a bump of ``name`` made here, for ``_followed`` (lock held)."""
        self._bumps += 1
        self._bumped_at[name] = self._bumps

    def _bump(self, name: str) -> None:
        bumped = self._authority.bump_generation(name) if self._authority is not None else None
        with self._lock:
            self._note_bump(name)
            local = self._values.get(name, 0) + 1
            if bumped is None:
                # Nobody else will see this bump; never fall back below it here.
                self._floor[name] = local
                self._values[name] = local
            else:
                self._values[name] = max(bumped, self._floor.get(name, 0))
                self._fetched_at[name] = self._clock()
            self._epoch += 1
