"""A thread-safe in-process LRU with per-entry expiry: the tool cache's L0.

Each entry carries its own deadline (``ttl_seconds`` at insertion, measured
on an injectable clock), so tools with different TTLs share one bounded
cache. Expired entries are dropped when they are read or when they reach
the cold end of the LRU order; there is no background sweeper thread.

Removals the owner did not ask for (capacity evictions and expiries) are
reported to an optional ``on_evict`` callback *after* the internal lock is
released, so the callback may take its own locks without any risk of lock
ordering problems.

Example::

    >>> now = [0.0]
    >>> lru: LRUCache[str, int] = LRUCache(2, clock=lambda: now[0])
    >>> lru.set("a", 1, ttl_seconds=10)
    >>> lru.set("b", 2)
    >>> lru.get("a")
    1
    >>> lru.set("c", 3)          # evicts "b", the least recently used
    >>> "b" in lru
    False
    >>> now[0] = 11.0            # "a" has expired
    >>> lru.get("a") is None
    True
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_NEVER = float("inf")


class LRUCache(Generic[K, V]):
    """Bounded mapping with least-recently-used eviction and per-entry expiry.

    ``max_entries`` must be at least 1. ``clock`` returns seconds (any epoch);
    it is only compared with itself. All methods are safe to call from many
    threads; each holds a single lock for a few dictionary operations.
    """

    def __init__(
        self,
        max_entries: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_evict: Callable[[K, V], None] | None = None,
    ) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        self._max_entries = max_entries
        self._clock = clock
        self._on_evict = on_evict
        self._lock = threading.Lock()
        # key -> (deadline, value); order is least to most recently used.
        self._data: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._evictions = 0
        self._expirations = 0

    @property
    def max_entries(self) -> int:
        """The capacity."""
        return self._max_entries

    def get(self, key: K) -> V | None:
        """The live value for ``key`` (marking it most recently used), or None."""
        expired: tuple[K, V] | None = None
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            deadline, value = item
            if deadline <= self._clock():
                del self._data[key]
                self._expirations += 1
                expired = (key, value)
            else:
                self._data.move_to_end(key)
                return value
        self._notify((expired,))
        return None

    def set(self, key: K, value: V, ttl_seconds: float | None = None) -> None:
        """Insert or replace ``key``; ``ttl_seconds`` None means no expiry.

        A non-positive TTL stores nothing (and drops any previous value), as
        the entry would be expired on arrival.
        """
        if ttl_seconds is not None and ttl_seconds <= 0:
            self.pop(key)
            return
        deadline = _NEVER if ttl_seconds is None else self._clock() + ttl_seconds
        evicted: list[tuple[K, V]] = []
        with self._lock:
            self._data[key] = (deadline, value)
            self._data.move_to_end(key)
            while len(self._data) > self._max_entries:
                old_key, (_, old_value) = self._data.popitem(last=False)
                self._evictions += 1
                evicted.append((old_key, old_value))
        self._notify(evicted)

    def pop(self, key: K) -> V | None:
        """Remove ``key``; returns its value if it was present and live."""
        with self._lock:
            item = self._data.pop(key, None)
            if item is None:
                return None
            deadline, value = item
            return value if deadline > self._clock() else None

    def discard_many(self, keys: Iterable[K]) -> int:
        """Remove every key in ``keys``; returns how many were present."""
        removed = 0
        with self._lock:
            for key in keys:
                if self._data.pop(key, None) is not None:
                    removed += 1
        return removed

    def remaining_seconds(self, key: K) -> float | None:
        """Seconds until ``key`` expires (inf without expiry), or None if absent or expired."""
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            left = item[0] - self._clock()
            return left if left > 0 else None

    def purge_expired(self) -> int:
        """Drop every expired entry now; returns how many were dropped."""
        expired: list[tuple[K, V]] = []
        with self._lock:
            now = self._clock()
            for key, (deadline, value) in list(self._data.items()):
                if deadline <= now:
                    del self._data[key]
                    expired.append((key, value))
            self._expirations += len(expired)
        self._notify(expired)
        return len(expired)

    def clear(self) -> None:
        """Remove everything (without eviction callbacks)."""
        with self._lock:
            self._data.clear()

    def __contains__(self, key: object) -> bool:
        with self._lock:
            item = self._data.get(key)  # type: ignore[arg-type]
            return item is not None and item[0] > self._clock()

    def __len__(self) -> int:
        """Entries held, including expired ones not yet dropped."""
        return len(self._data)

    def stats(self) -> dict[str, int]:
        """Size, capacity and removal counters, JSON-ready."""
        with self._lock:
            return {
                "entries": len(self._data),
                "max_entries": self._max_entries,
                "evictions": self._evictions,
                "expirations": self._expirations,
            }

    def _notify(self, removed: Iterable[tuple[K, V] | None]) -> None:
        if self._on_evict is None:
            return
        for item in removed:
            if item is not None:
                self._on_evict(*item)
