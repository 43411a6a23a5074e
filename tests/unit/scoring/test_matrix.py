"""The capability matrix: an inverted index over agents' keywords."""

from __future__ import annotations

from agent_runtime.config.models import AgentSpec, Specialty
from agent_runtime.scoring.matrix import CapabilityMatrix, keyword_terms, term_domains
from tests.unit.scoring.helpers import AGENTS


def test_postings_list_every_agent_claiming_a_term() -> None:
    matrix = CapabilityMatrix(
        [
            AgentSpec("a", specialties=(Specialty("cache", {"cache": 1.0}),)),
            AgentSpec("b", specialties=(Specialty("ops", {"caches": 0.4, "deploy": 1.0}),)),
            AgentSpec("c", specialties=(Specialty("writing", {"write": 1.0}),)),
        ]
    )
    assert [(matrix.names[p.agent], p.domain, p.weight) for p in matrix.postings("cach")] == [
        ("a", "cache", 1.0),
        ("b", "ops", 0.4),
    ]
    heavy = CapabilityMatrix([AgentSpec("h", specialties=(Specialty("x", {"x": 2.5}),))])
    assert [(p.weight, p.capped) for p in heavy.postings("x")] == [(2.5, 1.0)]
    assert matrix.postings("unknown") == ()


def test_phrase_keywords_post_each_word_and_the_largest_weight_wins() -> None:
    assert keyword_terms({"hit rate": 0.9, "rate": 0.5, "ignored": 0.0}) == {"hit": 0.9, "rat": 0.9}
    spec = AgentSpec(
        "a",
        specialties=(Specialty("cache", {"rate": 0.3}), Specialty("metrics", {"rates": 0.8})),
    )
    (posting,) = CapabilityMatrix([spec]).postings("rat")
    assert (posting.domain, posting.weight) == ("metrics", 0.8)


def test_per_agent_aggregates_are_precomputed() -> None:
    matrix = CapabilityMatrix(AGENTS)
    cache = matrix.index("cache-expert")
    assert cache is not None
    # cache 1.0 + hit 0.9 + rate 0.9 + eviction 0.9 + ttl 0.8 + redis 0.7 + miss 0.7
    assert abs(matrix.keyword_totals[cache] - 5.9) < 1e-9
    assert matrix.domains[cache] == frozenset({"cache"})
    assert matrix.tools[cache] == ("cache_stats", "redis_info")
    assert "sql_query" in matrix.all_tools
    assert [i for i, _ in matrix.domain_agents("cache")] == [cache]
    assert matrix.index("nobody") is None


def test_terms_are_every_posted_term_and_covered_terms_keep_the_tasks_order() -> None:
    matrix = CapabilityMatrix(AGENTS)
    cache = matrix.index("cache-expert")
    assert cache is not None
    assert {"cach", "hit", "rat"} <= set(matrix.terms)
    assert all(matrix.postings(term) for term in matrix.terms)
    assert matrix.covered_terms(cache, ["weather", "hit", "cach"]) == ["hit", "cach"]


def test_vocabulary_maps_terms_to_domains_and_its_id_tracks_content() -> None:
    matrix = CapabilityMatrix(AGENTS)
    assert dict(matrix.vocabulary["cach"]) == {"cache": 1.0}
    assert matrix.vocabulary_id == CapabilityMatrix(AGENTS).vocabulary_id
    assert matrix.vocabulary_id != CapabilityMatrix(AGENTS[:-2]).vocabulary_id
    assert term_domains({"cache": {"Caching": 0.5}}) == {"cach": {"cache": 0.5}}
