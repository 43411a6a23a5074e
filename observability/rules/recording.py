"""Recording rules, named ``level:metric:operations`` (Prometheus naming guide).

Alerts are written against these series so that every window is computed
once per evaluation and the alert expressions stay readable. Ratios divide
by a rate guarded with ``> 0``: with no traffic a ratio has no sample at all
(instead of NaN), so no alert can fire on an idle runtime. Numerators that
select a label value fall back to ``denominator * 0`` so a healthy runtime
records an explicit 0 even before the first bad event.

The name helpers below are the only place the record names are spelled;
alerts and promtool tests import them.
"""

from __future__ import annotations

from observability.config import FIRST_CACHE_LAYER_MATCHER, UNREACHED_TOOL_OUTCOMES, ObservabilityConfig
from observability.promql import le_value, number, regex_alternation, selector
from observability.rules.model import RecordingGroup, RecordingRule

_UNREACHED = regex_alternation(UNREACHED_TOOL_OUTCOMES)


def _quantile_tag(quantile: float) -> str:
    return "p" + number(quantile * 100).replace(".", "_")


def task_rate(window: str) -> str:
    """Tasks per second, by job."""
    return f"job:agent_runtime_tasks:rate{window}"


def task_error_ratio(window: str) -> str:
    """Fraction of tasks with a bad outcome, by job."""
    return f"job:agent_runtime_task_errors:ratio_rate{window}"


def task_slow_ratio(window: str) -> str:
    """Fraction of tasks slower than the latency SLO threshold, by job."""
    return f"job:agent_runtime_tasks_slow:ratio_rate{window}"


def task_latency_quantile(quantile: float, window: str) -> str:
    """A task latency quantile, by job."""
    return f"job:agent_runtime_task_duration_seconds:{_quantile_tag(quantile)}_rate{window}"


def stage_quantile(config: ObservabilityConfig) -> str:
    """The alerting quantile of each pipeline stage's duration, by job and stage."""
    comp = config.components
    return f"job_stage:agent_runtime_stage_duration_seconds:{_quantile_tag(comp.quantile)}_rate{comp.window}"


def stage_share(config: ObservabilityConfig) -> str:
    """Each stage's share of total task time, by job and stage."""
    return f"job_stage:agent_runtime_stage_duration_seconds:share_rate{config.components.window}"


def stage_target(config: ObservabilityConfig) -> str:
    """The configured per-stage latency target, one constant series per stage."""
    return f"stage:agent_runtime_stage_duration_seconds:{_quantile_tag(config.components.quantile)}_target"


def tool_rate(config: ObservabilityConfig) -> str:
    """Tool calls per second, by job and tool."""
    return f"job_tool:agent_runtime_tool_calls:rate{config.components.window}"


def tool_reached_rate(config: ObservabilityConfig) -> str:
    """Tool calls per second that reached the tool, by job and tool (those its fallback answered included).

    Calls short-circuited by an open breaker without a fallback are left out: they say nothing about the
    tool's own health, and counting them would pull the error ratio down while the breaker is open (the
    alert would resolve, then fire again on the next failed half-open probe).
    """
    return f"job_tool:agent_runtime_tool_calls_reached:rate{config.components.window}"


def tool_error_ratio(config: ObservabilityConfig) -> str:
    """Fraction of the tool calls that reached the tool and failed, by job and tool."""
    return f"job_tool:agent_runtime_tool_errors:ratio_rate{config.components.window}"


def tool_quantile(config: ObservabilityConfig) -> str:
    """The alerting quantile of tool call duration, by job and tool."""
    comp = config.components
    return f"job_tool:agent_runtime_tool_duration_seconds:{_quantile_tag(comp.quantile)}_rate{comp.window}"


def cache_rate(window: str) -> str:
    """Cache look-ups per second, by job and cache."""
    return f"job_cache:agent_runtime_cache_requests:rate{window}"


def cache_hit_ratio(window: str) -> str:
    """Fraction of cache look-ups that hit (all layers), by job and cache."""
    return f"job_cache:agent_runtime_cache_hits:ratio_rate{window}"


def routing_rate(config: ObservabilityConfig) -> str:
    """Routing decisions per second, by job."""
    return f"job:agent_runtime_routing_decisions:rate{config.routing.window}"


def fallback_ratio(config: ObservabilityConfig) -> str:
    """Fraction of routing decisions that went to the fallback chain (fresh or from the decision cache), by job."""
    return f"job:agent_runtime_routing_fallbacks:ratio_rate{config.routing.window}"


def low_confidence_ratio(config: ObservabilityConfig) -> str:
    """Fraction of routing decisions at or below the low-confidence bound, by job."""
    return f"job:agent_runtime_routing_low_confidence:ratio_rate{config.routing.window}"


def model_rate(config: ObservabilityConfig) -> str:
    """Model calls per second (failed ones included), by job and model."""
    return f"job_model:gen_ai_client_operations:rate{config.model.window}"


