"""extractive_summary: representative sentences, original order, flexible input."""

from __future__ import annotations

import pytest

from agent_runtime.builtin_tools.summarise import extractive_summary, split_sentences
from agent_runtime.errors import ToolError

INCIDENT = (
    "The cache hit rate dropped sharply after the deploy. "
    "Engineers noticed dashboards loading slowly. "
    "The deploy flushed the Redis cache, so every tool call missed the cache. "
    "Someone ordered pizza for the team. "
    "Warming the cache from popular calls restored the hit rate within minutes."
)


def test_picks_the_sentences_about_the_main_topic_in_original_order() -> None:
    result = extractive_summary(INCIDENT, max_sentences=2)
    assert result["sentences"] == [
        "The cache hit rate dropped sharply after the deploy.",
        "Warming the cache from popular calls restored the hit rate within minutes.",
    ]
    assert result["summary"] == " ".join(result["sentences"])
    assert result["total_sentences"] == 5


def test_short_input_is_returned_whole() -> None:
    assert extractive_summary("Only one sentence here.", max_sentences=3)["sentences"] == ["Only one sentence here."]


def test_empty_text_gives_an_empty_summary() -> None:
    assert extractive_summary("   ") == {"summary": "", "sentences": [], "total_sentences": 0}


def test_near_duplicate_sentences_are_not_both_chosen() -> None:
    text = (
        "The breaker opened on the payment tool. The breaker opened on the payment tool again. "
        "The payment tool breaker closed after a probe."
    )
    sentences = extractive_summary(text, max_sentences=2)["sentences"]
    assert len(sentences) == 2
    assert "The payment tool breaker closed after a probe." in sentences


def test_accepts_search_hits_strings_and_result_objects() -> None:
    hits = [{"path": "a.md", "text": "Latency rose on the writer agent."}, {"text": "Latency fell after scaling."}]
    from_hits = extractive_summary(passages=hits, max_sentences=5)
    assert from_hits["total_sentences"] == 2
    assert extractive_summary(passages=[h["text"] for h in hits])["sentences"] == from_hits["sentences"]
    assert extractive_summary(passages={"results": hits})["sentences"] == from_hits["sentences"]


def test_markdown_markers_are_removed() -> None:
    text = "## Mitigation\n\n- Restart the **worker** pool.\n- Check `redis` memory.\n"
    assert split_sentences(text) == ["Mitigation", "Restart the worker pool.", "Check redis memory."]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"text": "a", "passages": ["b"]},
        {"text": 5},
        {"passages": "not a list"},
        {"passages": [{"no_text": 1}]},
        {"text": "a", "max_sentences": 0},
    ],
)
def test_bad_input_is_a_tool_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ToolError):
        extractive_summary(**kwargs)  # type: ignore[arg-type]
