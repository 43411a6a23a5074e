"""Composite tools: built from other tools' results.

- ``merge_results``: reciprocal-rank fusion of several search hit lists (the
  ``researcher`` merges keyword and semantic search with it);
- ``write_answer``: an answer to a question from search passages, written by
  the model (the ``llm_chat`` tool, through the pipeline) when one is
  configured and as an extractive summary otherwise or when the model call
  fails, so the ``writer`` agent works with or without a model.

Example::

    >>> merge_results([[{"path": "a.md", "text": "x"}], [{"path": "a.md", "text": "x"}]])[0]["found_by"]
    2
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from agent_runtime.builtin_tools.summarise import extractive_summary
from agent_runtime.config.models import ToolSpec
from agent_runtime.errors import ToolError
from agent_runtime.registry import ToolRegistry
from agent_runtime.tools.services import ToolServices
from agent_runtime.vocabulary import MODEL_TOOL, ToolOutcome

# Reciprocal-rank-fusion constant (Cormack et al.): damps the weight of the very first ranks.
RRF_K: Final = 60
MAX_PASSAGES: Final = 50
ANSWER_SYSTEM_PROMPT: Final = (
    "You are an on-call assistant. Answer the question using only the numbered passages; "
    "cite them as [n]. If they do not contain the answer, say so."
)


def _hits(value: object, name: str) -> list[Mapping[str, Any]]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ToolError(f"{name} must be a list of search hits, got {type(value).__name__}")
    hits = [hit for hit in value if isinstance(hit, Mapping)]
    if len(hits) != len(value):
        raise ToolError(f"{name} must contain only search hit objects")
    return hits


def merge_results(results: Sequence[object], top_k: int = 5) -> list[dict[str, Any]]:
    """Fuse several ranked hit lists into one, best first, each passage once.

    A passage (same path, heading and text) scores ``sum(1 / (RRF_K + rank))``
    over the lists it appears in, so agreement between searches ranks it up;
    ``found_by`` counts the lists that returned it. ``None`` entries (a search
    that produced nothing) are skipped.
    """
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_PASSAGES:
        raise ToolError(f"top_k must be an integer between 1 and {MAX_PASSAGES}, got {top_k!r}")
    if not isinstance(results, Sequence) or isinstance(results, str):
        raise ToolError("results must be a list of hit lists")
    fused: dict[tuple[str, str, str], dict[str, Any]] = {}
    for number, ranked in enumerate(results):
        if ranked is None:
            continue
        for rank, hit in enumerate(_hits(ranked, f"results[{number}]"), start=1):
            key = (str(hit.get("path", "")), str(hit.get("heading", "")), str(hit.get("text", "")))
            entry = fused.setdefault(key, {**hit, "score": 0.0, "found_by": 0})
            entry["score"] += 1.0 / (RRF_K + rank)
            entry["found_by"] += 1
    ranked_hits = sorted(fused.values(), key=lambda hit: -hit["score"])[:top_k]
    return [{**hit, "score": round(hit["score"], 6)} for hit in ranked_hits]


class AnswerWriter:
    """The ``write_answer`` tool: an LLM answer when one is configured, an extractive summary otherwise.

    The model is called as the ``llm_chat`` tool through the runtime's
    pipeline (``services``), so the call is cached, broken, retried and
    counted like any other.
    """

    def __init__(self, services: ToolServices | None) -> None:
        self._services = services

    def __call__(self, question: str, passages: object, max_sentences: int = 4) -> dict[str, Any]:
        """``{"answer", "method", "sources"}``: the answer, ``llm`` or ``extractive``, the passage paths."""
        if not isinstance(question, str) or not question.strip():
            raise ToolError("question must be a non-empty string")
        hits = _hits(passages, "passages")
        sources = list(dict.fromkeys(str(hit.get("path", "")) for hit in hits if hit.get("path")))
        if not hits:
            return {"answer": "No passage matches the question.", "method": "none", "sources": []}
        note = None
        if self._services is not None:
            numbered = "\n\n".join(f"[{i}] {hit.get('text', '')}" for i, hit in enumerate(hits, start=1))
            report = self._services.call(
                MODEL_TOOL,
                {"prompt": f"Question: {question}\n\nPassages:\n{numbered}", "system": ANSWER_SYSTEM_PROMPT},
            )
            reply = report.result if report.outcome in ToolOutcome.usable() else None
            if isinstance(reply, Mapping) and isinstance(reply.get("content"), str) and reply["content"].strip():
                return {"answer": reply["content"], "method": "llm", "sources": sources}
            # The LLM is an enhancement: without it the answer degrades to the extractive one.
            note = f"LLM unavailable ({report.error or 'empty answer'}); extractive summary instead"
        summary = extractive_summary(passages=hits, max_sentences=max_sentences)
        answer: dict[str, Any] = {"answer": summary["summary"], "method": "extractive", "sources": sources}
        if note:
            answer["note"] = note
        return answer


def register_composite_tools(registry: ToolRegistry, services: ToolServices) -> list[str]:
    """Register ``merge_results`` and ``write_answer`` (after the built-in tools); their names.

    ``write_answer`` uses the model through ``services`` when ``llm_chat`` is registered.
    """
    llm_tool = registry.get(MODEL_TOOL) if MODEL_TOOL in registry else None
    registry.register(
        ToolSpec(
            name="merge_results",
            description="Fuse ranked search hit lists (reciprocal rank fusion).",
            timeout_seconds=1.0,
            cacheable=False,
        ),
        merge_results,
    )
    registry.register(
        ToolSpec(
            name="write_answer",
            description="Answer a question from search passages: LLM when configured, else extractive.",
            # Just above the LLM's own timeout, so its error (which names the cause) wins the race.
            timeout_seconds=llm_tool.spec.timeout_seconds + 1.0 if llm_tool else 2.0,
            ttl_seconds=600.0,
            cache_tags=("corpus", "text"),
            cost_per_call=llm_tool.spec.cost_per_call if llm_tool else 0.0,
        ),
        AnswerWriter(services if llm_tool else None),
    )
    return ["merge_results", "write_answer"]
