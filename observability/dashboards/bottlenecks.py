"""Bottlenecks: which pipeline stages take the task time, and which are over their targets."""

from __future__ import annotations

from observability import alert_names
from observability.config import ObservabilityConfig
from observability.dashboards.common import (
    GREEN,
    RATE,
    RED,
    YELLOW,
    Dashboard,
    bargauge_panel,
    dashboard,
    query,
    row,
    runbook_link,
    sel,
    table_panel,
    timeseries_panel,
)
from observability.links import DASHBOARDS
from observability.promql import number

_STAGE = "agent_runtime_stage_duration_seconds"
_TASK = "agent_runtime_task_duration_seconds"


def _targets(config: ObservabilityConfig) -> str:
    # The per-stage targets as an inline vector, so the panel needs no recording rule.
    return "\n  or ".join(
        f'label_replace(vector({number(seconds)}), "stage", "{stage}", "", "")'
        for stage, seconds in config.components.stage_targets_seconds.items()
    )


def build(config: ObservabilityConfig) -> Dashboard:
    """The Bottlenecks dashboard."""
    comp = config.components
    q = number(comp.quantile)
    p95 = f"histogram_quantile({q}, sum by (stage, le) (rate({_STAGE}_bucket{{{sel()}}}[{RATE}])))"
    stage_seconds = f"sum by (stage) (rate({_STAGE}_sum{{{sel()}}}[{RATE}]))"
    runbook = runbook_link(config, alert_names.STAGE_BOTTLENECK)
    targets = ", ".join(f"{stage} {number(s)}s" for stage, s in comp.stage_targets_seconds.items())
    return (
        dashboard(DASHBOARDS["bottlenecks"], "Pipeline stages ranked by their share of task time and by "
                  "p95 against their targets (the same view as `agent-runtime bottlenecks`).", config)
        .with_row(row("Where task time goes"))
        .with_panel(timeseries_panel(
            "Stage share of task time", "Seconds spent in each stage over seconds spent in tasks. Stages "
            f"nest (tool inside execute), so shares can add up to more than 100%. Dashed line at the "
            f"{number(comp.stage_share * 100)}% alert threshold.", "percentunit",
            [query(f"{stage_seconds}\n/ on () group_left () sum(rate({_TASK}_sum{{{sel()}}}[{RATE}]))",
                   "{{stage}}")],
            steps=((None, GREEN), (comp.stage_share, RED)), links=[runbook]))
        .with_panel(timeseries_panel(
            "Stage time per task", "Average seconds per task spent in each stage.", "s",
            [query(f"{stage_seconds}\n/ on () group_left () sum(rate({_TASK}_count{{{sel()}}}[{RATE}]))",
                   "{{stage}}")]))
        .with_row(row("Stage latency against targets"))
        .with_panel(timeseries_panel(
            "Stage p95 latency", f"p{number(comp.quantile * 100)} of each stage. Targets: {targets}.", "s",
            [query(p95, "{{stage}}")], links=[runbook]))
        .with_panel(bargauge_panel(
            "Stage p95 against target", "Each stage's p95 as a share of its target: above 100% the stage is "
            "over target.", "percentunit",
            query(f"{p95}\n/ on (stage) group_left () (\n  {_targets(config)}\n)", "{{stage}}"),
            steps=((None, GREEN), (0.8, YELLOW), (1, RED)), links=[runbook]))
        .with_panel(table_panel(
            "Top stages by p95", "The five slowest stages right now.", "s",
            query(f"topk(5, {p95})", "{{stage}}", instant=True), width=24, height=7))
    )
