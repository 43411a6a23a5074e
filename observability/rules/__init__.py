"""Prometheus rules generated from ``ObservabilityConfig``: recording rules and alerts."""

from __future__ import annotations

from observability.config import ObservabilityConfig
from observability.rules import alerts_components, alerts_models, alerts_pipeline, alerts_service
from observability.rules.model import Alert, AlertGroup
from observability.rules.recording import recording_groups

__all__ = ["alert_groups", "all_alerts", "recording_groups"]


def alert_groups(config: ObservabilityConfig) -> tuple[AlertGroup, ...]:
    """All alerting groups, in the order they are written to ``alerts.yml``."""
    return (
        AlertGroup("agent-runtime-availability", (
            alerts_service.down(config),
            alerts_service.target_missing(config),
            alerts_service.saturated(config),
        )),
        AlertGroup("agent-runtime-slo", (
            alerts_service.error_budget_burn(config),
            alerts_service.latency_budget_burn(config),
        )),
        AlertGroup("agent-runtime-components", (
            alerts_components.stage_bottleneck(config),
            alerts_components.tool_latency(config),
            alerts_components.tool_errors(config),
            alerts_components.cache_hit_rate_drop(config),
            alerts_components.cache_layer_down(config),
            alerts_components.breaker_open(config),
        )),
        AlertGroup("agent-runtime-models", (
            alerts_models.model_errors(config),
            alerts_models.model_latency(config),
            *alerts_models.server_alerts(config),
            alerts_models.spend_over_budget(config),
            alerts_models.stops_without_answer(config),
            alerts_models.invalid_actions(config),
            alerts_models.llm_cache_hit_rate_drop(config),
        )),
        AlertGroup("agent-runtime-routing", (
            alerts_pipeline.fallbacks_high(config),
            alerts_pipeline.confidence_low(config),
        )),
        AlertGroup("agent-runtime-telemetry", (
            alerts_pipeline.spans_dropped(config),
            alerts_pipeline.export_failing(config),
            alerts_pipeline.labels_folded(config),
        )),
        AlertGroup("agent-runtime-meta", (alerts_service.watchdog(config),)),
    )


def all_alerts(config: ObservabilityConfig) -> tuple[Alert, ...]:
    """Every alert, flattened from the groups."""
    return tuple(alert for group in alert_groups(config) for alert in group.alerts)


