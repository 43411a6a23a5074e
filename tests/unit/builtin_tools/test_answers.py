"""The composite tools: rank fusion and answers written by the model or extractively."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from agent_runtime.builtin_tools.answers import AnswerWriter, merge_results
from agent_runtime.errors import RetryableToolError, ToolError
from agent_runtime.telemetry.listener import RuntimeListener
from agent_runtime.tools.pipeline import CallReport
from agent_runtime.tools.services import ToolServices
from agent_runtime.vocabulary import ToolOutcome

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


def services_answering(report: CallReport, calls: list[tuple[str, Mapping[str, Any]]]) -> ToolServices:
    services = ToolServices()

    def call(tool: str, args: Mapping[str, Any]) -> CallReport:
        calls.append((tool, args))
        return report

    services.bind(RuntimeListener(), call)
    return services


def test_answer_with_an_llm_calls_it_through_the_pipeline_with_numbered_passages() -> None:
    calls: list[tuple[str, Mapping[str, Any]]] = []
    services = services_answering(CallReport(ToolOutcome.SUCCESS, {"content": "The deploy flushed it [1]."}), calls)
    answer = AnswerWriter(services)("why?", [HIT_A])
    assert answer == {"answer": "The deploy flushed it [1].", "method": "llm", "sources": ["runbooks/A.md"]}
    tool, args = calls[0]
    assert tool == "llm_chat"
    assert "[1] Cache hit rate dropped" in args["prompt"] and "cite them" in args["system"]


def test_answer_falls_back_to_extractive_when_the_llm_fails() -> None:
    report = CallReport(ToolOutcome.SHORT_CIRCUITED, error=RetryableToolError("llm down"))
    answer = AnswerWriter(services_answering(report, []))("why?", [HIT_A])
    assert answer["method"] == "extractive"
    assert "llm down" in answer["note"]


def test_answer_with_no_passages_says_so() -> None:
    assert AnswerWriter(None)("why?", [])["method"] == "none"


