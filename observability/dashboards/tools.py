"""Tools, cache and breakers: per-tool traffic, failures and latency; cache layers; breaker states."""

from __future__ import annotations

from observability import alert_names
from observability.config import FIRST_CACHE_LAYER_MATCHER, UNREACHED_TOOL_OUTCOMES, ObservabilityConfig
from observability.dashboards.common import (
    GREEN,
    RATE,
    RED,
    YELLOW,
    Dashboard,
    ValueMap,
    ValueMappingResult,
    cache_layer_panel,
    dashboard,
    query,
    row,
    runbook_link,
    sel,
    state_timeline_panel,
    timeseries_panel,
)
from observability.links import DASHBOARDS
from observability.promql import number, regex_alternation

_CALLS = "agent_runtime_tool_calls_total"
_CACHE = "agent_runtime_cache_requests_total"
_BREAKER_STATES = ValueMap({
    "0": ValueMappingResult(text="closed", color=GREEN, index=0),
    "1": ValueMappingResult(text="half-open", color=YELLOW, index=1),
    "2": ValueMappingResult(text="open", color=RED, index=2),
})


def build(config: ObservabilityConfig) -> Dashboard:
    """The Tools, cache and breakers dashboard."""
    comp, cache = config.components, config.cache
    failed = f'outcome=~"{regex_alternation(comp.tool_error_outcomes)}"'
    reached = f'outcome!~"{regex_alternation(UNREACHED_TOOL_OUTCOMES)}"'
    not_success, hit = 'outcome!="success"', 'result="hit"'
    target = comp.tool_latency_target_seconds
    return (
        dashboard(DASHBOARDS["tools"], "Per-tool call rate, failures, latency and retries; cache hit ratios "
                  "by layer and the time they save; circuit breaker states.", config)
        .with_row(row("Tool calls"))
        .with_panel(timeseries_panel(
            "Tool calls by tool", "Tool calls per second, all outcomes, cache hits included.", "reqps",
            [query(f"sum by (tool) (rate({_CALLS}{{{sel()}}}[{RATE}]))", "{{tool}}")], width=8, stacked=True))
        .with_panel(timeseries_panel(
            "Tool failures by tool and outcome", "Calls per second that did not succeed: errors, timeouts, "
            "short-circuited by an open breaker, or answered by the fallback.", "reqps",
            [query(f"sum by (tool, outcome) (rate({_CALLS}{{{sel(not_success)}}}[{RATE}]))",
                   "{{tool}} {{outcome}}")], width=8, links=[runbook_link(config, alert_names.TOOL_ERRORS_HIGH)]))
        .with_panel(timeseries_panel(
            "Tool error ratio", f"Share of the calls that reached the tool ending "
            f"{' or '.join(comp.tool_error_outcomes)} (a fallback's answer counts as failed; short-circuited "
            f"calls without one are left out); dashed "
            f"line at the {number(comp.tool_error_ratio * 100)}% alert threshold.", "percentunit",
            [query(f"sum by (tool) (rate({_CALLS}{{{sel(failed)}}}[{RATE}]))\n"
                   f"/ sum by (tool) (rate({_CALLS}{{{sel(reached)}}}[{RATE}]))", "{{tool}}")],
            width=8, max_val=1, steps=((None, GREEN), (comp.tool_error_ratio, RED)),
            links=[runbook_link(config, alert_names.TOOL_ERRORS_HIGH)]))
        .with_row(row("Tool latency and retries"))
        .with_panel(timeseries_panel(
            "Tool p95 latency", f"95th percentile of tool call duration; dashed line at the {number(target)}s "
            "target. Exemplar dots link to the call's trace.", "s",
            [query("histogram_quantile(0.95, sum by (tool, le) "
                   f"(rate(agent_runtime_tool_duration_seconds_bucket{{{sel()}}}[{RATE}])))", "{{tool}}",
                   exemplar=True)],
            steps=((None, GREEN), (target, RED)), links=[runbook_link(config, alert_names.TOOL_LATENCY_HIGH)]))
        .with_panel(timeseries_panel(
            "Tool retries", "Retry attempts per second after retryable failures.", "ops",
            [query(f"sum by (tool) (rate(agent_runtime_tool_retries_total{{{sel()}}}[{RATE}]))", "{{tool}}")]))
        .with_row(row("Caches"))
        .with_panel(timeseries_panel(
            "Cache hit ratio by cache and layer", "Share of look-ups answered, per cache and layer (l0 memory, "
            f"l1 disk, l2 Redis; exact and similar for decisions). The alert uses {cache.window} ratios.",
            "percentunit",
            [query(f"sum by (cache, layer) (rate({_CACHE}{{{sel(hit)}}}[{RATE}]))\n"
                   f"/ sum by (cache, layer) (rate({_CACHE}{{{sel()}}}[{RATE}]))", "{{cache}} {{layer}}")],
            width=8, max_val=1, links=[runbook_link(config, alert_names.CACHE_HIT_RATE_DROP)]))
        .with_panel(timeseries_panel(
            "Cache look-ups and hits by cache", "Look-ups per second (counted at the first layer each tries) and "
            "hits per second at any layer; a miss at one layer is a look-up of the next, not another look-up.",
            "ops",
            [query(f"sum by (cache) (rate({_CACHE}{{{sel(FIRST_CACHE_LAYER_MATCHER)}}}[{RATE}]))",
                   "{{cache}} look-ups", "A"),
             query(f"sum by (cache) (rate({_CACHE}{{{sel(hit)}}}[{RATE}]))", "{{cache}} hits", "B")],
            width=8))
        .with_panel(timeseries_panel(
            "Seconds saved by cache", "Seconds of work avoided per second by cache hits (estimated from the "
            "original calls); 2 means hits save the work of two busy workers.", "s",
            [query(f"sum by (cache) (rate(agent_runtime_cache_saved_seconds_total{{{sel()}}}[{RATE}]))",
                   "{{cache}}")], width=8, stacked=True))
        .with_panel(cache_layer_panel(config))
        .with_row(row("Circuit breakers"))
        .with_panel(state_timeline_panel(
            "Circuit breaker state", "State of each tool's breaker (worst instance): closed, half-open, open.",
            query(f"max by (breaker) (agent_runtime_circuit_breaker_state{{{sel()}}})", "{{breaker}}"),
            [_BREAKER_STATES], ((None, GREEN), (1, YELLOW), (2, RED)), width=16,
            links=[runbook_link(config, alert_names.CIRCUIT_BREAKER_OPEN)]))
        .with_panel(timeseries_panel(
            "Circuit breaker transitions", "State changes per interval, by breaker and the state entered.",
            "short",
            [query(f"sum by (breaker, to) (increase(agent_runtime_circuit_breaker_transitions_total{{{sel()}}}"
                   f"[{RATE}]))", "{{breaker}} -> {{to}}")], width=8))
    )
