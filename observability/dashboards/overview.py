"""Overview: golden signals, SLO budgets and saturation of the agent runtime."""

from __future__ import annotations

from agent_runtime.vocabulary import UNROUTED_AGENT
from observability import alert_names
from observability.config import ObservabilityConfig
from observability.dashboards.common import (
    GREEN,
    RATE,
    RED,
    YELLOW,
    Dashboard,
    by_agent_kind,
    dashboard,
    query,
    row,
    runbook_link,
    sel,
    stat_panel,
    timeseries_panel,
)
from observability.links import DASHBOARDS
from observability.promql import le_value, number, regex_alternation

_TASKS = "agent_runtime_tasks_total"
_LATENCY = "agent_runtime_task_duration_seconds"


def _budget_remaining(bad: str, total: str, budget: float) -> str:
    # Tiling the range with $__rate_interval steps of $__rate_interval rates
    # sums to the increase over the range while keeping every rate on $__rate_interval.
    return (
        f"1 - (\n  sum_over_time(({bad})[$__range:{RATE}])\n"
        f"  / sum_over_time(({total})[$__range:{RATE}])\n) / {number(budget)}"
    )


def per_agent(counter: str, *matchers: str) -> str:
    """The per-second rate of ``counter`` by job, instance and agent (for the agent-kind join)."""
    return f"sum by (job, instance, agent) (rate({counter}{{{sel(*matchers)}}}[{RATE}]))"


