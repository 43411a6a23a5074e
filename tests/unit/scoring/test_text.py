"""Normalisation, stemming, fingerprints and SimHash sketches."""

from __future__ import annotations

import hashlib
import random
import re

import pytest

from agent_runtime.scoring.analysis import TaskAnalyser
from agent_runtime.scoring.text import (
    SKETCH_BITS,
    canonical_words,
    fingerprint,
    hamming,
    max_distance,
    normalise,
    normalised_words,
    shingles,
    simhash,
    similarity,
    sketch,
    stem,
    tokenise,
)


def test_normalise_casefolds_strips_punctuation_and_collapses_whitespace() -> None:
    assert normalise("  Why\tis the CACHE -- hit_rate\n so LOW?! ") == "why is the cache hit rate so low"


def test_fingerprint_is_stable_across_case_whitespace_and_punctuation() -> None:
    base = fingerprint("Why is the cache hit rate so low?")
    assert re.fullmatch(r"[0-9a-f]{32}", base)
    assert fingerprint("why   is the CACHE hit-rate so low") == base
    assert fingerprint("\nWhy is the cache, hit rate, so low!!") == base


def test_fingerprint_distinguishes_different_words_and_order() -> None:
    assert fingerprint("why is the cache hit rate so low") != fingerprint("why is the cache miss rate so low")
    assert fingerprint("cache hit rate") != fingerprint("rate hit cache")


def test_fingerprint_is_a_fixed_hash_not_python_hash() -> None:
    # A pinned value: stable across processes, unlike the per-process salted ``hash()``.
    assert fingerprint("Cache Hit Rate") == "2fd968d2efd7e275238c5479b82ac9d7"


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (("cache", "caches", "cached", "caching"), "cach"),
        (("query", "queries"), "query"),
        (("index", "indexes"), "index"),
        (("run", "running"), "run"),
        (("rate", "rates", "rated"), "rat"),
    ],
)
def test_stem_folds_inflections_together(words: tuple[str, ...], expected: str) -> None:
    assert {stem(word) for word in words} == {expected}


def test_stem_leaves_short_words_numbers_and_non_plurals_alone() -> None:
    assert stem("ttl") == "ttl"
    assert stem("http2s") == "http2s"
    assert stem("status") == "status"
    assert stem("class") == "class"


def test_tokenise_drops_stop_words_but_canonical_words_keep_them() -> None:
    assert tokenise("What is the TTL of the caches?") == ["ttl", "cach"]
    assert canonical_words("What is the TTL of the caches?") == ["what", "is", "the", "ttl", "of", "the", "cach"]


PARAPHRASES = [
    ("why is the cache hit rate so low", "the cache hit rate is low, why?"),
    ("which postgres query is missing an index", "Which Postgres queries are missing indexes?"),
    ("write a summary report of the incident", "please write me a summary report for the incident"),
]
UNRELATED = [
    ("why is the cache hit rate so low", "write a summary report of the incident"),
    ("which postgres query is missing an index", "the prometheus alert rule pages too often"),
    ("plan the migration steps", "redis eviction policy and ttl"),
]


@pytest.mark.parametrize(("a", "b"), PARAPHRASES)
def test_paraphrases_have_high_similarity(a: str, b: str) -> None:
    assert fingerprint(a) != fingerprint(b)
    assert similarity(sketch(tokenise(a)), sketch(tokenise(b))) >= 0.9


@pytest.mark.parametrize(("a", "b"), UNRELATED)
def test_unrelated_texts_have_low_similarity(a: str, b: str) -> None:
    assert similarity(sketch(tokenise(a)), sketch(tokenise(b))) <= 0.7


def test_vocabulary_weighting_keeps_filler_words_from_separating_paraphrases(analyser: TaskAnalyser) -> None:
    a, b = "why is the cache hit rate so low", "why are the cache hit rates so low today"
    unweighted = similarity(sketch(tokenise(a)), sketch(tokenise(b)))
    weighted = similarity(analyser.analyse(a).sketch, analyser.analyse(b).sketch)
    assert weighted >= 0.9 > unweighted


def test_shingles_are_weighted_unigrams_and_bigrams() -> None:
    features = shingles(["cach", "hit", "rat"], {"cach": 1.0, "hit": 1.0, "rat": 0.5})
    assert features == {"cach": 1.0, "hit": 1.0, "rat": 0.5, "cach hit": 0.5, "hit rat": 0.375}


def test_simhash_is_deterministic_and_zero_without_features() -> None:
    assert simhash({}) == 0
    assert simhash({"noise": 0.0}) == 0
    value = simhash({"cach": 1.0, "hit": 0.5})
    assert value == simhash({"hit": 0.5, "cach": 1.0})
    assert 0 <= value < 1 << SKETCH_BITS


def test_hamming_similarity_and_max_distance() -> None:
    assert hamming(0b1011, 0b0010) == 2
    assert similarity(5, 5) == 1.0
    assert similarity(0, (1 << 64) - 1) == 0.0
    assert max_distance(0.9) == 6
    assert max_distance(1.0) == 0
    assert max_distance(0.0) == SKETCH_BITS


def reference_simhash(features: dict[str, float]) -> int:
    """The textbook per-bit vote, for checking the packed-lane implementation."""
    votes = [0] * SKETCH_BITS
    for name, weight in features.items():
        units = round(weight * 256)
        digest = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big")
        for bit in range(SKETCH_BITS):
            votes[bit] += units if digest >> bit & 1 else -units
    return sum(1 << bit for bit, vote in enumerate(votes) if vote > 0)


def test_simhash_equals_the_textbook_per_bit_vote() -> None:
    rng = random.Random(3)
    for _ in range(200):
        features = {
            f"f{rng.randint(0, 300)}": rng.choice([1.0, 0.25, 0.5, 0.375, 2.1]) for _ in range(rng.randint(1, 30))
        }
        assert simhash(features) == reference_simhash(features)


def test_simhash_survives_huge_total_weight() -> None:
    features = {f"w{i}": 1.0 for i in range(50)}
    assert simhash({name: weight * 1e9 for name, weight in features.items()}) == simhash(features)


def test_normalised_words_split_as_normalise_then_split() -> None:
    rng = random.Random(11)
    alphabet = "aZ _-,.!?\t\n1\u00e9\u00c9\uff21\u2160\u00df\ufb01\u3000x_y"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(20)))
        assert normalised_words(text) == normalise(text).split(), repr(text)
