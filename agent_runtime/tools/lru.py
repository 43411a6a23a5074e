"""A thread-safe in-process LRU with per-entry expiry: the tool cache's L0.

Each entry carries its own deadline (``ttl_seconds`` at insertion, measured
on an injectable clock), so tools with different TTLs share one bounded
cache. Expired entries are dropped when they are read or when they reach
the cold end of the LRU order; there is no background sweeper thread.

Removals the owner did not ask for (capacity evictions and expiries) are
reported to an optional ``on_evict`` callback *after* the internal lock is
released, so the callback may take its own locks without any risk of lock
ordering problems.

Capacity is counted in entries and, optionally, in bytes: ``set`` takes an
entry's size (``approx_size`` estimates one) and the least recently used
entries go until both bounds hold, so a few large results cannot hold the
process's memory hostage. A read that hits takes no lock: the dictionary's
own operations are atomic, and a concurrent removal is simply a miss.

Example::

    >>> now = [0.0]
    >>> lru: LRUCache[str, int] = LRUCache(2, clock=lambda: now[0])
    >>> lru.set("a", 1, ttl_seconds=10)
    True
    >>> lru.set("b", 2)
    True
    >>> lru.get("a")
    1
    >>> lru.set("c", 3)          # evicts "b", the least recently used
    True
    >>> "b" in lru
    False
    >>> now[0] = 11.0            # "a" has expired
    >>> lru.get("a") is None
    True
"""

from __future__ import annotations

import sys
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

    ``max_entries`` must be at least 1; ``max_bytes`` (None: no byte bound)
    bounds the sum of the sizes given to ``set``. ``clock`` returns seconds
    (any epoch); it is only compared with itself. All methods are safe to
    call from many threads; writers hold a single lock for a few dictionary
    operations, a hit takes none.
    """

    def __init__(
        self,
        max_entries: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_evict: Callable[[K, V], None] | None = None,
        max_bytes: int | None = None,
    ) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        if max_bytes is not None and max_bytes < 1:
            raise ValueError(f"max_bytes must be >= 1, got {max_bytes}")
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._clock = clock
        self._on_evict = on_evict
        self._lock = threading.Lock()
        # key -> (deadline, value, size); order is least to most recently used.
        self._data: OrderedDict[K, tuple[float, V, int]] = OrderedDict()
        self._bytes = 0
        self._evictions = 0
        self._expirations = 0

    @property
    def max_entries(self) -> int:
        """The capacity."""
        return self._max_entries

    @property
    def max_bytes(self) -> int | None:
        """The byte bound, or None."""
        return self._max_bytes

    @property
    def bytes(self) -> int:
        """The sum of the sizes of the entries held."""
        return self._bytes

    def get(self, key: K) -> V | None:
        """The live value for ``key`` (marking it most recently used), or None."""
        item = self._data.get(key)
        if item is None:
            return None
        if item[0] > self._clock():
            try:  # noqa: SIM105 (contextlib.suppress costs more than the hit)
                self._data.move_to_end(key)
            except KeyError:  # removed meanwhile: it was still live when read
                pass
            return item[1]
        with self._lock:
            if self._data.get(key) is not item:
                return None  # replaced or removed meanwhile
            del self._data[key]
            self._bytes -= item[2]
            self._expirations += 1
        self._notify(((key, item[1]),))
        return None

    def __contains__(self, key: object) -> bool:
        item = self._data.get(key)  # type: ignore[arg-type]
        return item is not None and item[0] > self._clock()

    def set(self, key: K, value: V, ttl_seconds: float | None = None, size: int = 0) -> bool:
        """Insert or replace ``key``; ``ttl_seconds`` None means no expiry; ``size`` counts against ``max_bytes``.

        A non-positive TTL stores nothing (and drops any previous value), as
        the entry would be expired on arrival. An entry larger than
        ``max_bytes`` on its own is not stored. Returns whether it was stored.
        """
        if ttl_seconds is not None and ttl_seconds <= 0:
            self.pop(key)
            return False
        if self._max_bytes is not None and size > self._max_bytes:
            self.pop(key)
            return False
        deadline = _NEVER if ttl_seconds is None else self._clock() + ttl_seconds
        evicted: list[tuple[K, V]] = []
        data = self._data
        with self._lock:
            old = data.pop(key, None)
            if old is not None:
                self._bytes -= old[2]
            data[key] = (deadline, value, size)
            self._bytes += size
            limit = self._max_bytes
            while len(data) > self._max_entries or (limit is not None and self._bytes > limit):
                old_key, (_, old_value, old_size) = data.popitem(last=False)
                self._bytes -= old_size
                self._evictions += 1
                evicted.append((old_key, old_value))
        self._notify(evicted)
        return True

    def pop(self, key: K) -> V | None:
        """Remove ``key``; returns its value if it was present and live."""
        with self._lock:
            item = self._data.pop(key, None)
            if item is None:
                return None
            self._bytes -= item[2]
            deadline, value, _ = item
            return value if deadline > self._clock() else None

    def discard_many(self, keys: Iterable[K]) -> int:
        """Remove every key in ``keys``; returns how many were present."""
        removed = 0
        with self._lock:
            for key in keys:
                item = self._data.pop(key, None)
                if item is not None:
                    self._bytes -= item[2]
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
            for key, (deadline, value, size) in list(self._data.items()):
                if deadline <= now:
                    del self._data[key]
                    self._bytes -= size
                    expired.append((key, value))
            self._expirations += len(expired)
        self._notify(expired)
        return len(expired)

    def clear(self) -> None:
        """Remove everything (without eviction callbacks)."""
        with self._lock:
            self._data.clear()
            self._bytes = 0

    def __len__(self) -> int:
        """Entries held, including expired ones not yet dropped."""
        return len(self._data)

    def stats(self) -> dict[str, int]:
        """Size, capacity and removal counters, JSON-ready."""
        with self._lock:
            return {
                "entries": len(self._data),
                "max_entries": self._max_entries,
                "bytes": self._bytes,
                "evictions": self._evictions,
                "expirations": self._expirations,
            }

    def _notify(self, removed: Iterable[tuple[K, V] | None]) -> None:
        if self._on_evict is None:
            return
        for item in removed:
            if item is not None:
                self._on_evict(*item)


_CONTAINERS = (dict, list, tuple, set, frozenset)


def approx_size(value: object) -> int:
    """The memory ``value`` holds, in bytes: ``sys.getsizeof`` of it and of everything its containers hold.

    Every item is visited (a cache bounded in bytes must not trust a sample: a long list whose first
    items are small, or text nested deep, would be held for a fraction of its size). A container met
    twice counts once; an atom met twice (a repeated string) counts each time, erring on the large side.
    The walk is as long as the value, which the tool that made it has already spent as much on.

    >>> approx_size("x" * 1000) > 1000
    True
    >>> approx_size(["ok"] * 64 + ["y" * 25_000]) > 25_000
    True
    """
    total = 0
    seen: set[int] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _CONTAINERS):
            if id(item) in seen:
                continue
            seen.add(id(item))
            if isinstance(item, dict):
                stack.extend(item.keys())
                stack.extend(item.values())
            else:
                stack.extend(item)
        total += sys.getsizeof(item)
    return total
