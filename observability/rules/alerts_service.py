"""Service-level alerts: scrape health, the two task SLOs, saturation, the Watchdog.

These are the alerts that say whether users are being served. The burn-rate
alerts follow the SRE workbook's multi-window, multi-burn-rate recipe: one
rule per window pair, labelled with its ``long``/``short`` windows, so the
notification says how fast the budget is going.
"""

from __future__ import annotations

from collections.abc import Callable

from observability import alert_names
from observability.config import ObservabilityConfig, SloTarget
from observability.promql import number
from observability.rules.model import Alert, AlertRule, PanelRef, Runbook, Step
from observability.rules.recording import (
    task_error_ratio,
    task_latency_quantile,
    task_slow_ratio,
)
from observability.rules.templates import VALUE, VALUE_PERCENT, label

_COMPOSE_STATUS = (
    "docker compose ps runtime && curl -fsS http://localhost:8000/healthz && curl -fsS http://localhost:8000/readyz"
)


def _burn_rules(target: SloTarget, ratio: Callable[[str], str], bad: str) -> tuple[AlertRule, ...]:
    rules = []
    for window in target.windows:
        threshold = number(window.factor * target.error_budget)
        rules.append(AlertRule(
            severity=window.severity,
            expr=f"{ratio(window.long)} > {threshold}\nand\n{ratio(window.short)} > {threshold}",
            description=(
                f"{VALUE_PERCENT} of tasks on {label('job')} {bad} over the last {window.long} "
                f"(and over {window.short}), above {number(window.factor)}x the {target.error_budget_text} "
                f"error budget of the {target.objective_text} SLO."
            ),
            for_=window.for_,
            keep_firing_for=window.keep_firing_for,
            labels={"long": window.long, "short": window.short},
        ))
    return tuple(rules)


def _exhaustion(target: SloTarget) -> str:
    # A 30-day budget burning at factor F lasts 30/F days.
    def lasts(factor: float) -> str:
        days = 30 / factor
        return f"{days * 24:.0f} hours" if days < 3 else f"{days:.0f} days"

    return "; ".join(f"{number(w.factor)}x ({w.long}/{w.short}, {w.severity}) empties it in {lasts(w.factor)}"
                     for w in target.windows)


def down(config: ObservabilityConfig) -> Alert:
    """An instance whose /metrics cannot be scraped."""
    plat = config.platform
    return Alert(
        name=alert_names.DOWN,
        summary="An agent runtime instance cannot be scraped.",
        rules=(AlertRule(
            severity="critical",
            expr=f"up{{{config.selector}}} == 0",
            description=(f"Prometheus has failed to scrape {label('instance')} of job {label('job')} "
                         f"for more than {plat.down_for} (up = {VALUE})."),
            for_=plat.down_for,
        ),),
        runbook=Runbook(
            meaning=(f"Every scrape of the instance's `/metrics` endpoint failed for {plat.down_for}: "
                     "the process is down, hung, restarting in a loop, unreachable, or `/metrics` "
                     "itself errors or exceeds the scrape timeout."),
            impact=("Tasks sent to this instance fail. Even if it still serves tasks, nothing it does "
                    "is visible: its SLO, tool and cache alerts cannot fire while its metrics are missing."),
            panels=(PanelRef("overview", "Task rate"), PanelRef("overview", "Instances by version")),
            diagnosis=(
                Step("Which instances are down:", promql=f"up{{{config.selector}}} == 0"),
                Step("The scrape error Prometheus recorded for each target:",
                     shell="curl -s http://localhost:9090/api/v1/targets | "
                           "jq '.data.activeTargets[] | {job: .labels.job, instance: .labels.instance, "
                           "health, lastError}'"),
                Step("Is the process alive and ready?", shell=_COMPOSE_STATUS),
                Step("Does `/metrics` answer, and how fast (the scrape timeout is 10s)?",
                     shell="curl -sS -o /dev/null -w '%{http_code} %{time_total}s\\n' "
                           "http://localhost:8000/metrics"),
                Step("Recent logs (crash loops, import errors, configuration errors):",
                     shell="docker compose logs --since 15m runtime"),
            ),
            mitigation=(
                Step("Restart the runtime; the multiprocess metrics directory is a tmpfs and starts empty:",
                     shell="docker compose restart runtime || docker compose up -d runtime"),
                Step("If it crash-loops after a configuration change, point `AGENT_RUNTIME_CONFIG` at the "
                     "last good file, check it loads, and restart:",
                     shell="AGENT_RUNTIME_CONFIG=/etc/agent-runtime/last-good.yaml agent-runtime agents && "
                           "docker compose restart runtime"),
                Step("If it is healthy but unreachable, check the port mapping and the network "
                     "from Prometheus' side:",
                     shell="docker compose exec prometheus wget -qO- http://runtime:8000/metrics | head"),
            ),
        ),
    )


