"""Component alerts: pipeline stages, tools, caches and circuit breakers.

These explain *why* a service-level alert fires (or is about to), so they
open tickets rather than page. Every ratio or quantile here is gated on a
minimum request rate: a quiet hour must not produce a 100% error ratio from
one failed call.
"""

from __future__ import annotations

from observability import alert_names
from observability.config import ObservabilityConfig, cache_hits_over_lookups
from observability.promql import number, regex_alternation
from observability.rules.model import Alert, AlertRule, PanelRef, Runbook, Step
from observability.rules.recording import (
    cache_hit_ratio,
    cache_rate,
    stage_quantile,
    stage_share,
    stage_target,
    task_rate,
    tool_error_ratio,
    tool_quantile,
    tool_rate,
)
from observability.rules.templates import VALUE, VALUE_DURATION, VALUE_PERCENT, label

_ADMIN = 'curl -fsS -X POST -H "Authorization: Bearer $AGENT_RUNTIME_ADMIN_TOKEN"'


def _pct(ratio: float) -> str:
    return f"{number(ratio * 100)}%"


def stage_bottleneck(config: ObservabilityConfig) -> Alert:
    """A stage that is both slow against its target and a large share of task time."""
    comp, sel = config.components, config.selector
    q = _pct(comp.quantile).rstrip("%")
    targets = ", ".join(f"`{stage}` {number(seconds)}s" for stage, seconds in comp.stage_targets_seconds.items())
    return Alert(
        name=alert_names.STAGE_BOTTLENECK,
        summary="A pipeline stage is slower than its target and dominates task time.",
        rules=(AlertRule(
            severity="warning",
            expr=(f"{stage_quantile(config)}\n  > on (stage) group_left () {stage_target(config)}\n"
                  f"and on (job, stage)\n{stage_share(config)} > {number(comp.stage_share)}\n"
                  f"and on (job)\n{task_rate(comp.window)} > {number(comp.min_rate)}"),
            description=(f"Stage {label('stage')} on {label('job')} has a p{q} of {VALUE_DURATION} over "
                         f"{comp.window}, above its target, and takes more than {_pct(comp.stage_share)} "
                         "of task time."),
            for_=comp.stage_for,
        ),),
        runbook=Runbook(
            meaning=(f"Over {comp.window}, the stage's p{q} exceeds its target and the stage accounts for "
                     f"more than {_pct(comp.stage_share)} of all task time, for {comp.stage_for}, with at least "
                     f"{number(comp.min_rate)} tasks/s. Targets (p{q}): {targets}."),
            impact=("Tasks are slower than they need to be; if it persists the latency SLO burns "
                    f"({alert_names.TASK_LATENCY_BUDGET_BURN})."),
            panels=(PanelRef("bottlenecks", "Stage p95 against target"),
                    PanelRef("bottlenecks", "Stage share of task time")),
            diagnosis=(
                Step("The runtime's ranked bottleneck report (share of task time, p95 vs target):",
                     shell="agent-runtime bottlenecks && curl -s http://localhost:8000/v1/bottlenecks | jq"),
                Step("Stage p95 against the configured target (above 1 is over target):",
                     promql=f"{stage_quantile(config)}\n/ on (stage) group_left () {stage_target(config)}"),
                Step("Seconds per task spent in each stage:",
                     promql=(f"sum by (stage) (rate(agent_runtime_stage_duration_seconds_sum{{{sel}}}[5m]))\n"
                             "/ on () group_left () "
                             f"sum(rate(agent_runtime_task_duration_seconds_count{{{sel}}}[5m]))")),
                Step("`analyse`, `score` and `route` depend on the analysis and decision caches:",
                     promql=cache_hits_over_lookups(sel, "cache", "5m")),
            ),
            mitigation=(
                Step(f"`tool` or `execute`: find the slow tool ({alert_names.TOOL_LATENCY_HIGH}) and warm its cache:",
                     shell="agent-runtime cache stats && agent-runtime cache warm"),
                Step("`cache`: check L2 (Redis) latency and the L1 cache directory's disk:",
                     shell="docker compose exec redis redis-cli --latency-history -i 5"),
                Step("`analyse`/`score`/`route`: CPU-bound; add workers, or roll back an agent "
                     "configuration that added many agents or specialties:",
                     shell="agent-runtime serve --workers 4"),
            ),
        ),
    )