def model_error_ratio(config: ObservabilityConfig) -> str:
    """Fraction of model calls that failed (non-empty ``error_type``), by job and model."""
    return f"job_model:gen_ai_client_operation_errors:ratio_rate{config.model.window}"


def model_quantile(config: ObservabilityConfig) -> str:
    """The alerting quantile of model call duration, by job and model."""
    model = config.model
    return (f"job_model:gen_ai_client_operation_duration_seconds:"
            f"{_quantile_tag(model.quantile)}_rate{model.window}")


def spend_rate(window: str) -> str:
    """Model token spend in dollars per second, by job."""
    return f"job:agent_runtime_llm_cost_dollars:rate{window}"


def agent_stop_rate(config: ObservabilityConfig) -> str:
    """Agent runs ending per second, by job and agent."""
    return f"job_agent:agent_runtime_agent_stops:rate{config.model.agent_window}"


def agent_unanswered_ratio(config: ObservabilityConfig) -> str:
    """Fraction of agent runs that stopped without an answer, by job and agent."""
    return f"job_agent:agent_runtime_agent_stops_unanswered:ratio_rate{config.model.agent_window}"


def agent_model_call_rate(config: ObservabilityConfig) -> str:
    """Model calls (turns) per second made by agents, by job and agent."""
    return f"job_agent:agent_runtime_agent_model_calls:rate{config.model.agent_window}"


def agent_invalid_action_ratio(config: ObservabilityConfig) -> str:
    """Invalid model actions per model call, by job and agent."""
    return f"job_agent:agent_runtime_agent_invalid_actions:ratio_rate{config.model.agent_window}"


def _ratio(bad: str, total: str) -> str:
    """``bad / total`` (a recorded name or a parenthesised expression), an explicit 0 when no event is bad."""
    return (
        f"(\n  {bad}\n  or\n  {total} * 0\n)\n"
        f"/ ({total} > 0)"
    )


def _slo_rules(config: ObservabilityConfig) -> tuple[RecordingRule, ...]:
    sel = config.selector
    bad = selector(sel, f'outcome=~"{regex_alternation(config.slo.error_outcomes)}"')
    # Shed load is no event of the success SLI unless it counts as an error: as a good event it would
    # dilute the error ratio exactly when the runtime is overloaded and failing.
    counted = selector(sel, config.slo.event_matcher)
    le = le_value(config.slo.latency_threshold_seconds)
    rules: list[RecordingRule] = []
    for w in config.slo.ratio_windows:
        rules.append(RecordingRule(task_rate(w), f"sum by (job) (rate(agent_runtime_tasks_total{{{sel}}}[{w}]))"))
        rules.append(RecordingRule(task_error_ratio(w), _ratio(
            f"sum by (job) (rate(agent_runtime_tasks_total{{{bad}}}[{w}]))",
            f"(sum by (job) (rate(agent_runtime_tasks_total{{{counted}}}[{w}])))")))
        rules.append(RecordingRule(task_slow_ratio(w), (
            "1 - (\n"
            f'  sum by (job) (rate(agent_runtime_task_duration_seconds_bucket{{{sel},le="{le}"}}[{w}]))\n'
            f"  / (sum by (job) (rate(agent_runtime_task_duration_seconds_count{{{sel}}}[{w}])) > 0)\n"
            ")"
        )))
    for w in config.latency_quantile_windows:
        for q in config.latency_quantiles:
            rules.append(RecordingRule(task_latency_quantile(q, w), (
                f"histogram_quantile({number(q)}, "
                f"sum by (job, le) (rate(agent_runtime_task_duration_seconds_bucket{{{sel}}}[{w}])))"
            )))
    return tuple(rules)


def _component_rules(config: ObservabilityConfig) -> tuple[RecordingRule, ...]:
    sel, comp = config.selector, config.components
    w, q = comp.window, number(comp.quantile)
    tool_bad = regex_alternation(comp.tool_error_outcomes)
    return (
        RecordingRule(stage_quantile(config), (
            f"histogram_quantile({q}, "
            f"sum by (job, stage, le) (rate(agent_runtime_stage_duration_seconds_bucket{{{sel}}}[{w}])))"
        )),
        RecordingRule(stage_share(config), (
            f"sum by (job, stage) (rate(agent_runtime_stage_duration_seconds_sum{{{sel}}}[{w}]))\n"
            "/ on (job) group_left ()\n"
            f"(sum by (job) (rate(agent_runtime_task_duration_seconds_sum{{{sel}}}[{w}])) > 0)"
        )),
        RecordingRule(tool_rate(config), f"sum by (job, tool) (rate(agent_runtime_tool_calls_total{{{sel}}}[{w}]))"),
        RecordingRule(tool_reached_rate(config), (
            f'sum by (job, tool) (rate(agent_runtime_tool_calls_total{{{sel},outcome!~"{_UNREACHED}"}}[{w}]))')),
        RecordingRule(tool_error_ratio(config), _ratio(
            f'sum by (job, tool) (rate(agent_runtime_tool_calls_total{{{sel},outcome=~"{tool_bad}"}}[{w}]))',
            tool_reached_rate(config))),
        RecordingRule(tool_quantile(config), (
            f"histogram_quantile({q}, "
            f"sum by (job, tool, le) (rate(agent_runtime_tool_duration_seconds_bucket{{{sel}}}[{w}])))"
        )),
    )


