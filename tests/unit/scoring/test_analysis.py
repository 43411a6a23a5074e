"""Task analysis: weights, complexity, sketch, and memoisation by fingerprint."""

from __future__ import annotations

import threading

import pytest

from agent_runtime.scoring.analysis import (
    KNOWN_TERM_WEIGHT,
    UNKNOWN_TERM_WEIGHT,
    TaskAnalyser,
    complexity,
)
from agent_runtime.scoring.matrix import CapabilityMatrix
from tests.unit.scoring.helpers import AGENTS, RecordingListener


def test_analysis_weights_known_terms_above_unknown_ones(analyser: TaskAnalyser) -> None:
    analysis = analyser.analyse("Why is the cache hit rate so low?")
    assert analysis.tokens == ("cach", "hit", "rat", "low")
    assert analysis.term_weights["cach"] == KNOWN_TERM_WEIGHT
    assert analysis.term_weights["low"] == UNKNOWN_TERM_WEIGHT
    assert analysis.top_domain == "cache"
    assert 0.8 < analysis.domain_weights["cache"] < 0.9
    assert analysis.surface["rat"] == "rate"


def test_repeated_terms_count_sub_linearly(analyser: TaskAnalyser) -> None:
    once = analyser.analyse("cache").term_weights["cach"]
    thrice = analyser.analyse("cache cache cache").term_weights["cach"]
    assert once < thrice < 3 * once


def test_domain_weights_split_between_domains_and_are_diluted_by_filler(analyser: TaskAnalyser) -> None:
    mixed = analyser.analyse("write a report about cache eviction")
    assert set(mixed.domain_weights) == {"writing", "cache"}
    focused = analyser.analyse("cache eviction")
    diluted = analyser.analyse("cache eviction happened somewhere around lunchtime yesterday")
    assert diluted.domain_weights["cache"] < focused.domain_weights["cache"]
    assert analyser.analyse("hello there").domain_weights == {}


def test_memoised_by_fingerprint_returns_same_object_and_reports_hits(
    analyser: TaskAnalyser, listener: RecordingListener
) -> None:
    first = analyser.analyse("Why is the cache hit rate so low?")
    again = analyser.analyse("Why is the cache hit rate so low?")
    assert again is first
    assert listener.lookups == [("analysis", "exact", False), ("analysis", "exact", True)]

    respelled = analyser.analyse("why is the CACHE hit rate so low")
    assert listener.lookups[-1] == ("analysis", "exact", True)
    assert respelled.text == "why is the CACHE hit rate so low"
    assert (respelled.fingerprint, respelled.term_weights) == (first.fingerprint, first.term_weights)


def test_memo_is_bounded_lru() -> None:
    listener = RecordingListener()
    analyser = TaskAnalyser(CapabilityMatrix(AGENTS), cache_size=2, listener=listener)
    analyser.analyse("cache one")
    analyser.analyse("cache two")
    analyser.analyse("cache one")  # refresh: "two" is now least recent
    analyser.analyse("cache three")
    assert len(analyser) == 2
    analyser.analyse("cache one")
    analyser.analyse("cache two")
    assert [hit for _, _, hit in listener.lookups] == [False, False, True, False, True, False]


def test_zero_cache_size_disables_memoisation() -> None:
    analyser = TaskAnalyser(CapabilityMatrix(AGENTS), cache_size=0)
    assert analyser.analyse("cache") is not analyser.analyse("cache")
    assert len(analyser) == 0


def test_domain_keyword_map_is_an_accepted_vocabulary() -> None:
    analyser = TaskAnalyser({"cache": {"cache": 1.0, "hit rate": 0.8}})
    assert analyser.analyse("caching hit rates").top_domain == "cache"
    assert analyser.vocabulary_id == TaskAnalyser({"cache": {"hit rate": 0.8, "cache": 1.0}}).vocabulary_id


def test_complexity_orders_simple_below_compound_multi_domain(analyser: TaskAnalyser) -> None:
    simple = analyser.analyse("why is the cache slow")
    medium = analyser.analyse("check the cache eviction and write a report")
    compound = analyser.analyse(
        "compare the cache hit rate with the postgres query latency and then write a summary report, "
        "also explain why the prometheus alert paged and how we coordinate a plan to fix it"
    )
    assert 0.0 <= simple.complexity < medium.complexity < compound.complexity <= 1.0
    assert simple.complexity < 0.15
    assert compound.complexity >= 0.8


def test_complexity_is_bounded_and_saturates() -> None:
    words = ["and", "why"] * 100
    domains = {f"d{i}": 0.2 for i in range(10)}
    assert complexity(words, domains) == pytest.approx(1.0)
    assert complexity([], {}) == 0.0


def test_concurrent_analysis_is_consistent(analyser: TaskAnalyser) -> None:
    texts = [f"cache eviction number {i % 7}" for i in range(200)]
    results: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        for text in texts:
            fp = analyser.analyse(text).fingerprint
            with lock:
                results.append(fp)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 800
    assert len(set(results)) == 7
    assert len(analyser) == 7


def test_long_texts_are_memoised_by_fingerprint_only(listener: RecordingListener) -> None:
    analyser = TaskAnalyser(CapabilityMatrix(AGENTS), cache_size=4, listener=listener)
    long_text = "cache " * 2000
    first = analyser.analyse(long_text)
    assert analyser.analyse(long_text) is first
    assert listener.lookups == [("analysis", "exact", False), ("analysis", "exact", True)]


def test_sketch_and_surface_are_derived_on_first_use_and_kept_across_respellings(analyser: TaskAnalyser) -> None:
    from agent_runtime.scoring.text import sketch, surface_forms

    first = analyser.analyse("Caching: why is the cache hit rate so low?")
    assert first.sketch == sketch(first.tokens, first.term_weights)
    respelled = analyser.analyse("caching why is the CACHE hit rate so low")
    assert respelled is not first and respelled.sketch == first.sketch
    words = ["caching", "why", "is", "the", "cache", "hit", "rate", "so", "low"]
    assert dict(respelled.surface) == surface_forms(words)