def tool_latency(config: ObservabilityConfig) -> Alert:
    """A tool's p95 above the tool latency target."""
    comp, sel = config.components, config.selector
    target = number(comp.tool_latency_target_seconds)
    q = _pct(comp.quantile).rstrip("%")
    return Alert(
        name=alert_names.TOOL_LATENCY_HIGH,
        summary="A tool is slower than its latency target.",
        rules=(AlertRule(
            severity="warning",
            expr=(f'{tool_quantile(config)}{{tool!~"{regex_alternation(config.model.latency_tools)}"}} > {target}\n'
                  f"and on (job, tool)\n{tool_rate(config)} > {number(comp.min_rate)}"),
            description=(f"Tool {label('tool')} on {label('job')} has a p{q} of {VALUE_DURATION} over "
                         f"{comp.window}, above the {target}s target."),
            for_=comp.tool_latency_for,
        ),),
        runbook=Runbook(
            meaning=(f"The tool's p{q} call duration through the pipeline (cache hits included) has been "
                     f"above {target}s over {comp.window} for {comp.tool_latency_for}, with at least "
                     f"{number(comp.min_rate)} calls/s. Tools that call the model "
                     f"({', '.join(f'`{t}`' for t in config.model.latency_tools)}) take seconds even when "
                     f"healthy: they are left out here and held to {alert_names.MODEL_LATENCY_HIGH}."),
            impact="Tasks using the tool are slower; near its timeout, calls start failing and retrying.",
            panels=(PanelRef("tools", "Tool p95 latency"), PanelRef("tools", "Tool retries")),
            diagnosis=(
                Step("The slowest tools right now:",
                     promql=(f"topk(5, histogram_quantile(0.95, sum by (tool, le) "
                             f"(rate(agent_runtime_tool_duration_seconds_bucket{{{sel}}}[5m]))))")),
                Step("Retries multiply latency; which tools retry:",
                     promql=f"sum by (tool) (rate(agent_runtime_tool_retries_total{{{sel}}}[5m])) > 0"),
                Step("Is the tool cache still answering?",
                     promql=(f'sum by (layer) (rate(agent_runtime_cache_requests_total{{{sel},cache="tool",'
                             f'result="hit"}}[5m]))\n/ sum by (layer) (rate(agent_runtime_cache_requests_total'
                             f'{{{sel},cache="tool"}}[5m]))')),
                Step("Timeouts, TTLs and breaker state of each tool:",
                     shell="agent-runtime tools && agent-runtime breakers"),
                Step("On Tool p95 latency, click an exemplar to open a slow call's trace "
                     "(`execute_tool` span, with `error.type` on failures)."),
            ),
            mitigation=(
                Step("A slow dependency: lower the tool's `timeout_seconds` in the `AGENT_RUNTIME_CONFIG` file "
                     "so the breaker trips and the fallback answers, then restart:",
                     shell="docker compose restart runtime"),
                Step("Cacheable tool: warm the cache from recorded popular calls:",
                     shell=f"agent-runtime cache warm || {_ADMIN} http://localhost:8000/v1/cache/warm"),
                Step("Retries amplifying load on a struggling dependency: reduce `retry.max_attempts` "
                     "for the tool and restart."),
            ),
        ),
    )


