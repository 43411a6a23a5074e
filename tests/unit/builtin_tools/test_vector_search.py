"""vector_search: hashed TF-IDF cosine ranking over the shared passages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agent_runtime.builtin_tools.corpus import Corpus
from agent_runtime.builtin_tools.vector_search import VectorIndex, VectorSearch, features
from agent_runtime.errors import ToolError


@pytest.fixture()
def search(corpus: Corpus) -> VectorSearch:
    return VectorSearch(corpus, dimension=2**14)


def test_top_k_hits_with_scores_best_first(search: VectorSearch) -> None:
    hits = search("cache hit ratio", top_k=3)
    assert len(hits) == 3
    assert set(hits[0]) == {"path", "heading", "snippet", "text", "score"}
    assert hits[0]["path"] == "runbooks/CacheHitRateLow.md"
    scores = [hit["score"] for hit in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(0 < score <= 1 for score in scores)
    json.dumps(hits)


def test_paraphrase_finds_the_right_runbook(search: VectorSearch) -> None:
    # No passage says "latencies" or "sluggish"; sub-word features connect "latencies" to "latency".
    hits = search("requests sluggish, latencies above objective")
    assert hits[0]["path"] == "runbooks/TaskLatencyHigh.md"


def test_word_forms_meet_through_character_ngrams() -> None:
    index = VectorIndex.build(
        [(1, "a.md", "A", "throttling of the upstream API"), (2, "b.md", "B", "disk usage growing")],
        dimension=2**12,
    )
    assert [hit.passage_id for hit in index.search("throttled", 2)] == [1]


def test_unrelated_query_returns_nothing(search: VectorSearch) -> None:
    assert search("zzzqqq") == []


def test_identical_text_scores_one() -> None:
    index = VectorIndex.build([(7, "a.md", "", "breaker opened after failures")], dimension=2**10)
    [hit] = index.search("breaker opened after failures", 1)
    assert hit.passage_id == 7
    assert hit.score == pytest.approx(1.0, abs=1e-5)


def test_index_is_rebuilt_when_the_corpus_changes(search: VectorSearch, corpus_dir: Path) -> None:
    first = search.index()
    assert search.index() is first  # unchanged corpus: same index
    (corpus_dir / "docs" / "gpu.md").write_text("# GPU\n\nThe accelerator ran out of memory.\n")
    assert search("accelerator memory")[0]["path"] == "docs/gpu.md"
    assert search.index() is not first
    (corpus_dir / "docs" / "gpu.md").unlink()
    assert search("accelerator memory") == []


def test_empty_corpus_returns_nothing(tmp_path: Path) -> None:
    store = Corpus([tmp_path / "none"], tmp_path / "i.sqlite3", refresh_interval_seconds=0.0)
    try:
        assert VectorSearch(store, dimension=2**10)("anything") == []
    finally:
        store.close()


def test_rows_are_unit_length_and_features_hash_stably() -> None:
    index = VectorIndex.build([(1, "a", "h", "alpha beta beta"), (2, "b", "h", "gamma")], dimension=2**10)
    norms = np.sqrt(np.bincount(index._row_of, weights=index._data.astype(np.float64) ** 2))
    assert norms == pytest.approx([1.0, 1.0])
    assert features("Alpha beta", 2**10) == features("alpha BETA", 2**10)
    assert features("the of and", 2**10) == {}  # stop words carry no meaning


def test_dimension_must_be_a_power_of_two() -> None:
    with pytest.raises(ValueError, match="power of two"):
        VectorIndex.build([], dimension=1000)


def test_bad_arguments_are_tool_errors(search: VectorSearch) -> None:
    with pytest.raises(ToolError, match="query"):
        search("")
    with pytest.raises(ToolError, match="top_k"):
        search("cache", top_k=-1)


def test_reindexing_by_another_process_triggers_a_rebuild(corpus: Corpus, corpus_dir: Path) -> None:
    """Two stores on one index file stand for two worker processes sharing it."""
    search = VectorSearch(corpus, dimension=2**12)
    search("warm up")
    other = Corpus([corpus_dir / "runbooks", corpus_dir / "docs"], corpus.index_path, root=corpus_dir)
    try:
        (corpus_dir / "docs" / "quota.md").write_text("# Quota\n\nThe quota was exhausted.\n")
        other.refresh(force=True)  # the other process indexes the new file first...
    finally:
        other.close()
    # ...so this one finds no file changes itself, but sees the generation move and rebuilds.
    assert search("quota exhausted")[0]["path"] == "docs/quota.md"