def target_missing(config: ObservabilityConfig) -> Alert:
    """The job has no scrape target at all."""
    plat = config.platform
    return Alert(
        name=alert_names.TARGET_MISSING,
        summary="Prometheus has no agent runtime target to scrape.",
        rules=(AlertRule(
            severity="critical",
            expr=f"absent(up{{{config.selector}}})",
            description=(f"No target of job {label('job')} has been discovered for more than "
                         f"{plat.absent_for} (absent = {VALUE}); every agent runtime alert is blind."),
            for_=plat.absent_for,
        ),),
        runbook=Runbook(
            meaning=(f"There has been no `up` series for job `{config.job}` for {plat.absent_for}: the "
                     "scrape configuration lost the job (edited, renamed, failed reload) or service "
                     "discovery returns no targets."),
            impact=("Monitoring of the runtime is off. No other agent runtime alert can fire, including "
                    "the error-budget pages, so an outage would go unnoticed."),
            panels=(PanelRef("overview", "Task rate"),),
            diagnosis=(
                Step("Which jobs Prometheus does scrape:", promql="count by (job) (up)"),
                Step("Is the job in the loaded configuration?",
                     shell="curl -s http://localhost:9090/api/v1/status/config | jq -r .data.yaml | "
                           f"grep -n -A4 'job_name: {config.job}'"),
                Step("Validate the configuration on disk:",
                     shell="docker compose exec prometheus promtool check config /etc/prometheus/prometheus.yml"),
            ),
            mitigation=(
                Step("Restore `prometheus/prometheus.yml` from version control, then reload Prometheus:",
                     shell="git checkout -- prometheus/prometheus.yml && "
                           "curl -fsS -X POST http://localhost:9090/-/reload"),
                Step("If the runtime container is gone, bring it back:", shell="docker compose up -d runtime"),
            ),
        ),
    )


def error_budget_burn(config: ObservabilityConfig) -> Alert:
    """Task success SLO, multi-window multi-burn-rate."""
    slo, sel = config.slo, config.selector
    bad = "|".join(slo.error_outcomes)
    bad_text = " or ".join(f"`{o}`" for o in slo.error_outcomes)
    return Alert(
        name=alert_names.TASK_ERROR_BUDGET_BURN,
        summary="Tasks are failing fast enough to exhaust the error budget.",
        rules=_burn_rules(slo.availability, task_error_ratio, "failed"),
        runbook=Runbook(
            meaning=(f"The fraction of tasks ending {bad_text} is above a multiple of the error budget "
                     f"({slo.availability.error_budget_text} for the {slo.availability.objective_text} "
                     "success SLO over 30 days) over both a long and a short window. The `long` and "
                     f"`short` labels say which pair fired: {_exhaustion(slo.availability)}."),
            impact=("Users' tasks fail or time out. Pages mean the monthly budget is gone in days if "
                    "nothing changes; tickets mean it is eroding steadily."),
            panels=(PanelRef("overview", "Error ratio vs SLO"), PanelRef("overview", "Task errors by agent"),
                    PanelRef("overview", "Error budget remaining")),
            diagnosis=(
                Step("Which agents and outcomes are failing:",
                     promql=(f'sum by (agent, outcome) (rate(agent_runtime_tasks_total{{{sel},'
                             f'outcome=~"{bad}"}}[5m]))')),
                Step("Which tools fail underneath (errors, timeouts, open breakers):",
                     promql=(f'topk(5, sum by (tool, outcome) (rate(agent_runtime_tool_calls_total{{{sel},'
                             f'outcome!="success"}}[5m])))')),
                Step("Breakers that are open right now:",
                     promql=f"max by (breaker) (agent_runtime_circuit_breaker_state{{{sel}}}) == 2"),
                Step("Are timeouts a latency problem? Task p99 over 5m:",
                     promql=task_latency_quantile(0.99, "5m")),
                Step("Breakers, tools and agents as the runtime sees them:",
                     shell="agent-runtime breakers && agent-runtime tools && agent-runtime agents"),
                Step("Reproduce with one task and read the error and trace id in the result:",
                     shell='agent-runtime run "summarise the last deployment"'),
            ),
            mitigation=(
                Step(f"A failing tool: follow {alert_names.TOOL_ERRORS_HIGH}; its breaker and fallback should "
                     "contain it. Check the breaker state:", shell="agent-runtime breakers"),
                Step("Started with a configuration change: point `AGENT_RUNTIME_CONFIG` back at the last "
                     "good file and restart:", shell="docker compose restart runtime"),
                Step(f"Timeouts under load: add workers (see {alert_names.SATURATED}):",
                     shell="agent-runtime serve --workers 4"),
                Step("The page clears within the short window once the error ratio drops; the "
                     "budget spent stays visible on the Overview dashboard."),
            ),
        ),
    )


