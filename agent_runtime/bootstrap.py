"""Build a ready-to-serve ``Runtime``: built-in tools, the two composite tools, the config.

``build_runtime()`` is what the HTTP service, the CLI and the gunicorn entry
point call. Besides the built-in tools it registers two small composite tools
the default agents need:

- ``merge_results``: reciprocal-rank fusion of several search hit lists (the
  ``researcher`` merges keyword and semantic search with it);
- ``write_answer``: an answer to a question from search passages, written by
  the LLM when ``llm_chat`` is configured and as an extractive summary
  otherwise (or when the LLM call fails), so the ``writer`` agent works
  with or without a model.

Example::

    >>> runtime = build_runtime(metrics_registry=None)          # doctest: +SKIP
    >>> runtime.handle("why is the cache hit rate dropping?").agent  # doctest: +SKIP
    'diagnostics'
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

from prometheus_client import REGISTRY, CollectorRegistry

from agent_runtime.builtin_tools import BuiltinToolSettings, extractive_summary, register_builtin_tools
from agent_runtime.config.loader import load_config
from agent_runtime.config.models import RuntimeConfig, ToolSpec
from agent_runtime.errors import ToolError
from agent_runtime.registry import ToolFunc, ToolRegistry
from agent_runtime.runtime import Runtime
from agent_runtime.telemetry.listener import ListenerSet, RuntimeListener

# Reciprocal-rank-fusion constant (Cormack et al.): damps the weight of the very first ranks.
RRF_K: Final = 60
MAX_PASSAGES: Final = 50
ANSWER_SYSTEM_PROMPT: Final = (
    "You are an on-call assistant. Answer the question using only the numbered passages; "
    "cite them as [n]. If they do not contain the answer, say so."
)


class _LateListeners(ListenerSet):
    """Receives events from tools registered before the runtime exists; forwards them once it does."""

    def attach(self, listener: RuntimeListener) -> None:
        self._listeners = (listener,)


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
    """The ``write_answer`` tool: an LLM answer when one is configured, an extractive summary otherwise."""

    def __init__(self, llm: ToolFunc | None) -> None:
        self._llm = llm

    def __call__(self, question: str, passages: object, max_sentences: int = 4) -> dict[str, Any]:
        """``{"answer", "method", "sources"}``: the answer, ``llm`` or ``extractive``, the passage paths."""
        if not isinstance(question, str) or not question.strip():
            raise ToolError("question must be a non-empty string")
        hits = _hits(passages, "passages")
        sources = list(dict.fromkeys(str(hit.get("path", "")) for hit in hits if hit.get("path")))
        if not hits:
            return {"answer": "No passage matches the question.", "method": "none", "sources": []}
        note = None
        if self._llm is not None:
            numbered = "\n\n".join(f"[{i}] {hit.get('text', '')}" for i, hit in enumerate(hits, start=1))
            try:
                reply = self._llm(prompt=f"Question: {question}\n\nPassages:\n{numbered}", system=ANSWER_SYSTEM_PROMPT)
                return {"answer": reply["content"], "method": "llm", "sources": sources}
            except ToolError as exc:
                # The LLM is an enhancement: without it the answer degrades to the extractive one.
                note = f"LLM unavailable ({exc}); extractive summary instead"
        summary = extractive_summary(passages=hits, max_sentences=max_sentences)
        answer: dict[str, Any] = {"answer": summary["summary"], "method": "extractive", "sources": sources}
        if note:
            answer["note"] = note
        return answer


def register_composite_tools(registry: ToolRegistry) -> list[str]:
    """Register ``merge_results`` and ``write_answer`` (after the built-in tools); their names."""
    llm_tool = registry.get("llm_chat") if "llm_chat" in registry else None
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
        AnswerWriter(llm_tool.func if llm_tool else None),
    )
    return ["merge_results", "write_answer"]


def build_runtime(
    config_path: str | os.PathLike[str] | None = None,
    *,
    metrics_registry: CollectorRegistry | None = REGISTRY,
    builtin_settings: BuiltinToolSettings | None = None,
    listeners: Iterable[RuntimeListener] = (),
) -> Runtime:
    """A ``Runtime`` with the built-in and composite tools and the configuration loaded.

    ``config_path``: a YAML file, else ``$AGENT_RUNTIME_CONFIG``, else the
    bundled ``default.yaml``. ``builtin_settings``: where the corpus,
    Prometheus and the LLM are, else from ``AGENT_RUNTIME_*`` variables.
    Raises ``ConfigError`` naming the file, key and problem.
    """
    # The config is read first, so a broken file fails before any index is opened.
    config = _with_deployment_overrides(load_config(config_path), os.environ)
    settings = builtin_settings if builtin_settings is not None else BuiltinToolSettings.from_env()
    tools = ToolRegistry()
    relay = _LateListeners()
    register_builtin_tools(tools, settings, relay)
    register_composite_tools(tools)
    runtime = Runtime(config, tools=tools, listeners=listeners, metrics_registry=metrics_registry)
    relay.attach(runtime.listener)
    if settings.llm.is_configured and settings.llm.model:
        # The configured model and provider are bounded label values, not user input.
        runtime.guard.extend("gen_ai_request_model", (settings.llm.model,))
        runtime.guard.extend("gen_ai_provider_name", (settings.llm.provider,))
    return runtime


def _with_deployment_overrides(config: RuntimeConfig, environ: Mapping[str, str]) -> RuntimeConfig:
    """Apply ``AGENT_RUNTIME_REDIS_URL`` and ``AGENT_RUNTIME_CACHE_DIR`` (set per deployment, e.g. compose)."""
    cache = config.cache
    redis_url = environ.get("AGENT_RUNTIME_REDIS_URL")
    cache_dir = environ.get("AGENT_RUNTIME_CACHE_DIR")
    if redis_url:
        cache = replace(cache, redis_url=redis_url)
    if cache_dir:
        cache = replace(cache, directory=cache_dir)
    return config if cache is config.cache else replace(config, cache=cache)