def tool_errors(config: ObservabilityConfig) -> Alert:
    """A tool's failure ratio above the threshold."""
    comp, sel = config.components, config.selector
    bad = " or ".join(comp.tool_error_outcomes)
    return Alert(
        name=alert_names.TOOL_ERRORS_HIGH,
        summary="A tool is failing too often.",
        rules=(AlertRule(
            severity="warning",
            expr=(f"{tool_error_ratio(config)} > {number(comp.tool_error_ratio)}\n"
                  f"and on (job, tool)\n{tool_rate(config)} > {number(comp.min_rate)}"),
            description=(f"{VALUE_PERCENT} of calls to tool {label('tool')} on {label('job')} ended in "
                         f"{bad} over the last {comp.window}."),
            for_=comp.tool_errors_for,
            keep_firing_for=comp.tool_errors_keep_firing_for,
        ),),
        runbook=Runbook(
            meaning=(f"More than {_pct(comp.tool_error_ratio)} of the calls that reached the tool ended in "
                     f"{bad} over {comp.window} for {comp.tool_errors_for}, with at least "
                     f"{number(comp.min_rate)} calls/s. A call its fallback answered counts as failed: the "
                     "tool failed it (or its breaker was open), so a tool with a fallback cannot fail a share of "
                     "its calls unseen. Calls short-circuited without a fallback are covered by "
                     f"{alert_names.CIRCUIT_BREAKER_OPEN} and counted on neither side of the ratio, so the alert "
                     "holds steady while the breaker is open and its half-open probes fail. It keeps firing for "
                     f"{comp.tool_errors_keep_firing_for} after the ratio was last over the threshold, so a "
                     "tool whose failures hover near it resolves once they have stopped, not at each dip."),
            impact=("Tasks that need the tool fail unless it has a fallback; the task error budget "
                    f"burns ({alert_names.TASK_ERROR_BUDGET_BURN})."),
            panels=(PanelRef("tools", "Tool error ratio"), PanelRef("tools", "Tool failures by tool and outcome")),
            diagnosis=(
                Step("Failures by tool and outcome:",
                     promql=(f'sum by (tool, outcome) (rate(agent_runtime_tool_calls_total{{{sel},'
                             f'outcome!="success"}}[5m])) > 0')),
                Step("Breaker state per tool (2 = open):",
                     promql=f"max by (breaker) (agent_runtime_circuit_breaker_state{{{sel}}})"),
                Step("Breakers and tool settings as the runtime sees them:",
                     shell="agent-runtime breakers && agent-runtime tools"),
                Step("Find failing `execute_tool` spans in the trace store (attribute `error.type`), or "
                     "reproduce with one task:", shell='agent-runtime run "look up the latest release notes"'),
            ),
            mitigation=(
                Step("Dependency down: let the breaker open and the fallback answer; fix or escalate to "
                     "the dependency's owner."),
                Step("Wrong credentials or URL after a change: fix the tool in the `AGENT_RUNTIME_CONFIG` file "
                     "and restart:", shell="docker compose restart runtime"),
                Step("Bad results were cached while it misbehaved: invalidate the tool's entries:",
                     shell='agent-runtime cache invalidate --tool "$TOOL"'),
            ),
        ),
    )


def cache_hit_rate_drop(config: ObservabilityConfig) -> Alert:
    """A cache's hit ratio below a floor and well below its own baseline."""
    cache, sel = config.cache, config.selector
    ratio, baseline = cache_hit_ratio(cache.window), cache_hit_ratio(cache.baseline_window)
    return Alert(
        name=alert_names.CACHE_HIT_RATE_DROP,
        summary="A cache's hit ratio dropped well below its usual level.",
        rules=(AlertRule(
            severity="warning",
            expr=(f'{ratio}{{cache=~"{"|".join(cache.caches)}"}} < {number(cache.floor)}\n'
                  f"and on (job, cache)\n{ratio} < {number(cache.baseline_factor)} * {baseline}\n"
                  f"and on (job, cache)\n{cache_rate(cache.window)} > {number(cache.min_rate)}"),
            description=(f"The {label('cache')} cache on {label('job')} hit {VALUE_PERCENT} of look-ups over "
                         f"the last {cache.window}, under the {_pct(cache.floor)} floor and under "
                         f"{number(cache.baseline_factor)}x its {cache.baseline_window} average."),
            for_=cache.for_,
        ),),
        runbook=Runbook(
            meaning=(f"Over {cache.window}, the cache's hit ratio (hits over look-ups, all layers) is below "
                     f"{_pct(cache.floor)} and below {number(cache.baseline_factor)}x its "
                     f"{cache.baseline_window} average, with at least {number(cache.min_rate)} look-ups/s, "
                     f"for {cache.for_}. A cache that is always cold does not fire; a drop does. Only the "
                     f"caches in `cache.caches` ({', '.join(cache.caches)}) are alerted on: the decision and "
                     "analysis caches save microseconds of CPU per task and are emptied by design whenever "
                     "routing's inputs change (experience, tool health, configuration), so their ratio is on "
                     "the dashboard only. The LLM "
                     f"cache (`{config.model.cache}`) has its own alert, {alert_names.LLM_CACHE_HIT_RATE_DROP}."),
            impact=("More work reaches the tools' dependencies: higher latency and cost, more load on them."),
            panels=(PanelRef("tools", "Cache hit ratio by cache and layer"),
                    PanelRef("tools", "Seconds saved by cache")),
            diagnosis=(
                Step("Hit ratio by cache and layer (`l0` memory, `l1` disk, `l2` Redis):",
                     promql=(f'sum by (cache, layer) (rate(agent_runtime_cache_requests_total{{{sel},'
                             f'result="hit"}}[5m]))\n/ sum by (cache, layer) '
                             f"(rate(agent_runtime_cache_requests_total{{{sel}}}[5m]))")),
                Step("The runtime's cache statistics (hits, misses, entries, degraded layers) and each "
                     "tool's TTL:",
                     shell="agent-runtime cache stats && docker compose exec runtime agent-runtime tools"),
                Step("Is the shared L2 (Redis) up and holding keys?",
                     shell="docker compose exec redis redis-cli info keyspace && "
                           "docker compose exec redis redis-cli info stats | grep -E 'keyspace_(hits|misses)'"),
            ),
            mitigation=(
                Step("Redis restarted or was flushed: make sure it is up, then warm the cache:",
                     shell="docker compose up -d redis && agent-runtime cache warm"),
                Step("Warm through the admin API instead (bearer token from `AGENT_RUNTIME_ADMIN_TOKEN`):",
                     shell=f"{_ADMIN} http://localhost:8000/v1/cache/warm"),
                Step("TTLs were lowered or cache keys changed by a configuration change: restore the previous "
                     "`AGENT_RUNTIME_CONFIG` file and restart:", shell="docker compose restart runtime"),
                Step("A script invalidating in a loop: stop it. The runtime logs every invalidation "
                     "through the admin API, with the tool or tag:",
                     shell="docker compose logs --since 1h runtime | grep 'cache invalidated'"),
            ),
        ),
    )