def latency_budget_burn(config: ObservabilityConfig) -> Alert:
    """Task latency SLO (fraction slower than the threshold), multi-window multi-burn-rate."""
    slo, sel = config.slo, config.selector
    threshold = number(slo.latency_threshold_seconds)
    return Alert(
        name=alert_names.TASK_LATENCY_BUDGET_BURN,
        summary="Tasks are slow often enough to exhaust the latency error budget.",
        rules=_burn_rules(slo.latency, task_slow_ratio, f"took longer than {threshold}s"),
        runbook=Runbook(
            meaning=(f"More tasks than the latency SLO allows take longer than {threshold}s: the SLO is "
                     f"{slo.latency.objective_text} of tasks within {threshold}s (a bucket boundary, so "
                     "the ratio is exact), and the slow fraction is above a multiple of the "
                     f"{slo.latency.error_budget_text} budget over a long and a short window: "
                     f"{_exhaustion(slo.latency)}."),
            impact="Users wait longer than promised; timeouts and retries upstream may follow.",
            panels=(PanelRef("overview", "Tasks slower than the SLO threshold"),
                    PanelRef("overview", "Task latency quantiles"),
                    PanelRef("bottlenecks", "Stage p95 against target")),
            diagnosis=(
                Step("Which agents are slow (p95 over 5m):",
                     promql=(f"histogram_quantile(0.95, sum by (agent, le) "
                             f"(rate(agent_runtime_task_duration_seconds_bucket{{{sel}}}[5m])))")),
                Step("Where the time goes, stage by stage:",
                     promql=(f"sum by (stage) (rate(agent_runtime_stage_duration_seconds_sum{{{sel}}}[5m]))\n"
                             f"/ on () group_left () "
                             f"sum(rate(agent_runtime_task_duration_seconds_sum{{{sel}}}[5m]))")),
                Step("The slowest tools (p95 over 5m):",
                     promql=(f"topk(5, histogram_quantile(0.95, sum by (tool, le) "
                             f"(rate(agent_runtime_tool_duration_seconds_bucket{{{sel}}}[5m]))))")),
                Step("The runtime's own bottleneck report:",
                     shell="agent-runtime bottlenecks && curl -s http://localhost:8000/v1/bottlenecks | jq"),
                Step("Open a slow trace: on Task latency quantiles, click an exemplar dot and follow "
                     "its trace link to the trace store."),
            ),
            mitigation=(
                Step(f"A slow tool: follow {alert_names.TOOL_LATENCY_HIGH} (lower its timeout so the breaker "
                     "trips, raise its cache TTL, or warm the cache):", shell="agent-runtime cache warm"),
                Step(f"Queueing under load: add workers (see {alert_names.SATURATED}):",
                     shell="agent-runtime serve --workers 4"),
                Step("A regression after a configuration change: restore the previous "
                     "`AGENT_RUNTIME_CONFIG` file and restart:", shell="docker compose restart runtime"),
            ),
        ),
    )


