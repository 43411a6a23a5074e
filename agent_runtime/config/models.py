"""Typed configuration: agents, tools and runtime settings.

These frozen dataclasses are what the YAML loader produces and what the
Python API accepts; every component reads its settings from them.

Example::

    >>> from agent_runtime.config.models import ToolSpec, RetryPolicy
    >>> ToolSpec(name="search", timeout_seconds=2.0, retry=RetryPolicy(max_attempts=3)).cacheable
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agent_runtime.vocabulary import AgentKind, ToolCallMode


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter for retryable tool errors.

    ``max_attempts`` counts the first call: 1 means no retries.
    """

    max_attempts: int = 1
    initial_backoff_seconds: float = 0.05
    max_backoff_seconds: float = 2.0
    multiplier: float = 2.0
    jitter_seconds: float = 0.05


@dataclass(frozen=True)
class BreakerSettings:
    """Circuit breaker thresholds for one tool.

    The breaker opens when, over the last ``window_size`` calls (and at least
    ``minimum_calls`` of them), the failure rate reaches
    ``failure_rate_threshold``, or after ``consecutive_failures`` failures in a
    row. It stays open ``open_seconds``, multiplied by ``backoff_multiplier``
    each time a half-open probe fails, up to ``max_open_seconds``.
    """

    enabled: bool = True
    failure_rate_threshold: float = 0.5
    window_size: int = 20
    minimum_calls: int = 10
    consecutive_failures: int = 5
    open_seconds: float = 5.0
    max_open_seconds: float = 60.0
    backoff_multiplier: float = 2.0
    half_open_max_calls: int = 1


@dataclass(frozen=True)
class ToolSpec:
    """How one tool is called: timeout, caching, retries, breaker, fallback.

    ``fallback`` names another registered tool called with the same arguments
    when the breaker is open or retries are spent. ``cost_per_call`` (in the
    currency of your choice) is accounted as saved when a cache hit avoids it.
    ``inline`` runs the tool in the calling thread instead of on the
    pipeline's worker pool: no thread hand-off, but no hard timeout either
    (``timeout_seconds`` is not enforced; the task deadline is checked before
    each attempt). For in-process tools that return quickly; the default
    keeps the pool.
    """

    name: str
    description: str = ""
    timeout_seconds: float = 10.0
    cacheable: bool = True
    ttl_seconds: float = 300.0
    cache_tags: tuple[str, ...] = ()
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    fallback: str | None = None
    cost_per_call: float = 0.0
    inline: bool = False


@dataclass(frozen=True)
class PlanStep:
    """One tool call in an agent's plan.

    ``args`` values are templates: ``{task}`` is replaced by the task text,
    ``{context[key]}`` by a context value, and a value that is exactly
    ``$steps.<id>`` by the result of that earlier step (which makes it a
    dependency). ``depends_on`` adds ordering without passing results.
    """

    id: str
    tool: str
    args: Mapping[str, Any] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class Specialty:
    """A domain an agent is good at, with weighted keywords (weights 0..1+)."""

    domain: str
    keywords: Mapping[str, float]
    weight: float = 1.0


