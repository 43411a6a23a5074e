"""The composite tools of ``agent_runtime.bootstrap`` and the default runtime it builds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent_runtime.bootstrap import AnswerWriter, build_runtime, merge_results
from agent_runtime.builtin_tools import BuiltinToolSettings
from agent_runtime.config.loader import DEFAULT_CONFIG_PATH
from agent_runtime.errors import RetryableToolError, ToolError

HIT_A = {
    "path": "runbooks/A.md",
    "heading": "A",
    "text": "Cache hit rate dropped after a deploy. It recovers as it warms.",
}
HIT_B = {
    "path": "docs/b.md",
    "heading": "B",
    "text": "Breakers open when a dependency fails. Reset them when it is back.",
}
HIT_C = {"path": "docs/c.md", "heading": "C", "text": "Routing scores agents."}


def test_merge_ranks_passages_found_by_both_searches_first() -> None:
    merged = merge_results([[HIT_C, HIT_A], [HIT_A, HIT_B]], top_k=3)
    assert [hit["path"] for hit in merged] == ["runbooks/A.md", "docs/c.md", "docs/b.md"]
    assert merged[0]["found_by"] == 2 and merged[1]["found_by"] == 1
    assert merged[0]["score"] == pytest.approx(1 / 62 + 1 / 61, abs=1e-6)


def test_merge_skips_a_missing_list_and_honours_top_k() -> None:
    assert [hit["path"] for hit in merge_results([None, [HIT_A, HIT_B, HIT_C]], top_k=2)] == [
        "runbooks/A.md",
        "docs/b.md",
    ]


@pytest.mark.parametrize(
    ("results", "top_k"), [("not a list", 5), ([["not a hit"]], 5), ([[HIT_A]], 0), ([[HIT_A]], True)]
)
def test_merge_refuses_bad_arguments(results: Any, top_k: Any) -> None:
    with pytest.raises(ToolError):
        merge_results(results, top_k=top_k)


def test_answer_without_an_llm_is_extractive() -> None:
    answer = AnswerWriter(None)("why did the cache hit rate drop?", [HIT_A, HIT_B], max_sentences=1)
    assert answer["method"] == "extractive"
    assert answer["sources"] == ["runbooks/A.md", "docs/b.md"]
    assert answer["answer"].count(".") == 1


def test_answer_with_an_llm_sends_numbered_passages() -> None:
    prompts: list[dict[str, Any]] = []

    def llm(**kwargs: Any) -> dict[str, Any]:
        prompts.append(kwargs)
        return {"content": "The deploy flushed it [1]."}

    answer = AnswerWriter(llm)("why?", [HIT_A])
    assert answer == {"answer": "The deploy flushed it [1].", "method": "llm", "sources": ["runbooks/A.md"]}
    assert "[1] Cache hit rate dropped" in prompts[0]["prompt"] and "cite them" in prompts[0]["system"]


def test_answer_falls_back_to_extractive_when_the_llm_fails() -> None:
    def llm(**kwargs: Any) -> dict[str, Any]:
        raise RetryableToolError("llm down")

    answer = AnswerWriter(llm)("why?", [HIT_A])
    assert answer["method"] == "extractive"
    assert "llm down" in answer["note"]


def test_answer_with_no_passages_says_so() -> None:
    assert AnswerWriter(None)("why?", [])["method"] == "none"


def test_default_runtime_registers_builtin_and_composite_tools(tmp_path: Path) -> None:
    settings = BuiltinToolSettings(corpus_paths=(str(tmp_path),), index_path=str(tmp_path / "index.sqlite3"))
    runtime = build_runtime(DEFAULT_CONFIG_PATH, metrics_registry=None, builtin_settings=settings)
    try:
        assert {"knowledge_search", "vector_search", "merge_results", "write_answer"} <= set(runtime.tools.names())
        assert "llm_chat" not in runtime.tools
        assert [agent.name for agent in runtime.config.agents] == ["diagnostics", "researcher", "fetcher", "writer"]
        assert runtime.tools.get("promql_query").spec.retry.max_attempts == 3
    finally:
        runtime.close()


@pytest.mark.parametrize(
    ("task", "agent"),
    [
        ("why is the cache hit rate dropping?", "diagnostics"),
        ("p95 latency is high and the error budget is burning", "diagnostics"),
        ("the circuit breaker for promql_query is open", "diagnostics"),
        ("how does routing work?", "researcher"),
        ("explain the architecture of the tool pipeline", "researcher"),
        ("fetch the status page", "fetcher"),
        ("write a postmortem draft", "writer"),
        ("sing me a song", "researcher"),
    ],
)
def test_default_agents_route_on_call_questions(tmp_path: Path, task: str, agent: str) -> None:
    settings = BuiltinToolSettings(corpus_paths=(str(tmp_path),), index_path=str(tmp_path / "index.sqlite3"))
    runtime = build_runtime(DEFAULT_CONFIG_PATH, metrics_registry=None, builtin_settings=settings)
    try:
        assert runtime.route(task).agent == agent
    finally:
        runtime.close()