def saturated(config: ObservabilityConfig) -> Alert:
    """In-flight tasks close to the concurrency limit."""
    plat, sel = config.platform, config.selector
    look = plat.saturation_lookback
    return Alert(
        name=alert_names.SATURATED,
        summary="An agent runtime instance is close to its in-flight task limit.",
        rules=(AlertRule(
            severity="warning",
            expr=(f"max_over_time(agent_runtime_tasks_in_flight{{{sel}}}[{look}])\n"
                  f"/ (max_over_time(agent_runtime_tasks_in_flight_limit{{{sel}}}[{look}]) > 0)\n"
                  f"> {number(plat.saturation_ratio)}"),
            description=(f"{label('instance')} of job {label('job')} peaked at {VALUE_PERCENT} of its "
                         f"in-flight task limit in every {look} window for {plat.saturation_for}."),
            for_=plat.saturation_for,
        ),),
        runbook=Runbook(
            meaning=(f"In-flight tasks reached {number(plat.saturation_ratio * 100)}% of "
                     "`agent_runtime_tasks_in_flight_limit` (the configured `max_in_flight_tasks`, summed "
                     f"over workers). Peaks are read with `max_over_time` over {look}, so short bursts "
                     "between scrapes count too. The ratio is the instance's: one worker can be at its own "
                     "limit, rejecting, while the instance reads lower (the other workers idle, e.g. "
                     "keep-alive clients pinned to one worker), so rejected tasks (the first diagnosis step) "
                     "are the direct sign of the limit being hit."),
            impact=("At the limit, new tasks are rejected (outcome `rejected`) and queued work waits; "
                    "latency rises for everybody."),
            panels=(PanelRef("overview", "In-flight tasks vs limit"), PanelRef("overview", "Tasks by outcome")),
            diagnosis=(
                Step("Rejected tasks per second:",
                     promql=f'sum(rate(agent_runtime_tasks_total{{{sel},outcome="rejected"}}[5m]))'),
                Step("Arrival rate compared with an hour ago:",
                     promql=(f"sum(rate(agent_runtime_tasks_total{{{sel}}}[5m]))\n"
                             f"/ sum(rate(agent_runtime_tasks_total{{{sel}}}[5m] offset 1h))")),
                Step("Are tasks slower (holding slots longer)?", promql=task_latency_quantile(0.95, "5m")),
                Step("Current concurrency settings:", shell="agent-runtime agents && agent-runtime tools"),
            ),
            mitigation=(
                Step("Add workers (each has its own slots):", shell="agent-runtime serve --workers 4"),
                Step("If CPU has headroom and tasks mostly wait on tools, raise "
                     "`execution.max_in_flight_tasks` in the `AGENT_RUNTIME_CONFIG` file and restart:",
                     shell="docker compose restart runtime"),
                Step(f"If a slow tool holds the slots, fix that first ({alert_names.TOOL_LATENCY_HIGH})."),
            ),
        ),
    )


def watchdog(config: ObservabilityConfig) -> Alert:
    """Always firing: proves the alerting pipeline end to end."""
    return Alert(
        name=alert_names.WATCHDOG,
        summary="The alerting pipeline is working.",
        rules=(AlertRule(
            severity="info",
            expr="vector(1)",
            description=(f"Always firing (value {VALUE}) so that a dead man's switch notices when Prometheus, "
                         "Alertmanager or the route to the receivers breaks."),
        ),),
        runbook=Runbook(
            meaning=("This alert always fires. Alertmanager sends it to the `watchdog` receiver every "
                     "minute; the receiver (a dead man's switch) raises an alarm when it stops arriving."),
            impact="None while it fires. If it stops arriving, no alert of any kind is being delivered.",
            panels=(PanelRef("overview", "Task rate"),),
            diagnosis=(
                Step("Is Prometheus evaluating it?", promql=f'ALERTS{{alertname="{alert_names.WATCHDOG}"}}'),
                Step("Did Prometheus fail to deliver alerts?",
                     promql="rate(prometheus_notifications_errors_total[5m]) > 0"),
                Step("Does Alertmanager have it?",
                     shell=f"amtool alert query alertname={alert_names.WATCHDOG} "
                           "--alertmanager.url=http://localhost:9093"),
                Step("Alertmanager and Prometheus health:",
                     shell="docker compose ps prometheus alertmanager && "
                           "docker compose logs --since 15m alertmanager"),
            ),
            mitigation=(
                Step("Never silence this alert. Restart whichever of Prometheus or Alertmanager is unhealthy:",
                     shell="docker compose restart alertmanager prometheus"),
                Step("Check the route still reaches the watchdog receiver:",
                     shell="amtool config routes test --config.file=alertmanager/alertmanager.yml "
                           f"alertname={alert_names.WATCHDOG} severity=info"),
            ),
        ),
    )
