"""The built-in tools: corpus search, PromQL, guarded HTTP fetch, LLM chat, summaries.

``register_builtin_tools`` puts them in a ``ToolRegistry`` with sensible
``ToolSpec`` defaults (timeouts just above the tools' own network timeouts,
cache TTLs and tags, three attempts for network tools, ``vector_search``
falling back to ``knowledge_search``). A YAML config can override any of
these per tool name afterwards through ``ToolRegistry.configure``.

=====================  ================================================  ============================
tool                   arguments                                         returns
=====================  ================================================  ============================
knowledge_search       query, top_k=5                                    list of passage hits
vector_search          query, top_k=5                                    list of passage hits
promql_query           query, time=None                                  compact Prometheus result
promql_range_query     query, start, end, step                           compact Prometheus result
http_fetch             url                                               status, content type, text
llm_chat               prompt | messages, system, model, temperature,    content, tool_calls, finish_reason,
                       max_tokens, tools, tool_choice, response_format   model, usage, cost_dollars
                                                                         (only when configured)
extractive_summary     text | passages, max_sentences=3                  summary, sentences
=====================  ================================================  ============================

Example::

    >>> from agent_runtime.registry import ToolRegistry
    >>> from agent_runtime.telemetry.listener import RuntimeListener
    >>> registry = ToolRegistry()
    >>> names = register_builtin_tools(registry, BuiltinToolSettings(corpus_paths=()), RuntimeListener())
    >>> "llm_chat" in names, registry.get("vector_search").spec.fallback
    (False, 'knowledge_search')
"""

from __future__ import annotations

from pathlib import Path

from agent_runtime.builtin_tools.corpus import Corpus
from agent_runtime.builtin_tools.http_fetch import HttpFetcher
from agent_runtime.builtin_tools.knowledge_search import KnowledgeSearch
from agent_runtime.builtin_tools.llm_chat import LlmChat, ModelRequestError
from agent_runtime.builtin_tools.llm_request import LLM_CHAT_PARAMETERS
from agent_runtime.builtin_tools.llm_response import cost_of
from agent_runtime.builtin_tools.promql import PrometheusClient
from agent_runtime.builtin_tools.settings import BuiltinToolSettings, LlmSettings, ModelPrice
from agent_runtime.builtin_tools.summarise import extractive_summary
from agent_runtime.builtin_tools.vector_search import VectorSearch
from agent_runtime.config.models import RetryPolicy, ToolSpec
from agent_runtime.registry import RegisteredTool, ToolFunc, ToolRegistry
from agent_runtime.telemetry.listener import RuntimeListener
from agent_runtime.vocabulary import CacheName

__all__ = [
    "BuiltinToolSettings",
    "Corpus",
    "HttpFetcher",
    "KnowledgeSearch",
    "LlmChat",
    "LlmSettings",
    "ModelPrice",
    "ModelRequestError",
    "PrometheusClient",
    "VectorSearch",
    "extractive_summary",
    "register_builtin_tools",
]

NETWORK_RETRY = RetryPolicy(max_attempts=3, initial_backoff_seconds=0.2, max_backoff_seconds=2.0)
# The pipeline's timeout sits just above the tool's own read timeout, so the tool's
# error (which says what timed out) normally wins the race.
_TIMEOUT_MARGIN_SECONDS = 1.0
# How long the tool cache keeps a deterministic model answer (a YAML tools.llm_chat entry can change it).
LLM_CACHE_TTL_SECONDS = 3600.0


def _network_timeout(connect_seconds: float, read_seconds: float) -> float:
    return connect_seconds + read_seconds + _TIMEOUT_MARGIN_SECONDS


