"""Routing and scoring: where decisions come from, how confident they are, what scoring costs."""

from __future__ import annotations

from observability import alert_names
from observability.config import ObservabilityConfig
from observability.dashboards.common import (
    GREEN,
    RATE,
    RED,
    Dashboard,
    dashboard,
    heatmap_panel,
    query,
    row,
    runbook_link,
    sel,
    timeseries_panel,
)
from observability.links import DASHBOARDS
from observability.promql import le_value, number

_DECISIONS = "agent_runtime_routing_decisions_total"
# Decisions that went to the fallback chain, fresh or served again from the decision cache.
_FALLBACKS = "agent_runtime_routing_fallbacks_total"
_CONFIDENCE = "agent_runtime_routing_confidence"
# The stages that make up routing: task analysis, confidence scoring, the routing decision.
_ROUTING_STAGES = ("analyse", "score", "route")


def build(config: ObservabilityConfig) -> Dashboard:
    """The Routing and scoring dashboard."""
    routing = config.routing
    decisions = f"sum(rate({_DECISIONS}{{{sel()}}}[{RATE}]))"
    le = f'le="{le_value(routing.low_confidence_bound)}"'
    stages = "|".join(_ROUTING_STAGES)
    decision_cache, hit = 'cache="decision"', 'result="hit"'
    cache_hits = f"sum by (layer) (rate(agent_runtime_cache_requests_total{{{sel(decision_cache, hit)}}}[{RATE}]))"
    stage_match = f'stage=~"{stages}"'
    return (
        dashboard(DASHBOARDS["routing"], "How tasks are routed to agents: decision sources, confidence, "
                  "fallbacks, the decision cache and the cost of scoring.", config)
        .with_row(row("Decisions"))
        .with_panel(timeseries_panel(
            "Decisions by agent", "Routing decisions per second by the agent chosen.", "reqps",
            [query(f"sum by (agent) (rate({_DECISIONS}{{{sel()}}}[{RATE}]))", "{{agent}}")], width=8, stacked=True))
        .with_panel(timeseries_panel(
            "Decisions by source", "Where decisions came from: exact cache, similar-task cache, fresh "
            "scoring, or the fallback chain (a cached fallback decision counts as cache here).", "reqps",
            [query(f"sum by (source) (rate({_DECISIONS}{{{sel()}}}[{RATE}]))", "{{source}}")], width=8,
            stacked=True))
        .with_panel(timeseries_panel(
            "Fallbacks by agent", "Decisions per second that went to the fallback chain, fresh or served "
            "from the decision cache, by the fallback agent that got the task.", "reqps",
            [query(f"sum by (agent) (rate({_FALLBACKS}{{{sel()}}}[{RATE}]))", "{{agent}}")], width=8,
            stacked=True, links=[runbook_link(config, alert_names.ROUTING_FALLBACKS_HIGH)]))
        .with_row(row("Quality"))
        .with_panel(timeseries_panel(
            "Fallback ratio", f"Share of decisions that went to the fallback chain, fresh or from the decision "
            f"cache; dashed line at the {number(routing.fallback_ratio * 100)}% alert threshold.", "percentunit",
            [query(f"sum(rate({_FALLBACKS}{{{sel()}}}[{RATE}]))\n/ {decisions}", "fallback")],
            width=8, max_val=1, steps=((None, GREEN), (routing.fallback_ratio, RED)),
            links=[runbook_link(config, alert_names.ROUTING_FALLBACKS_HIGH)]))
        .with_panel(timeseries_panel(
            "Low-confidence decisions", f"Share of decisions with confidence of {number(routing.low_confidence_bound)} "
            f"or less; dashed line at the {number(routing.low_confidence_ratio * 100)}% alert threshold.",
            "percentunit",
            [query(f"sum(rate({_CONFIDENCE}_bucket{{{sel(le)}}}[{RATE}]))\n"
                   f"/ sum(rate({_CONFIDENCE}_count{{{sel()}}}[{RATE}]))", "low confidence")],
            width=8, max_val=1, steps=((None, GREEN), (routing.low_confidence_ratio, RED)),
            links=[runbook_link(config, alert_names.ROUTING_CONFIDENCE_LOW)]))
        .with_panel(timeseries_panel(
            "Median confidence by agent", "Median routing confidence (0 to 1) per chosen agent.", "percentunit",
            [query(f"histogram_quantile(0.5, sum by (agent, le) (rate({_CONFIDENCE}_bucket{{{sel()}}}[{RATE}])))",
                   "{{agent}}")], width=8, max_val=1))
        .with_row(row("Confidence, decision cache and scoring time"))
        .with_panel(heatmap_panel(
            "Confidence distribution", "Decisions per confidence bucket over time.", "short",
            query(f"sum by (le) (increase({_CONFIDENCE}_bucket{{{sel()}}}[{RATE}]))", "{{le}}",
                  heatmap_format=True), width=8))
        .with_panel(timeseries_panel(
            "Decision cache hit ratio by layer", "Share of decision-cache look-ups answered, by layer "
            "(exact fingerprint, similar task).", "percentunit",
            [query(f"{cache_hits}\n/ sum by (layer) (rate(agent_runtime_cache_requests_total"
                   f"{{{sel(decision_cache)}}}[{RATE}]))", "{{layer}}")], width=8, max_val=1))
        .with_panel(timeseries_panel(
            "Scoring stage p95 latency", "95th percentile of the analyse, score and route stages.", "s",
            [query(f"histogram_quantile(0.95, sum by (stage, le) (rate(agent_runtime_stage_duration_seconds_bucket"
                   f"{{{sel(stage_match)}}}[{RATE}])))", "{{stage}}")], width=8))
    )
