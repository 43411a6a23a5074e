"""knowledge_search: BM25 ranking, result shape, incremental re-indexing, hostile queries."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agent_runtime.builtin_tools.corpus import Corpus
from agent_runtime.builtin_tools.knowledge_search import KnowledgeSearch, fts_query
from agent_runtime.errors import ToolError


@pytest.fixture()
def search(corpus: Corpus) -> KnowledgeSearch:
    return KnowledgeSearch(corpus)


def test_best_passage_comes_first(search: KnowledgeSearch) -> None:
    hits = search("deploy flushed redis")
    assert hits[0]["path"] == "runbooks/CacheHitRateLow.md"
    assert hits[0]["heading"] == "CacheHitRateLow > Diagnosis"


def test_heading_words_count_towards_the_rank(search: KnowledgeSearch) -> None:
    hits = search("breaker mitigation")
    assert (hits[0]["path"], hits[0]["heading"]) == (
        "runbooks/CircuitBreakerOpen.md",
        "CircuitBreakerOpen > Mitigation",
    )


def test_hits_have_path_heading_snippet_text_and_descending_scores(search: KnowledgeSearch) -> None:
    hits = search("cache", top_k=3)
    assert 1 <= len(hits) <= 3
    assert set(hits[0]) == {"path", "heading", "snippet", "text", "score"}
    assert "**cache**" in hits[0]["snippet"].lower()
    assert "cache" in hits[0]["text"].lower()
    scores = [hit["score"] for hit in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(score > 0 for score in scores)
    json.dumps(hits)  # tool results must be JSON-serialisable


def test_top_k_limits_and_accepts_numeric_strings(search: KnowledgeSearch) -> None:
    assert len(search("the", top_k="2")) == 2  # type: ignore[arg-type]


@pytest.mark.parametrize("top_k", [0, 51, "many", 2.5, None])
def test_bad_top_k_is_a_tool_error(search: KnowledgeSearch, top_k: object) -> None:
    with pytest.raises(ToolError, match="top_k"):
        search("cache", top_k=top_k)  # type: ignore[arg-type]


def test_metric_names_match_as_phrases(search: KnowledgeSearch) -> None:
    hits = search("agent_runtime_task_duration_seconds")
    assert hits[0]["path"] == "runbooks/TaskLatencyHigh.md"


def test_stemming_matches_word_forms(search: KnowledgeSearch) -> None:
    assert search("failing dependencies")[0]["path"] == "runbooks/CircuitBreakerOpen.md"


@pytest.mark.parametrize(
    ("query", "finds_cache"),
    [
        ('"', False),
        ('cache "unterminated', True),
        ("NEAR(cache redis", True),
        ("cache AND OR NOT", True),
        ("cache*", True),
        ("heading:cache", False),  # a column filter in FTS5 syntax; here the phrase "heading cache"
        ("body : redis", True),
        ("'); DROP TABLE passages; --", False),
        ("(((", False),
        ("^cache", True),
        ("+cache -redis", True),
        ("cache\x00redis", True),
        ("\ud800 cache", True),
        ("{cache}", True),
        ("cache || redis && 1=1", True),
    ],
)
def test_punctuation_in_queries_is_safe(search: KnowledgeSearch, query: str, finds_cache: bool) -> None:
    hits = search(query)
    assert isinstance(hits, list)
    if finds_cache:
        assert any("cache" in hit["text"].lower() or "redis" in hit["text"].lower() for hit in hits)


def test_a_query_without_words_returns_nothing(search: KnowledgeSearch) -> None:
    assert search("?!  --- ***") == []


def test_blank_query_is_a_tool_error(search: KnowledgeSearch) -> None:
    with pytest.raises(ToolError, match="query"):
        search("   ")


def test_fts_query_quotes_every_chunk_and_drops_stop_words() -> None:
    assert fts_query('the "cache" AND rate') == '"""cache""" OR "rate"'
    assert fts_query("the") == '"the"'  # nothing but stop words: keep them rather than match nothing
    assert fts_query("cache Cache CACHE") == '"cache"'


def test_edits_are_searchable_on_the_next_call(search: KnowledgeSearch, corpus_dir: Path) -> None:
    assert search("kubernetes") == []
    runbook = corpus_dir / "runbooks" / "TaskLatencyHigh.md"
    runbook.write_text("# TaskLatencyHigh\n\n## Mitigation\n\nScale the kubernetes deployment.\n")
    stat = runbook.stat()
    os.utime(runbook, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    assert search("kubernetes")[0]["path"] == "runbooks/TaskLatencyHigh.md"
    assert search("bottleneck report") == []  # the replaced text is gone from the index


def test_deleted_documents_disappear_from_results(search: KnowledgeSearch, corpus_dir: Path) -> None:
    assert search("breaker")[0]["path"] == "runbooks/CircuitBreakerOpen.md"
    (corpus_dir / "runbooks" / "CircuitBreakerOpen.md").unlink()
    assert all(hit["path"] != "runbooks/CircuitBreakerOpen.md" for hit in search("breaker"))