def register_builtin_tools(
    registry: ToolRegistry, settings: BuiltinToolSettings, listener: RuntimeListener
) -> list[str]:
    """Register the built-in tools in ``registry``; the names registered, in order.

    ``llm_chat`` is registered only when ``settings.llm`` is configured, with
    its cache look-ups counted under cache ``llm``, calls with temperature > 0
    kept out of the cache (unless ``settings.llm.cache_nondeterministic``) and
    each cached answer's ``cost_dollars`` counted as saved on a hit. The
    corpus index is opened here (created if missing) but documents are read
    on the first search.
    """
    corpus = Corpus(
        settings.resolved_corpus_paths(),
        Path(settings.index_path).expanduser() if settings.index_path else None,
        root=settings.resolved_corpus_root(),
        refresh_interval_seconds=settings.index_refresh_seconds,
    )
    prometheus = PrometheusClient(
        settings.prometheus_url,
        connect_timeout_seconds=settings.prometheus_connect_timeout_seconds,
        read_timeout_seconds=settings.prometheus_read_timeout_seconds,
        max_series=settings.prometheus_max_series,
    )
    fetcher = HttpFetcher(
        settings.http_allowed_hosts,
        allow_private=settings.allow_private,
        max_response_bytes=settings.max_response_bytes,
        max_redirects=settings.http_max_redirects,
        connect_timeout_seconds=settings.http_connect_timeout_seconds,
        read_timeout_seconds=settings.http_read_timeout_seconds,
    )
    prometheus_timeout = _network_timeout(
        settings.prometheus_connect_timeout_seconds, settings.prometheus_read_timeout_seconds
    )
    # A redirect chain is several requests: allow each hop its full timeout.
    fetch_timeout = (settings.http_max_redirects + 1) * _network_timeout(
        settings.http_connect_timeout_seconds, settings.http_read_timeout_seconds
    )
    tools: list[tuple[ToolSpec, ToolFunc]] = [
        (
            ToolSpec(
                name="knowledge_search",
                description="Search runbooks and docs (BM25 full-text); returns the best passages.",
                timeout_seconds=5.0,
                ttl_seconds=60.0,
                cache_tags=("corpus",),
            ),
            KnowledgeSearch(corpus),
        ),
        (
            ToolSpec(
                name="vector_search",
                description="Find runbook and doc passages similar in meaning to a query (TF-IDF cosine).",
                timeout_seconds=10.0,
                ttl_seconds=60.0,
                cache_tags=("corpus",),
                fallback="knowledge_search",
            ),
            VectorSearch(corpus),
        ),
        (
            ToolSpec(
                name="promql_query",
                description="Run an instant PromQL query against Prometheus.",
                timeout_seconds=prometheus_timeout,
                ttl_seconds=15.0,
                cache_tags=("prometheus",),
                retry=NETWORK_RETRY,
            ),
            prometheus.query,
        ),
        (
            ToolSpec(
                name="promql_range_query",
                description="Run a PromQL range query (start, end, step) against Prometheus.",
                timeout_seconds=prometheus_timeout,
                ttl_seconds=30.0,
                cache_tags=("prometheus",),
                retry=NETWORK_RETRY,
            ),
            prometheus.query_range,
        ),
        (
            ToolSpec(
                name="http_fetch",
                description="GET a text document from an allow-listed host.",
                timeout_seconds=fetch_timeout,
                ttl_seconds=300.0,
                cache_tags=("web",),
                retry=NETWORK_RETRY,
            ),
            fetcher,
        ),
        (
            ToolSpec(
                name="extractive_summary",
                description="Summarise text or search passages by picking their most representative sentences.",
                timeout_seconds=2.0,
                ttl_seconds=3600.0,
                cache_tags=("text",),
            ),
            extractive_summary,
        ),
    ]
    registered = [RegisteredTool(spec, func) for spec, func in tools]
    llm = LlmChat(settings.llm, listener)
    if llm.is_configured():
        registered.append(
            RegisteredTool(
                ToolSpec(
                    name="llm_chat",
                    description="Ask the configured chat model (OpenAI-compatible API).",
                    timeout_seconds=_network_timeout(
                        settings.llm.connect_timeout_seconds, settings.llm.read_timeout_seconds
                    ),
                    ttl_seconds=LLM_CACHE_TTL_SECONDS,
                    cache_tags=("llm",),
                    retry=NETWORK_RETRY,
                ),
                llm,
                cache_name=CacheName.LLM,
                bypass_cache=llm.bypass_cache,
                cost_of=cost_of,
                parameters=LLM_CHAT_PARAMETERS,
            )
        )
    for tool in registered:
        registry.register(tool)
    return [tool.spec.name for tool in registered]