def cache_layer_down(config: ObservabilityConfig) -> Alert:
    """A shared cache layer (L1 disk, L2 Redis) degraded for minutes."""
    cache, sel = config.cache, config.selector
    look = cache.layer_lookback
    return Alert(
        name=alert_names.CACHE_LAYER_DOWN,
        summary="A shared cache layer is down and being skipped.",
        rules=(AlertRule(
            severity="warning",
            expr=f"min_over_time(agent_runtime_cache_layer_up{{{sel}}}[{look}]) == 0",
            description=(f"Layer {label('layer')} of the {label('cache')} cache on {label('instance')} "
                         f"({label('job')}) was degraded in every {look} window for {cache.layer_down_for} "
                         f"(up = {VALUE})."),
            for_=cache.layer_down_for,
        ),),
        runbook=Runbook(
            meaning=(f"`agent_runtime_cache_layer_up` was 0 (degraded) at least once in every {look} window for "
                     f"{cache.layer_down_for}: the layer keeps failing. `l1` is the cache directory on local "
                     "disk (removed, unwritable, disk full or a locked database), `l2` is Redis (down, "
                     "unreachable or out of memory). The runtime skips a failing layer and probes it on a "
                     "timer, with or without traffic (after `cache.layer_initial_backoff_seconds`, 5 s, "
                     "doubling up to `cache.layer_max_backoff_seconds`, 60 s), so a short outage resolves "
                     "without this alert and a repaired layer reports up within one back-off; a layer that "
                     "is not configured has no series and never fires."),
            impact=("Nothing fails: look-ups fall through to the next layer or to the real call. But hits "
                    "drop, so latency, model spend and load on dependencies rise, and with `l2` down the "
                    "replicas stop sharing results."),
            panels=(PanelRef("tools", "Cache layer up"), PanelRef("tools", "Cache hit ratio by cache and layer")),
            diagnosis=(
                Step("Which layers are degraded, per instance:",
                     promql=f"agent_runtime_cache_layer_up{{{sel}}} == 0"),
                Step("Hit ratio per cache and layer (a degraded layer stops hitting):",
                     promql=(f'sum by (cache, layer) (rate(agent_runtime_cache_requests_total{{{sel},'
                             f'result="hit"}}[5m]))\n/ sum by (cache, layer) '
                             f"(rate(agent_runtime_cache_requests_total{{{sel}}}[5m]))")),
                Step("The runtime logs each outage once, with the error, and the recovery:",
                     shell="docker compose logs --since 30m runtime | "
                           "grep -E 'tool cache (l1|l2) (degraded|recovered)'"),
                Step("`l2`: does Redis answer, and is it out of memory?",
                     shell="docker compose exec redis redis-cli ping && "
                           "docker compose exec redis redis-cli info memory | "
                           "grep -E 'used_memory_human|maxmemory_human'"),
                Step("`l1`: does the cache directory exist, and is it writable with free space?",
                     shell=("docker compose exec runtime sh -c "
                            '\'d="${AGENT_RUNTIME_CACHE_DIR:?}"; ls -ld "$d" && df -h "$d"\'')),
            ),
            mitigation=(
                Step("`l2`: bring Redis back; each worker's probe re-opens the layer within one back-off "
                     "(60 s at most), no restart or traffic needed:",
                     shell="docker compose up -d redis && agent-runtime cache stats"),
                Step("`l1` directory removed or unwritable: recreate it as the runtime's user; the layer "
                     "re-opens at its next probe (restart the runtime only if it stays down):",
                     shell='docker compose exec runtime sh -c \'mkdir -p "$AGENT_RUNTIME_CACHE_DIR"\' && '
                           "agent-runtime cache stats"),
                Step("Disk full: free space or lower `cache.l1_size_limit_bytes` in the `AGENT_RUNTIME_CONFIG` "
                     "file, then restart."),
                Step("Once the layer is back, refill it:", shell="agent-runtime cache warm"),
            ),
        ),
    )


