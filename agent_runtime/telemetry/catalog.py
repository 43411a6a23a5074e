"""The metric catalog: every series the runtime exports, in one place.

This module is the single source of truth for metric names, types, labels,
help texts and histogram buckets. The runtime builds its collectors from it,
the rules and dashboard generators check their PromQL against it, and
``docs/metrics.md`` is rendered from it.

Example::

    >>> from agent_runtime.telemetry.catalog import CATALOG
    >>> CATALOG["agent_runtime_tasks_total"].labels
    ('agent', 'outcome')
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal

from agent_runtime.vocabulary import (
    AgentKind,
    BreakerState,
    CacheLayer,
    CacheName,
    CacheResult,
    InvalidAction,
    ModelError,
    RoutingSource,
    Stage,
    StopReason,
    TaskOutcome,
    TelemetrySignal,
    TokenType,
    ToolOutcome,
    values,
)

# How a gauge combines across gunicorn workers (prometheus_client multiprocess mode).
GaugeMode = Literal["livesum", "livemax", "livemin", "max", "min", "mostrecent", "livemostrecent"]


class MetricType(StrEnum):
    """Prometheus metric types used by the catalog."""

    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


# SLO thresholds sit exactly on a bucket boundary so that
# ``histogram_quantile`` and ``le``-based SLO ratios are exact at the target.
TASK_LATENCY_SLO_SECONDS: Final = 2.5
TOOL_LATENCY_TARGET_SECONDS: Final = 1.0

LATENCY_BUCKETS: Final[tuple[float, ...]] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
STAGE_BUCKETS: Final[tuple[float, ...]] = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
# Per-task counts of model turns and tool calls.
COUNT_BUCKETS: Final[tuple[float, ...]] = (0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50)
CONFIDENCE_BUCKETS: Final[tuple[float, ...]] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
# GenAI semantic-convention buckets (OpenTelemetry GenAI metrics spec).
GENAI_DURATION_BUCKETS: Final[tuple[float, ...]] = (
    0.01,
    0.02,
    0.04,
    0.08,
    0.16,
    0.32,
    0.64,
    1.28,
    2.56,
    5.12,
    10.24,
    20.48,
    40.96,
    81.92,
)
GENAI_TOKEN_BUCKETS: Final[tuple[float, ...]] = (
    1,
    4,
    16,
    64,
    256,
    1024,
    4096,
    16384,
    65536,
    262144,
    1048576,
    4194304,
    16777216,
    67108864,
)


@dataclass(frozen=True)
class MetricSpec:
    """One exported metric: its name as scraped, type, labels and help."""

    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()
    unit: str = ""
    multiprocess_mode: GaugeMode = "livesum"

    @property
    def base_name(self) -> str:
        """The name prometheus_client expects (counters without ``_total``)."""
        if self.type is MetricType.COUNTER and self.name.endswith("_total"):
            return self.name[: -len("_total")]
        return self.name

    @property
    def series_names(self) -> tuple[str, ...]:
        """Every sample name this metric produces in the text exposition."""
        if self.type is MetricType.HISTOGRAM:
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        if self.type is MetricType.COUNTER:
            return (self.name, f"{self.base_name}_created")
        return (self.name,)


# Fixed label enums, from the one vocabulary. Anything outside them is folded to ``other``.
TASK_OUTCOMES: Final = values(TaskOutcome)
ROUTING_SOURCES: Final = values(RoutingSource)
TOOL_OUTCOMES: Final = values(ToolOutcome)
CACHE_NAMES: Final = values(CacheName)
CACHE_LAYERS: Final = values(CacheLayer)
CACHE_RESULTS: Final = values(CacheResult)
BREAKER_STATES: Final = values(BreakerState)
STAGES: Final = values(Stage)
TELEMETRY_SIGNALS: Final = values(TelemetrySignal)
GENAI_TOKEN_TYPES: Final = values(TokenType)
AGENT_KINDS: Final = values(AgentKind)
STOP_REASONS: Final = values(StopReason)
INVALID_ACTIONS: Final = values(InvalidAction)
# A successful call has no error type: Prometheus shows the empty value as an absent label.
MODEL_ERROR_TYPES: Final = ("", *values(ModelError))
OTHER: Final = "other"

# Every label with a fixed set of values: the label guard and docs/metrics.md read this table.
ENUM_LABELS: Final[dict[str, tuple[str, ...]]] = {
    "outcome": (*TASK_OUTCOMES, *(o for o in TOOL_OUTCOMES if o not in TASK_OUTCOMES)),
    "source": ROUTING_SOURCES,
    "cache": CACHE_NAMES,
    "layer": CACHE_LAYERS,
    "result": CACHE_RESULTS,
    "to": BREAKER_STATES,
    "stage": STAGES,
    "signal": TELEMETRY_SIGNALS,
    "gen_ai_token_type": GENAI_TOKEN_TYPES,
    "kind": (*AGENT_KINDS, *INVALID_ACTIONS),
    "reason": STOP_REASONS,
    "error_type": MODEL_ERROR_TYPES,
}


_SPECS: Final[tuple[MetricSpec, ...]] = (
    MetricSpec(
        "agent_runtime_tasks_total",
        MetricType.COUNTER,
        "Tasks handled, by the agent they were routed to and their outcome.",
        ("agent", "outcome"),
    ),
    MetricSpec(
        "agent_runtime_task_duration_seconds",
        MetricType.HISTOGRAM,
        "Wall-clock time to handle one task, from admission to result.",
        ("agent",),
        LATENCY_BUCKETS,
        "seconds",
    ),
    MetricSpec(
        "agent_runtime_tasks_in_flight",
        MetricType.GAUGE,
        "Tasks currently being handled.",
    ),
    MetricSpec(
        "agent_runtime_tasks_in_flight_limit",
        MetricType.GAUGE,
        "The configured maximum number of tasks handled at once.",
    ),
    MetricSpec(
        "agent_runtime_stage_duration_seconds",
        MetricType.HISTOGRAM,
        "Time spent in one stage of the task pipeline.",
        ("stage",),
        STAGE_BUCKETS,
        "seconds",
    ),
    MetricSpec(
        "agent_runtime_routing_decisions_total",
        MetricType.COUNTER,
        "Routing decisions, by chosen agent and where the decision came from.",
        ("agent", "source"),
    ),
    MetricSpec(
        "agent_runtime_routing_fallbacks_total",
        MetricType.COUNTER,
        "Routing decisions that went to the fallback chain, fresh or served from the decision cache.",
        ("agent",),
    ),
    MetricSpec(
        "agent_runtime_routing_confidence",
        MetricType.HISTOGRAM,
        "Confidence (0..1) of the routing decision for each task.",
        ("agent",),
        CONFIDENCE_BUCKETS,
        "ratio",
    ),
    MetricSpec(
        "agent_runtime_tool_calls_total",
        MetricType.COUNTER,
        "Tool calls, by tool and outcome.",
        ("tool", "outcome"),
    ),
    MetricSpec(
        "agent_runtime_tool_duration_seconds",
        MetricType.HISTOGRAM,
        "Time for one tool call through the pipeline, cache hits included.",
        ("tool",),
        LATENCY_BUCKETS,
        "seconds",
    ),
    MetricSpec(
        "agent_runtime_tool_retries_total",
        MetricType.COUNTER,
        "Retry attempts made after a retryable tool failure.",
        ("tool",),
    ),
    MetricSpec(
        "agent_runtime_cache_requests_total",
        MetricType.COUNTER,
        "Cache look-ups, by cache, layer and result.",
        ("cache", "layer", "result"),
    ),
    MetricSpec(
        "agent_runtime_cache_saved_seconds_total",
        MetricType.COUNTER,
        "Seconds of work that cache hits saved, estimated from the original call.",
        ("cache",),
        unit="seconds",
    ),
    MetricSpec(
        "agent_runtime_circuit_breaker_state",
        MetricType.GAUGE,
        "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
        ("breaker",),
        multiprocess_mode="livemax",
    ),
    MetricSpec(
        "agent_runtime_circuit_breaker_transitions_total",
        MetricType.COUNTER,
        "Circuit breaker state transitions, by the state entered.",
        ("breaker", "to"),
    ),
    MetricSpec(
        "agent_runtime_telemetry_spans_dropped_total",
        MetricType.COUNTER,
        "Spans dropped because the export queue was full or the exporter failed.",
    ),
    MetricSpec(
        "agent_runtime_telemetry_export_failures_total",
        MetricType.COUNTER,
        "Failed telemetry export attempts, by signal.",
        ("signal",),
    ),
    MetricSpec(
        "agent_runtime_telemetry_labels_folded_total",
        MetricType.COUNTER,
        "Label values folded to 'other' by the cardinality guard, by label name.",
        ("label",),
    ),
    MetricSpec(
        "agent_runtime_build_info",
        MetricType.GAUGE,
        "Build information; the value is always 1.",
        ("version",),
        multiprocess_mode="max",
    ),
    MetricSpec(
        "agent_runtime_agent_info",
        MetricType.GAUGE,
        "One series per configured agent with its kind; the value is always 1 (for joins).",
        ("agent", "kind"),
        multiprocess_mode="max",
    ),
    MetricSpec(
        "agent_runtime_agent_model_calls",
        MetricType.HISTOGRAM,
        "Model calls (turns) an agent made for one task.",
        ("agent",),
        COUNT_BUCKETS,
    ),
    MetricSpec(
        "agent_runtime_agent_tool_calls",
        MetricType.HISTOGRAM,
        "Tool calls an agent made for one task.",
        ("agent",),
        COUNT_BUCKETS,
    ),
    MetricSpec(
        "agent_runtime_agent_stops_total",
        MetricType.COUNTER,
        "Agent runs that ended, by why they stopped (final and forced_final are answers; the rest are not).",
        ("agent", "reason"),
    ),
    MetricSpec(
        "agent_runtime_agent_invalid_actions_total",
        MetricType.COUNTER,
        "Bad model outputs sent back to the model, by kind.",
        ("agent", "kind"),
    ),
    MetricSpec(
        "agent_runtime_llm_cost_dollars_total",
        MetricType.COUNTER,
        "Model token cost in dollars, from the configured price table.",
        ("gen_ai_request_model", "gen_ai_token_type"),
        unit="dollars",
    ),
    MetricSpec(
        "agent_runtime_cache_saved_dollars_total",
        MetricType.COUNTER,
        "Cost in dollars of the model calls that cache hits replaced.",
        ("cache",),
        unit="dollars",
    ),
    MetricSpec(
        "agent_runtime_cache_layer_up",
        MetricType.GAUGE,
        "1 while a cache layer works, 0 while it is degraded and being re-opened.",
        ("cache", "layer"),
        multiprocess_mode="livemin",
    ),
    MetricSpec(
        "gen_ai_client_operation_duration_seconds",
        MetricType.HISTOGRAM,
        "GenAI operation duration, failed calls included (OpenTelemetry GenAI semantic conventions).",
        ("gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "error_type"),
        GENAI_DURATION_BUCKETS,
        "seconds",
    ),
    MetricSpec(
        "gen_ai_client_token_usage",
        MetricType.HISTOGRAM,
        "Tokens used per GenAI operation (OpenTelemetry GenAI semantic conventions).",
        (
            "gen_ai_operation_name",
            "gen_ai_provider_name",
            "gen_ai_request_model",
            "gen_ai_token_type",
        ),
        GENAI_TOKEN_BUCKETS,
    ),
)

CATALOG: Final[dict[str, MetricSpec]] = {spec.name: spec for spec in _SPECS}


def all_series_names() -> frozenset[str]:
    """Every sample name the runtime may expose, for PromQL consistency checks."""
    return frozenset(name for spec in _SPECS for name in spec.series_names)