def _cache_and_routing_rules(config: ObservabilityConfig) -> tuple[RecordingRule, ...]:
    sel, routing = config.selector, config.routing
    rules: list[RecordingRule] = []
    first = selector(sel, FIRST_CACHE_LAYER_MATCHER)
    for w in (config.cache.window, config.cache.baseline_window):
        # Look-ups are counted at their first layer; hits at whichever layer answered.
        rules.append(RecordingRule(
            cache_rate(w), f"sum by (job, cache) (rate(agent_runtime_cache_requests_total{{{first}}}[{w}]))"))
        rules.append(RecordingRule(cache_hit_ratio(w), _ratio(
            f'sum by (job, cache) (rate(agent_runtime_cache_requests_total{{{sel},result="hit"}}[{w}]))',
            cache_rate(w))))
    w = routing.window
    le = le_value(routing.low_confidence_bound)
    rules += [
        RecordingRule(routing_rate(config),
                      f"sum by (job) (rate(agent_runtime_routing_decisions_total{{{sel}}}[{w}]))"),
        # Counted apart from the source: a fallback decision served again from the decision cache
        # has source "cache" but is still a task no specialist fits.
        RecordingRule(fallback_ratio(config), _ratio(
            f"sum by (job) (rate(agent_runtime_routing_fallbacks_total{{{sel}}}[{w}]))",
            routing_rate(config))),
        RecordingRule(low_confidence_ratio(config), (
            f'sum by (job) (rate(agent_runtime_routing_confidence_bucket{{{sel},le="{le}"}}[{w}]))\n'
            f"/ (sum by (job) (rate(agent_runtime_routing_confidence_count{{{sel}}}[{w}])) > 0)"
        )),
    ]
    return tuple(rules)


def _target_rules(config: ObservabilityConfig) -> tuple[RecordingRule, ...]:
    # Targets as series: alerts join on them and dashboards can draw them.
    return tuple(
        RecordingRule(stage_target(config), f"vector({number(seconds)})", {"stage": stage})
        for stage, seconds in config.components.stage_targets_seconds.items()
    )


def _model_rules(config: ObservabilityConfig) -> tuple[RecordingRule, ...]:
    # Every input here is absent until a model is configured and called, so none of these records
    # exist on a runtime without an LLM (and nothing built on them can fire).
    sel, model = config.selector, config.model
    w, aw = model.window, model.agent_window
    calls = "gen_ai_client_operation_duration_seconds"
    unanswered = regex_alternation(model.unanswered_reasons)
    return (
        RecordingRule(model_rate(config),
                      f"sum by (job, gen_ai_request_model) (rate({calls}_count{{{sel}}}[{w}]))"),
        RecordingRule(model_error_ratio(config), _ratio(
            f'sum by (job, gen_ai_request_model) (rate({calls}_count{{{sel},error_type!=""}}[{w}]))',
            model_rate(config))),
        RecordingRule(model_quantile(config), (
            f"histogram_quantile({number(model.quantile)}, "
            f"sum by (job, gen_ai_request_model, le) (rate({calls}_bucket{{{sel}}}[{w}])))"
        )),
        *(RecordingRule(spend_rate(window),
                        f"sum by (job) (rate(agent_runtime_llm_cost_dollars_total{{{sel}}}[{window}]))")
          for window in (model.budget_short_window, model.budget_window)),
        RecordingRule(agent_stop_rate(config),
                      f"sum by (job, agent) (rate(agent_runtime_agent_stops_total{{{sel}}}[{aw}]))"),
        RecordingRule(agent_unanswered_ratio(config), _ratio(
            f'sum by (job, agent) (rate(agent_runtime_agent_stops_total{{{sel},reason=~"{unanswered}"}}[{aw}]))',
            agent_stop_rate(config))),
        RecordingRule(agent_model_call_rate(config),
                      f"sum by (job, agent) (rate(agent_runtime_agent_model_calls_sum{{{sel}}}[{aw}]))"),
        RecordingRule(agent_invalid_action_ratio(config), _ratio(
            f"sum by (job, agent) (rate(agent_runtime_agent_invalid_actions_total{{{sel}}}[{aw}]))",
            agent_model_call_rate(config))),
    )


def recording_groups(config: ObservabilityConfig) -> tuple[RecordingGroup, ...]:
    """All recording rule groups, in evaluation order."""
    return (
        RecordingGroup("agent-runtime-targets", _target_rules(config)),
        RecordingGroup("agent-runtime-slo-recording", _slo_rules(config)),
        RecordingGroup("agent-runtime-components-recording", _component_rules(config)),
        RecordingGroup("agent-runtime-cache-routing-recording", _cache_and_routing_rules(config)),
        RecordingGroup("agent-runtime-models-recording", _model_rules(config)),
    )
