"""Memos on the routing fast path: answered paraphrases, byte bounds."""

from __future__ import annotations

import random

from agent_runtime.results import AgentScore, RoutingDecision
from agent_runtime.routing.decision_cache import MAX_ANSWERS, CacheVersions, DecisionCache
from agent_runtime.scoring.analysis import TaskAnalyser
from tests.unit.scoring.helpers import RecordingListener

V1 = CacheVersions("cfg#0", 0, 0)


def decision(agent: str, explanation: str = "chose") -> RoutingDecision:
    return RoutingDecision(agent, 0.8, "scored", explanation, candidates=(AgentScore(agent, 0.8, explanation),))


def test_a_paraphrase_answered_again_under_an_unchanged_index_gets_the_same_answer_and_events() -> None:
    listener = RecordingListener()
    cache = DecisionCache(16, 0.9, listener)
    cache.put("a", 0b1011, decision("writer"), V1)
    first = cache.get_similar(0b1001, V1)
    again = cache.get_similar(0b1001, V1)
    assert first is not None and again is first
    assert listener.lookups == [("decision", "similar", True)] * 2
    cache.put("b", 0b1001, decision("other"), V1)  # the index changed: asked afresh
    fresh = cache.get_similar(0b1001, V1)
    assert fresh is not None and fresh.fingerprint == "b" and fresh.decision.agent == "other"


def test_a_full_answer_memo_forgets_its_oldest_answer_only() -> None:
    cache = DecisionCache(4 * MAX_ANSWERS, 0.9)
    rng = random.Random(3)
    sketches = [rng.getrandbits(64) for _ in range(MAX_ANSWERS + 1)]
    for number, sketch in enumerate(sketches):
        cache.put(f"fp{number}", sketch, decision(f"agent{number}"), V1)
    answers = [cache.get_similar(sketch, V1) for sketch in sketches[:MAX_ANSWERS]]
    cache.get_similar(sketches[-1], V1)  # one answer too many
    assert all(cache.get_similar(s, V1) is a for s, a in zip(sketches[1:MAX_ANSWERS], answers[1:], strict=True))
    again = cache.get_similar(sketches[0], V1)
    assert again is not answers[0] and again == answers[0]  # searched afresh, the same answer


def test_the_decision_cache_is_bounded_in_bytes() -> None:
    cache = DecisionCache(10_000, 0.9, max_bytes=64 * 1024)
    for number in range(1000):
        cache.put(f"fp{number}", number, decision("writer", "x" * 2000), V1)
    assert 5 < len(cache) < 40
    assert cache.get("fp999", V1) is not None
    assert cache.get("fp0", V1) is None


def test_the_analysis_memo_is_bounded_in_bytes() -> None:
    analyser = TaskAnalyser({"cache": {"cache": 1.0}}, cache_size=10_000, max_bytes=256 * 1024)
    for number in range(500):
        analyser.analyse(f"cache problem number {number} " + "filler " * 200)
    assert 5 < len(analyser) < 100


def test_a_remembered_answer_survives_changes_far_from_it_and_not_near_it() -> None:
    cache = DecisionCache(64, 0.9)
    cache.put("a", 0b1011, decision("writer"), V1)
    first = cache.get_similar(0b1001, V1)
    cache.put("far", (1 << 64) - 1, decision("other"), V1)  # 60+ bits away: cannot change the answer
    assert cache.get_similar(0b1001, V1) is first
    cache.put("near", 0b1001, decision("closer"), V1)  # distance 0: the answer changes
    fresh = cache.get_similar(0b1001, V1)
    assert fresh is not None and fresh.fingerprint == "near"


def test_remembered_answers_agree_with_a_fresh_search_on_a_random_stream() -> None:
    import random

    rng = random.Random(3)
    remembering = DecisionCache(200, 0.9)
    centers = [rng.getrandbits(64) for _ in range(20)]
    for step in range(3000):
        sketch = rng.choice(centers) ^ (1 << rng.randrange(64)) ^ (1 << rng.randrange(64))
        if rng.random() < 0.3:
            remembering.put(f"fp{step}", sketch, decision(f"agent{step % 7}"), V1, similar=rng.random() < 0.8)
        got = remembering.get_similar(sketch, V1)
        with remembering._lock:
            expected = remembering._search(sketch)
        assert (got is None) == (expected is None)
        if got is not None and expected is not None:
            assert (got.fingerprint, got.decision, got.similarity) == (
                expected.fingerprint,
                expected.decision,
                expected.similarity,
            )


def test_remembered_answers_agree_with_a_fresh_search_when_bands_are_capped() -> None:
    import random

    rng = random.Random(5)
    cache = DecisionCache(200, 0.7)  # 19 bits apart: more than MAX_BANDS bands would be needed
    centers = [rng.getrandbits(64) for _ in range(10)]
    for step in range(1500):
        sketch = rng.choice(centers)
        for bit in rng.sample(range(64), rng.randrange(8)):
            sketch ^= 1 << bit
        if rng.random() < 0.3:
            cache.put(f"fp{step}", sketch, decision(f"agent{step % 5}"), V1)
        got = cache.get_similar(sketch, V1)
        with cache._lock:
            expected = cache._search(sketch)
        assert (None if got is None else got.fingerprint) == (None if expected is None else expected.fingerprint)
