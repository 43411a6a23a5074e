"""The decision cache: exact and paraphrase look-ups, LRU bound, version invalidation."""

from __future__ import annotations

import random

import pytest

from agent_runtime.config.models import RoutingSettings
from agent_runtime.results import RoutingDecision
from agent_runtime.routing.decision_cache import CacheVersions, DecisionCache, band_layout
from agent_runtime.scoring.text import SKETCH_BITS, hamming, max_distance
from tests.unit.scoring.helpers import RecordingListener

V1 = CacheVersions("cfg#0", 0, 0)


def decision(agent: str) -> RoutingDecision:
    return RoutingDecision(agent, 0.8, "scored", f"chose {agent}")


def flip(value: int, bits: list[int]) -> int:
    for bit in bits:
        value ^= 1 << bit
    return value


def test_exact_hit_and_miss_are_reported() -> None:
    listener = RecordingListener()
    cache = DecisionCache(8, 0.9, listener)
    assert cache.get("fp", V1) is None
    cache.put("fp", 123, decision("writer"), V1)
    hit = cache.get("fp", V1)
    assert hit is not None and hit.agent == "writer"
    assert listener.lookups == [("decision", "exact", False), ("decision", "exact", True)]


def test_bounded_lru_evicts_the_least_recently_used() -> None:
    cache = DecisionCache(2, 0.9)
    cache.put("a", 1, decision("a"), V1)
    cache.put("b", 2, decision("b"), V1)
    cache.get("a", V1)
    cache.put("c", 3, decision("c"), V1)
    assert len(cache) == 2
    assert cache.get("b", V1) is None
    assert cache.get("a", V1) is not None and cache.get("c", V1) is not None


def test_evicted_entries_leave_the_similarity_index() -> None:
    cache = DecisionCache(1, 0.9)
    cache.put("a", 0, decision("a"), V1)
    cache.put("b", (1 << 64) - 1, decision("b"), V1)
    assert cache.get_similar(1, V1) is None  # "a" was evicted, and with it its buckets
    hit = cache.get_similar((1 << 64) - 2, V1)
    assert hit is not None and hit.fingerprint == "b"


@pytest.mark.parametrize(
    "changed",
    [CacheVersions("cfg#1", 0, 0), CacheVersions("cfg#0", 1, 0), CacheVersions("cfg#0", 0, 1)],
)
def test_any_version_change_without_terms_drops_every_entry(changed: CacheVersions) -> None:
    cache = DecisionCache(8, 0.9)
    cache.put("a", 5, decision("a"), V1)
    cache.put("b", 6, decision("b"), V1)
    assert cache.get("a", changed) is None
    assert len(cache) == 0
    assert cache.get_similar(5, changed) is None
    assert cache.get("b", V1) is None  # gone for good, not just hidden


TERMS = {"x": 0.2, "y": 0.1}


def test_a_new_epoch_drops_only_what_depends_on_an_agent_whose_term_moved() -> None:
    cache = DecisionCache(8, 0.9)
    before = CacheVersions("cfg#0", 0, 3, TERMS)
    after = CacheVersions("cfg#0", 0, 4, {**TERMS, "x": 0.3})
    near = flip(0b1011, [7])
    cache.put("on-x", 0b1011, decision("x"), before, depends_on=("x", "z"))
    cache.put("on-y", 0b1011 << 20, decision("y"), before, depends_on=("y",))
    cache.put("on-all", 0b1011 << 40, decision("w"), before)  # no dependencies named: every agent's
    hit = cache.get_similar(near, before)
    assert hit is not None and hit.fingerprint == "on-x"  # remembered as an answer
    assert cache.get("on-y", after) is not None
    assert (cache.get("on-x", after), cache.get("on-all", after), len(cache)) == (None, None, 1)
    assert cache.get_similar(near, after) is None  # the remembered answer went with its entry
    cache.put("on-x", 0b1011, decision("x"), after, depends_on=("x",))
    assert cache.get("on-y", after) is not None and cache.get("on-x", after) is not None


@pytest.mark.parametrize(
    ("old", "new"),
    [({"x": -0.1}, {"x": -0.2}), ({"x": 0.1}, {"x": -0.1}), ({}, {"x": -0.1})],
    ids=["deeper", "turned", "appeared"],
)
def test_a_negative_term_moving_drops_every_entry(old: dict[str, float], new: dict[str, float]) -> None:
    cache = DecisionCache(8, 0.9)
    cache.put("on-y", 5, decision("y"), CacheVersions("cfg#0", 0, 1, old), depends_on=("y",))
    assert cache.get("on-y", CacheVersions("cfg#0", 0, 2, new)) is None
    assert len(cache) == 0