def build(config: ObservabilityConfig) -> Dashboard:
    """The Overview dashboard."""
    slo = config.slo
    bad_outcomes = f'outcome=~"{regex_alternation(slo.error_outcomes)}"'
    le = f'le="{le_value(slo.latency_threshold_seconds)}"'
    threshold = slo.latency_threshold_seconds
    budget = slo.availability.error_budget
    page = slo.availability.windows[0].factor * budget
    total = f"sum(rate({_TASKS}{{{sel()}}}[{RATE}]))"
    events = f"sum(rate({_TASKS}{{{sel(slo.event_matcher)}}}[{RATE}]))"  # the SLI's: shed load left out
    errors = f"sum(rate({_TASKS}{{{sel(bad_outcomes)}}}[{RATE}]))"
    fast = f"sum(rate({_LATENCY}_bucket{{{sel(le)}}}[{RATE}]))"
    count = f"sum(rate({_LATENCY}_count{{{sel()}}}[{RATE}]))"

    def quantile(q: float, by: str = "") -> str:
        return f"histogram_quantile({number(q)}, sum by ({by}le) (rate({_LATENCY}_bucket{{{sel()}}}[{RATE}])))"

    errors_runbook = runbook_link(config, alert_names.TASK_ERROR_BUDGET_BURN)
    latency_runbook = runbook_link(config, alert_names.TASK_LATENCY_BUDGET_BURN)
    return (
        dashboard(DASHBOARDS["overview"], "Golden signals of the agent runtime: traffic, errors, latency "
                  "and saturation, with the task SLOs' error budgets.", config)
        .with_row(row("Golden signals"))
        .with_panel(stat_panel("Task rate", "Tasks handled per second, all outcomes.", "reqps",
                               query(total, "tasks/s"), steps=((None, GREEN),)))
        .with_panel(stat_panel("Error ratio", f"Share of tasks ending {' or '.join(slo.error_outcomes)} (shed load "
                               "left out unless it counts as an error).",
                               "percentunit", query(f"{errors}\n/ {events}", "error ratio"),
                               steps=((None, GREEN), (budget, YELLOW), (page, RED)), links=[errors_runbook]))
        .with_panel(stat_panel("p95 task latency", "95th percentile of task duration.", "s",
                               query(quantile(0.95), "p95"),
                               steps=((None, GREEN), (threshold, RED)), links=[latency_runbook]))
        .with_panel(stat_panel("Tasks in flight", "Tasks being handled right now, all instances.", "short",
                               query(f"sum(agent_runtime_tasks_in_flight{{{sel()}}})", "in flight"),
                               steps=((None, GREEN),)))
        .with_panel(stat_panel(
            "Error budget remaining",
            f"Share of the {slo.availability.error_budget_text} error budget of the "
            f"{slo.availability.objective_text} success SLO left over the dashboard's time range "
            "(set the range to 30 days for the SLO period). Negative: the budget is overspent.",
            "percentunit", query(_budget_remaining(errors, events, budget), "remaining", instant=True),
            steps=((None, RED), (0.25, YELLOW), (0.5, GREEN)), links=[errors_runbook]))
        .with_panel(stat_panel(
            "Latency budget remaining",
            f"Share of the {slo.latency.error_budget_text} budget of the {slo.latency.objective_text}-within-"
            f"{number(threshold)}s latency SLO left over the dashboard's time range.",
            "percentunit",
            query(_budget_remaining(f"{count} - {fast}", count, slo.latency.error_budget), "remaining",
                  instant=True),
            steps=((None, RED), (0.25, YELLOW), (0.5, GREEN)), links=[latency_runbook]))
        .with_row(row("Traffic and errors"))
        .with_panel(timeseries_panel(
            "Tasks by outcome", "Tasks per second by outcome; `rejected` is admission control at the "
            "in-flight limit.", "reqps",
            [query(f"sum by (outcome) (rate({_TASKS}{{{sel()}}}[{RATE}]))", "{{outcome}}")],
            width=8, stacked=True))
        .with_panel(timeseries_panel(
            "Task errors by agent", "Failed tasks per second by agent and outcome.", "reqps",
            [query(f"sum by (agent, outcome) (rate({_TASKS}{{{sel(bad_outcomes)}}}[{RATE}]))",
                   "{{agent}} {{outcome}}")], width=8, links=[errors_runbook]))
        .with_panel(timeseries_panel(
            "Error ratio vs SLO", f"Error ratio; dashed lines at the budget ({slo.availability.error_budget_text}) "
            "and the fast-burn page threshold.", "percentunit",
            [query(f"{errors}\n/ {events}", "error ratio")], width=8,
            steps=((None, GREEN), (budget, YELLOW), (page, RED)), links=[errors_runbook]))
        .with_panel(timeseries_panel(
            "Tasks by agent kind", "Tasks per second by the kind of agent that handled them (plan, llm, python); "
            f"tasks no agent took (`agent=\"{UNROUTED_AGENT}\"`, rejected before routing) are not shown.", "reqps",
            [query(by_agent_kind(per_agent(_TASKS)), "{{kind}}")], stacked=True))
        .with_panel(timeseries_panel(
            "Task error ratio by agent kind", "Share of each agent kind's tasks ending "
            f"{' or '.join(slo.error_outcomes)}; dashed line at the budget "
            f"({slo.availability.error_budget_text}).", "percentunit",
            [query(f"{by_agent_kind(per_agent(_TASKS, bad_outcomes))}\n/ {by_agent_kind(per_agent(_TASKS))}",
                   "{{kind}}")],
            max_val=1, steps=((None, GREEN), (budget, RED)), links=[errors_runbook]))
        .with_row(row("Latency"))
        .with_panel(timeseries_panel(
            "Task latency quantiles", "p50, p95 and p99 of task duration. Exemplar dots link to traces.", "s",
            [query(quantile(0.5), "p50", "A"), query(quantile(0.95), "p95", "B"),
             query(quantile(0.99), "p99", "C", exemplar=True)],
            width=8, steps=((None, GREEN), (threshold, RED)), links=[latency_runbook]))
        .with_panel(timeseries_panel(
            "p95 task latency by agent", "95th percentile of task duration per agent.", "s",
            [query(quantile(0.95, "agent, "), "{{agent}}")], width=8, steps=((None, GREEN), (threshold, RED))))
        .with_panel(timeseries_panel(
            "Tasks slower than the SLO threshold", f"Share of tasks taking longer than {number(threshold)}s; "
            f"dashed line at the {slo.latency.error_budget_text} budget.", "percentunit",
            [query(f"1 - {fast}\n/ {count}", "slow")], width=8,
            steps=((None, GREEN), (slo.latency.error_budget, RED)), links=[latency_runbook]))
        .with_row(row("Saturation"))
        .with_panel(timeseries_panel(
            "In-flight tasks vs limit", "Tasks in flight and the concurrency limit per instance.", "short",
            [query(f"sum by (instance) (agent_runtime_tasks_in_flight{{{sel()}}})", "{{instance}} in flight", "A"),
             query(f"sum by (instance) (agent_runtime_tasks_in_flight_limit{{{sel()}}})", "{{instance}} limit", "B")],
            width=10, links=[runbook_link(config, alert_names.SATURATED)]))
        .with_panel(timeseries_panel(
            "Saturation by instance", "Peak in-flight tasks as a share of the limit.", "percentunit",
            [query(f"max_over_time(agent_runtime_tasks_in_flight{{{sel()}}}[{RATE}])\n"
                   f"/ (max_over_time(agent_runtime_tasks_in_flight_limit{{{sel()}}}[{RATE}]) > 0)",
                   "{{instance}}")],
            width=10, max_val=1, steps=((None, GREEN), (config.platform.saturation_ratio, RED)),
            links=[runbook_link(config, alert_names.SATURATED)]))
        .with_panel(stat_panel(
            "Instances by version", "Running instances per build version (from agent_runtime_build_info).",
            "short", query(f"count by (version) (agent_runtime_build_info{{{sel()}}})", "{{version}}"),
            steps=((None, GREEN),), width=4, height=8))
    )