@dataclass(frozen=True)
class AgentSpec:
    """An agent: what it is good at, which tools it may use and how it decides.

    ``kind`` says how: ``plan`` runs ``plan`` (a fixed tool DAG); ``llm``
    runs a model loop over ``tools`` with ``instructions``, at most
    ``max_steps`` model turns and ``token_budget`` tokens per task
    (``model`` overrides the configured model name, ``tool_call_mode``
    chooses native tool calls, one ``json_schema`` action a turn, or
    ``auto``); ``python`` runs the function registered under the agent's
    name. ``tools`` may name other agents (agents as tools) for ``llm`` and
    ``python`` agents. ``tool_schemas`` declares a tool's argument JSON
    schema where deriving it from the function's signature is not enough.
    """

    name: str
    description: str = ""
    specialties: tuple[Specialty, ...] = ()
    tools: tuple[str, ...] = ()
    base_confidence: float = 0.5
    plan: tuple[PlanStep, ...] = ()
    kind: AgentKind = AgentKind.PLAN
    instructions: str = ""
    max_steps: int = 6
    token_budget: int = 16000
    max_tokens_per_turn: int = 256
    max_invalid_actions: int = 2
    model: str | None = None
    tool_call_mode: ToolCallMode = ToolCallMode.AUTO
    tool_schemas: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class RoutingSettings:
    """Router thresholds.

    ``min_confidence``: below it the fallback chain is used. ``planning_agent``
    receives tasks that the planning gate stops: complexity at or above
    ``planning_complexity`` or confidence below ``planning_confidence``.

    The decision cache and the analysis memo are bounded twice: entries
    (``decision_cache_size``, ``analysis_cache_size``) and about as many bytes
    as ``decision_cache_max_bytes`` and ``analysis_cache_max_bytes`` (each of
    the memo's two maps). A decision grows with the agents a task concerns,
    so with many agents the byte bound is the one that holds.
    """

    min_confidence: float = 0.3
    fallback_chain: tuple[str, ...] = ()
    planning_agent: str | None = None
    planning_complexity: float = 0.8
    planning_confidence: float = 0.45
    similarity_threshold: float = 0.9
    decision_cache_size: int = 4096
    analysis_cache_size: int = 4096
    decision_cache_max_bytes: int = 3 * 1024 * 1024
    analysis_cache_max_bytes: int = 3 * 1024 * 1024
    experience_weight: float = 0.15
    experience_half_life_seconds: float = 600.0


@dataclass(frozen=True)
class CacheSettings:
    """Tool cache layers. ``directory`` None disables L1; ``redis_url`` None disables L2.

    The in-process L0 is bounded twice: ``l0_max_entries`` entries and about
    ``l0_max_bytes`` bytes of keys and results (results vary in size).

    A failing L1 or L2 is skipped for ``layer_initial_backoff_seconds``,
    doubled by each further failure up to ``layer_max_backoff_seconds``;
    when the period ends it is re-opened and probed, with or without calls.
    """

    l0_max_entries: int = 2048
    l0_max_bytes: int = 64 * 1024 * 1024
    directory: str | None = None
    l1_size_limit_bytes: int = 256 * 1024 * 1024
    redis_url: str | None = None
    redis_timeout_seconds: float = 0.25
    layer_initial_backoff_seconds: float = 5.0
    layer_max_backoff_seconds: float = 60.0
    warm_top_n: int = 50


@dataclass(frozen=True)
class ExecutionSettings:
    """Task admission and tool-call concurrency."""

    max_in_flight_tasks: int = 64
    max_parallel_tool_calls: int = 8
    task_timeout_seconds: float = 30.0
    max_agent_depth: int = 3


@dataclass(frozen=True)
class ModelPrice:
    """What a model costs, in dollars per million tokens."""

    input_per_million: float = 0.0
    output_per_million: float = 0.0

    def cost(self, input_tokens: int, output_tokens: int) -> tuple[float, float]:
        """(input, output) cost in dollars of one call."""
        return input_tokens * self.input_per_million / 1e6, output_tokens * self.output_per_million / 1e6


@dataclass(frozen=True)
class RuntimeConfig:
    """The whole configuration: agents, tools and settings.

    ``version`` changes whenever the configuration is (re)loaded with different
    content; cached routing decisions made under another version are dropped.
    """

    agents: tuple[AgentSpec, ...] = ()
    tools: tuple[ToolSpec, ...] = ()
    routing: RoutingSettings = field(default_factory=RoutingSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)
    execution: ExecutionSettings = field(default_factory=ExecutionSettings)
    stage_targets_seconds: Mapping[str, float] = field(default_factory=dict)
    model_prices: Mapping[str, ModelPrice] = field(default_factory=dict)
    version: str = "0"
    source: str | None = None

    def agent(self, name: str) -> AgentSpec | None:
        """The agent called ``name``, or None."""
        for spec in self.agents:
            if spec.name == name:
                return spec
        return None

    def tool(self, name: str) -> ToolSpec | None:
        """The tool called ``name``, or None."""
        for spec in self.tools:
            if spec.name == name:
                return spec
        return None