def test_similar_hit_within_threshold_and_miss_beyond() -> None:
    listener = RecordingListener()
    cache = DecisionCache(8, 0.9, listener)
    base = random.Random(7).getrandbits(64)
    cache.put("fp", base, decision("writer"), V1)
    near = cache.get_similar(flip(base, [0, 17, 33, 50, 61, 63]), V1)  # 6 bits: similarity 0.906
    assert near is not None
    assert (near.decision.agent, near.fingerprint) == ("writer", "fp")
    assert near.similarity == pytest.approx(1 - 6 / 64)
    assert cache.get_similar(flip(base, [0, 9, 17, 33, 50, 61, 63]), V1) is None  # 7 bits: 0.89
    assert listener.lookups == [("decision", "similar", True), ("decision", "similar", False)]


def test_similar_lookup_prefers_the_closest_then_the_smallest_fingerprint() -> None:
    cache = DecisionCache(8, 0.9)
    cache.put("far", flip(0, [1, 2, 3]), decision("far"), V1)
    cache.put("near-b", flip(0, [4]), decision("b"), V1)
    cache.put("near-a", flip(0, [5]), decision("a"), V1)
    hit = cache.get_similar(0, V1)
    assert hit is not None and hit.fingerprint == "near-a"


def test_entries_stored_without_similar_are_exact_only() -> None:
    cache = DecisionCache(8, 0.9)
    cache.put("fp", 42, decision("writer"), V1, similar=False)
    assert cache.get_similar(42, V1) is None
    assert cache.get("fp", V1) is not None


def test_overwriting_an_entry_reindexes_it() -> None:
    cache = DecisionCache(8, 0.9)
    cache.put("fp", 0, decision("old"), V1)
    cache.put("fp", (1 << 64) - 1, decision("new"), V1, similar=False)
    assert cache.get_similar(0, V1) is None
    assert len(cache) == 1


def test_banded_lookup_finds_exactly_what_a_linear_scan_finds() -> None:
    rng = random.Random(42)
    cache = DecisionCache(5000, 0.9)
    limit = max_distance(0.9)
    sketches: dict[str, int] = {}
    for i in range(2000):
        value = rng.getrandbits(64)
        sketches[f"fp{i:04d}"] = value
        cache.put(f"fp{i:04d}", value, decision("x"), V1)
    probes = [flip(value, rng.sample(range(64), rng.randint(0, 9))) for value in list(sketches.values())[:300]]
    probes += [rng.getrandbits(64) for _ in range(100)]
    for probe in probes:
        within = [(hamming(probe, s), fp) for fp, s in sketches.items() if hamming(probe, s) <= limit]
        hit = cache.get_similar(probe, V1)
        if within:
            assert hit is not None and hit.fingerprint == min(within)[1]
        else:
            assert hit is None


def test_band_layout_covers_all_bits_with_threshold_plus_one_bands() -> None:
    for threshold in (1.0, 0.95, 0.9, 0.8):
        layout = band_layout(threshold)
        assert len(layout) == min(16, max_distance(threshold) + 1)
        assert sum(bin(mask).count("1") for _, mask in layout) == SKETCH_BITS
        combined = 0
        for shift, mask in layout:
            assert combined & (mask << shift) == 0
            combined |= mask << shift
        assert combined == (1 << SKETCH_BITS) - 1


def test_similarity_can_be_disabled_and_size_zero_caches_nothing() -> None:
    listener = RecordingListener()
    off = DecisionCache(8, 0.0, listener)
    off.put("fp", 1, decision("x"), V1)
    assert not off.similar_enabled and off.band_count == 0
    assert off.get_similar(1, V1) is None
    assert listener.lookups == []
    empty = DecisionCache(0, 0.9)
    empty.put("fp", 1, decision("x"), V1)
    assert len(empty) == 0 and empty.get("fp", V1) is None


def test_reconfigure_and_from_settings() -> None:
    cache = DecisionCache.from_settings(RoutingSettings(decision_cache_size=3, similarity_threshold=0.95))
    assert (cache.max_entries, cache.similarity_threshold, cache.band_count) == (3, 0.95, 4)
    cache.put("fp", 1, decision("x"), V1)
    cache.reconfigure(10, 0.9)
    assert (len(cache), cache.max_entries, cache.band_count) == (0, 10, 7)
    with pytest.raises(ValueError):
        DecisionCache(-1)


def test_entries_sharing_a_sketch_are_verified_once_and_unindexed_one_by_one() -> None:
    cache = DecisionCache(2, 0.9)
    cache.put("fp-b", 99, decision("b"), V1)
    cache.put("fp-a", 99, decision("a"), V1)
    hit = cache.get_similar(98, V1)
    assert hit is not None and hit.fingerprint == "fp-a"  # smallest fingerprint on a tie
    far = (1 << 64) - 1  # 60 bits away from 99
    cache.put("fp-c", far, decision("c"), V1)  # evicts the least recent: fp-b
    hit = cache.get_similar(99, V1)
    assert hit is not None and hit.fingerprint == "fp-a"
    cache.put("fp-d", far ^ 1, decision("d"), V1)  # evicts fp-c (fp-a was just used)
    cache.put("fp-e", far ^ 2, decision("e"), V1)  # evicts fp-a: sketch 99 leaves the index
    assert cache.get_similar(99, V1) is None