def breaker_open(config: ObservabilityConfig) -> Alert:
    """A circuit breaker that stays (or keeps re-)opened."""
    plat, sel = config.platform, config.selector
    look = plat.breaker_lookback
    return Alert(
        name=alert_names.CIRCUIT_BREAKER_OPEN,
        summary="A tool's circuit breaker has been open for a long time.",
        rules=(AlertRule(
            severity="warning",
            expr=(f"count by (job, breaker) (\n"
                  f"  max_over_time(agent_runtime_circuit_breaker_state{{{sel}}}[{look}]) == 2\n)"),
            description=(f"The circuit breaker of tool {label('breaker')} on {label('job')} has been open in "
                         f"every {look} window for {plat.breaker_open_for}, on {VALUE} instance(s)."),
            for_=plat.breaker_open_for,
        ),),
        runbook=Runbook(
            meaning=(f"The breaker state gauge was 2 (open) at least once in every {look} window for "
                     f"{plat.breaker_open_for}. Reading it with `max_over_time` means a missed scrape or a "
                     "brief half-open probe cannot reset the alert: the dependency keeps failing its "
                     "probes and the breaker keeps re-opening (with a growing open time)."),
            impact=("Calls to the tool are short-circuited: they get the tool's fallback if it has one, "
                    "otherwise they fail, and so do the tasks that need them."),
            panels=(PanelRef("tools", "Circuit breaker state"), PanelRef("tools", "Circuit breaker transitions")),
            diagnosis=(
                Step("Breakers open right now, per instance:",
                     promql=f"agent_runtime_circuit_breaker_state{{{sel}}} == 2"),
                Step("Transitions over the last hour (how often it re-opens):",
                     promql=(f"sum by (breaker, to) (increase("
                             f"agent_runtime_circuit_breaker_transitions_total{{{sel}}}[1h]))")),
                Step("How the calls end while it is open:",
                     promql=(f'sum by (tool, outcome) (rate(agent_runtime_tool_calls_total{{{sel},'
                             f'outcome=~"short_circuited|fallback|error|timeout"}}[5m])) > 0')),
                Step("Breaker details (failure rate, next probe):",
                     shell="agent-runtime breakers && curl -s http://localhost:8000/v1/breakers | jq"),
            ),
            mitigation=(
                Step("Fix or wait for the dependency; a successful half-open probe closes the breaker by itself."),
                Step("Once the dependency is confirmed healthy, close the breaker now instead of waiting "
                     "for the next probe (set TOOL to the alert's `breaker` label):",
                     shell='agent-runtime breakers reset "$TOOL"'),
                Step("The same through the admin API, on every instance:",
                     shell=f'{_ADMIN} "http://localhost:8000/v1/breakers/$TOOL/reset"'),
                Step("Do not reset while the dependency still fails: the breaker re-opens and the "
                     "extra calls add load to a struggling service."),
            ),
        ),
    )
