"""LRUCache: recency order, per-entry expiry, eviction callbacks, thread safety."""

from __future__ import annotations

import threading

import pytest

from agent_runtime.tools.lru import LRUCache, approx_size
from tests.unit.tools.conftest import FakeClock


def test_least_recently_used_entry_is_evicted_first() -> None:
    lru: LRUCache[str, int] = LRUCache(2)
    lru.set("a", 1)
    lru.set("b", 2)
    assert lru.get("a") == 1  # "a" becomes most recently used
    lru.set("c", 3)

    assert "b" not in lru
    assert lru.get("a") == 1
    assert lru.get("c") == 3
    assert lru.stats()["evictions"] == 1


def test_each_entry_expires_after_its_own_ttl(clock: FakeClock) -> None:
    lru: LRUCache[str, str] = LRUCache(10, clock=clock)
    lru.set("short", "s", ttl_seconds=5)
    lru.set("long", "l", ttl_seconds=60)
    lru.set("forever", "f")

    clock.advance(5)
    assert lru.get("short") is None
    assert lru.get("long") == "l"
    assert lru.remaining_seconds("long") == pytest.approx(55)

    clock.advance(1000)
    assert lru.get("long") is None
    assert lru.get("forever") == "f"
    assert lru.remaining_seconds("forever") == float("inf")
    assert lru.stats()["expirations"] == 2


def test_non_positive_ttl_stores_nothing_and_drops_the_old_value() -> None:
    lru: LRUCache[str, int] = LRUCache(4)
    lru.set("k", 1)
    lru.set("k", 2, ttl_seconds=0)
    assert lru.get("k") is None
    assert len(lru) == 0


def test_eviction_callback_sees_capacity_evictions_and_expiries_not_explicit_removals(
    clock: FakeClock,
) -> None:
    removed: list[tuple[str, int]] = []
    lru: LRUCache[str, int] = LRUCache(2, clock=clock, on_evict=lambda k, v: removed.append((k, v)))
    lru.set("a", 1, ttl_seconds=1)
    lru.set("b", 2)
    lru.set("c", 3)  # evicts "a"
    lru.set("d", 4, ttl_seconds=1)  # evicts "b"
    clock.advance(2)
    assert lru.purge_expired() == 1  # "d"
    assert lru.pop("c") == 3
    lru.set("e", 5)
    lru.discard_many(["e"])

    assert removed == [("a", 1), ("b", 2), ("d", 4)]


def test_callback_may_reenter_the_cache_without_deadlock() -> None:
    seen: list[bool] = []
    holder: list[LRUCache[str, int]] = []
    # The callback takes the LRU lock again: it must run after the lock is released.
    lru: LRUCache[str, int] = LRUCache(1, on_evict=lambda key, value: seen.append(key in holder[0]))
    holder.append(lru)
    lru.set("a", 1)
    lru.set("b", 2)
    assert seen == [False]


def test_capacity_holds_under_concurrent_writers() -> None:
    lru: LRUCache[int, int] = LRUCache(50)

    def writer(offset: int) -> None:
        for i in range(2000):
            lru.set(offset + i, i, ttl_seconds=60)
            lru.get(offset + i // 2)

    threads = [threading.Thread(target=writer, args=(n * 10_000,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(lru) == 50
    assert lru.stats()["evictions"] == 8 * 2000 - 50


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        LRUCache(0)


def test_approx_size_counts_every_item_however_deep_or_long() -> None:
    text = "x" * 100_000
    deep: object = text
    for _ in range(20):  # deeper than any cut-off would look
        deep = {"data": deep}
    long_tail = ["ok"] * 64 + ["y" * 25_000 for _ in range(36)]  # small first items, the bulk after them
    assert approx_size(deep) > 100_000
    assert approx_size(long_tail) > 36 * 25_000
    shared = ["z" * 10_000]
    assert approx_size([shared, shared]) < 2 * 10_000  # one list met twice counts once


def test_a_byte_bound_cache_holds_what_it_says_for_values_a_sample_would_misjudge() -> None:
    lru: LRUCache[int, object] = LRUCache(1000, max_bytes=1_000_000)
    for i in range(50):
        value = ["ok"] * 64 + ["y" * 25_000 + str(i) for _ in range(36)]
        lru.set(i, value, size=approx_size(value))
    assert lru.stats()["bytes"] <= 1_000_000
    assert len(lru) == 1  # each value is about 0.9 MB: only the newest fits
