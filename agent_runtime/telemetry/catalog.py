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
from typing import Final


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


# Fixed label enums. Anything outside them is folded to ``other``.
TASK_OUTCOMES: Final = ("success", "error", "timeout", "rejected")
ROUTING_SOURCES: Final = ("cache", "similar", "scored", "fallback")
TOOL_OUTCOMES: Final = ("success", "error", "timeout", "short_circuited", "fallback")
CACHE_NAMES: Final = ("tool", "decision", "analysis", "llm")
CACHE_LAYERS: Final = ("l0", "l1", "l2", "exact", "similar")
CACHE_RESULTS: Final = ("hit", "miss")
BREAKER_STATES: Final = ("closed", "half_open", "open")
STAGES: Final = ("analyse", "score", "route", "plan", "execute", "tool", "cache", "aggregate")
TELEMETRY_SIGNALS: Final = ("traces", "metrics")
GENAI_TOKEN_TYPES: Final = ("input", "output")
OTHER: Final = "other"


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
    ),
    MetricSpec(
        "gen_ai_client_operation_duration_seconds",
        MetricType.HISTOGRAM,
        "GenAI operation duration (OpenTelemetry GenAI semantic conventions).",
        ("gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model"),
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
