"""Memos on the routing fast path: answered paraphrases, byte bounds."""

from __future__ import annotations

from agent_runtime.results import AgentScore, RoutingDecision
from agent_runtime.routing.decision_cache import CacheVersions, DecisionCache
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


def test_the_decision_cache_is_bounded_in_bytes() -> None:
    cache = DecisionCache(10_000, 0.9, max_bytes=64 * 1024)
    for number in range(1000):
        cache.put(f"fp{number}", number, decision("writer", "x" * 2000), V1)
    assert 5 < len(cache) < 40
    assert cache.get("fp999", V1) is not None
    assert cache.get("fp0", V1) is None


def test_the_analysis_memo_is_bounded_in_bytes() -> None:
    analyser = TaskAnalyser({"cache": {"cache": 1.0}}, cache_size=10_000, max_bytes=64 * 1024)
    for number in range(500):
        analyser.analyse(f"cache problem number {number} " + "filler " * 200)
    assert 5 < len(analyser) < 100
