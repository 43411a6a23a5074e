"""Agents and models: how LLM agents run, what their model calls cost and how the model server keeps up."""

from __future__ import annotations

from observability import alert_names, llamacpp
from observability.config import ObservabilityConfig, cache_hits_over_lookups
from observability.dashboards.common import (
    GREEN,
    RATE,
    RED,
    TOKENS_PER_SECOND,
    Dashboard,
    Dataquery,
    ValueMap,
    ValueMappingResult,
    by_agent_kind,
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

_CALLS = "gen_ai_client_operation_duration_seconds"
_STOPS = "agent_runtime_agent_stops_total"
_INVALID = "agent_runtime_agent_invalid_actions_total"
_TURNS = "agent_runtime_agent_model_calls"
_AGENT_TOOLS = "agent_runtime_agent_tool_calls"
_CACHE = "agent_runtime_cache_requests_total"
_UP_STATES = ValueMap({
    "0": ValueMappingResult(text="down", color=RED, index=0),
    "1": ValueMappingResult(text="up", color=GREEN, index=1),
})


def _per_task(histogram: str, what: str) -> list[Dataquery]:
    """p50, p95 and mean per agent of a per-task count histogram."""
    def quantile(q: float) -> str:
        return f"histogram_quantile({number(q)}, sum by (agent, le) (rate({histogram}_bucket{{{sel()}}}[{RATE}])))"

    mean = (f"sum by (agent) (rate({histogram}_sum{{{sel()}}}[{RATE}]))\n"
            f"/ sum by (agent) (rate({histogram}_count{{{sel()}}}[{RATE}]))")
    return [query(quantile(0.5), f"{{{{agent}}}} p50 {what}", "A"),
            query(quantile(0.95), f"{{{{agent}}}} p95 {what}", "B"),
            query(mean, f"{{{{agent}}}} mean {what}", "C")]


def _agent_rows(config: ObservabilityConfig, board: Dashboard) -> Dashboard:
    model = config.model
    unanswered = f'reason=~"{regex_alternation(model.unanswered_reasons)}"'
    tasks = f"sum by (job, instance, agent) (rate(agent_runtime_tasks_total{{{sel()}}}[{RATE}]))"
    return (
        board.with_row(row("Agents"))
        .with_panel(timeseries_panel(
            "Tasks by agent kind", "Tasks per second by the kind of agent that handled them (plan, llm, "
            "python), from the agents' `agent_runtime_agent_info`.", "reqps",
            [query(by_agent_kind(tasks), "{{kind}}")], width=8, stacked=True))
        .with_panel(timeseries_panel(
            "Agent stop reasons", "Agent runs ending per second by why they stopped: `final` is an answer, "
            "`forced_final` an answer given in a last turn that could only answer (the agent was looping or "
            "out of steps or budget: a quality signal), the rest are not.", "ops",
            [query(f"sum by (reason) (rate({_STOPS}{{{sel()}}}[{RATE}]))", "{{reason}}")], width=8, stacked=True,
            links=[runbook_link(config, alert_names.AGENT_STOPS_WITHOUT_ANSWER)]))
        .with_panel(timeseries_panel(
            "Runs stopped without an answer", f"Share of each agent's runs stopping with "
            f"{', '.join(model.unanswered_reasons)}; dashed line at the {number(model.unanswered_ratio * 100)}% "
            "alert threshold.", "percentunit",
            [query(f"sum by (agent) (rate({_STOPS}{{{sel(unanswered)}}}[{RATE}]))\n"
                   f"/ sum by (agent) (rate({_STOPS}{{{sel()}}}[{RATE}]))", "{{agent}}")],
            width=8, max_val=1, steps=((None, GREEN), (model.unanswered_ratio, RED)),
            links=[runbook_link(config, alert_names.AGENT_STOPS_WITHOUT_ANSWER)]))
        .with_panel(timeseries_panel(
            "Model turns per task", "Model calls an agent makes for one task: p50, p95 and mean per agent "
            "(0 for agents that do not call a model).", "short", _per_task(_TURNS, "turns")))
        .with_panel(timeseries_panel(
            "Tool calls per task", "Tool calls an agent makes for one task: p50, p95 and mean per agent.",
            "short", _per_task(_AGENT_TOOLS, "tool calls")))
        .with_panel(timeseries_panel(
            "Invalid actions by kind", "Bad model outputs per second (sent back to the model), by agent and "
            "kind: invalid_json, unknown_tool, bad_arguments, empty.", "ops",
            [query(f"sum by (agent, kind) (rate({_INVALID}{{{sel()}}}[{RATE}]))", "{{agent}} {{kind}}")],
            links=[runbook_link(config, alert_names.AGENT_INVALID_ACTIONS_HIGH)]))
        .with_panel(timeseries_panel(
            "Invalid actions per model call", "Invalid actions over model calls per agent; dashed line at the "
            f"{number(model.invalid_action_ratio * 100)}% alert threshold.", "percentunit",
            [query(f"sum by (agent) (rate({_INVALID}{{{sel()}}}[{RATE}]))\n"
                   f"/ sum by (agent) (rate({_TURNS}_sum{{{sel()}}}[{RATE}]))", "{{agent}}")],
            max_val=1, steps=((None, GREEN), (model.invalid_action_ratio, RED)),
            links=[runbook_link(config, alert_names.AGENT_INVALID_ACTIONS_HIGH)]))
    )


def _model_rows(config: ObservabilityConfig, board: Dashboard) -> Dashboard:
    model = config.model
    failed = 'error_type!=""'
    threshold = model.latency_threshold_seconds

    def latency(q: float) -> str:
        return (f"histogram_quantile({number(q)}, sum by (gen_ai_request_model, le) "
                f"(rate({_CALLS}_bucket{{{sel()}}}[{RATE}])))")

    llm, hit = f'cache="{model.cache}"', 'result="hit"'
    return (
        board.with_row(row("Model calls, tokens and cost"))
        .with_panel(timeseries_panel(
            "Model call latency", f"p50 and p95 of one model call, failed calls included; dashed line at the "
            f"{number(threshold)}s alert threshold. Exemplar dots link to the `chat` span's trace.", "s",
            [query(latency(0.5), "{{gen_ai_request_model}} p50", "A"),
             query(latency(0.95), "{{gen_ai_request_model}} p95", "B", exemplar=True)],
            width=8, steps=((None, GREEN), (threshold, RED)),
            links=[runbook_link(config, alert_names.MODEL_LATENCY_HIGH)]))
        .with_panel(timeseries_panel(
            "Model errors by type", "Failed model calls per second by model and error type.", "reqps",
            [query(f"sum by (gen_ai_request_model, error_type) (rate({_CALLS}_count{{{sel(failed)}}}[{RATE}]))",
                   "{{gen_ai_request_model}} {{error_type}}")], width=8, stacked=True,
            links=[runbook_link(config, alert_names.MODEL_ERRORS_HIGH)]))
        .with_panel(timeseries_panel(
            "Model error ratio", f"Share of model calls that failed; dashed line at the "
            f"{number(model.error_ratio * 100)}% alert threshold.", "percentunit",
            [query(f"sum by (gen_ai_request_model) (rate({_CALLS}_count{{{sel(failed)}}}[{RATE}]))\n"
                   f"/ sum by (gen_ai_request_model) (rate({_CALLS}_count{{{sel()}}}[{RATE}]))",
                   "{{gen_ai_request_model}}")],
            width=8, max_val=1, steps=((None, GREEN), (model.error_ratio, RED)),
            links=[runbook_link(config, alert_names.MODEL_ERRORS_HIGH)]))
        .with_panel(timeseries_panel(
            "Tokens per second", "Model tokens per second, input (prompt) and output (completion).",
            TOKENS_PER_SECOND,
            [query(f"sum by (gen_ai_token_type) (rate(gen_ai_client_token_usage_sum{{{sel()}}}[{RATE}]))",
                   "{{gen_ai_token_type}}")], width=8, stacked=True))
        .with_panel(timeseries_panel(
            "Model cost per hour", "Token cost at the current rate, in dollars per hour, by model (from the "
            f"configured price table); dashed line at the {number(model.hourly_budget_dollars)} dollar hourly "
            "budget.", "currencyUSD",
            [query(f"sum by (gen_ai_request_model) (rate(agent_runtime_llm_cost_dollars_total{{{sel()}}}[{RATE}]))"
                   " * 3600", "{{gen_ai_request_model}}")],
            width=8, stacked=True, steps=((None, GREEN), (model.hourly_budget_dollars, RED)),
            links=[runbook_link(config, alert_names.MODEL_SPEND_OVER_BUDGET)]))
        .with_panel(timeseries_panel(
            "Cost saved by cache per hour", "Dollars per hour of model calls that cache hits replaced, by "
            "cache.", "currencyUSD",
            [query(f"sum by (cache) (rate(agent_runtime_cache_saved_dollars_total{{{sel()}}}[{RATE}])) * 3600",
                   "{{cache}}")], width=8, stacked=True))
        .with_panel(timeseries_panel(
            "LLM cache hit ratio", f"Share of `{model.cache}` cache look-ups answered by any layer (what the "
            f"alert judges; dashed line at its {number(model.cache_floor * 100)}% floor), and each layer's own "
            "share of the look-ups that reached it (l0 memory, l1 disk, l2 Redis).",
            "percentunit",
            [query(cache_hits_over_lookups(sel(llm), "", RATE), "all layers", "A"),
             query(f"sum by (layer) (rate({_CACHE}{{{sel(llm, hit)}}}[{RATE}]))\n"
                   f"/ sum by (layer) (rate({_CACHE}{{{sel(llm)}}}[{RATE}]))", "{{layer}}", "B")],
            max_val=1, steps=((None, RED), (model.cache_floor, GREEN)),
            links=[runbook_link(config, alert_names.LLM_CACHE_HIT_RATE_DROP)]))
        .with_panel(cache_layer_panel(config, width=12, height=8))
    )


def _server_rows(config: ObservabilityConfig, board: Dashboard) -> Dashboard:
    model = config.model
    server = model.server_selector
    predicted = f"rate({llamacpp.TOKENS_PREDICTED}{{{server}}}[{RATE}])"
    return (
        board.with_row(row(f"Model server (llama.cpp, job {model.server_job})"))
        .with_panel(state_timeline_panel(
            "Model server up", f"Whether Prometheus can scrape each llama.cpp server (job `{model.server_job}`).",
            query(f"up{{{server}}}", "{{instance}}"), [_UP_STATES], ((None, RED), (1, GREEN)), width=24, height=5,
            links=[runbook_link(config, alert_names.MODEL_SERVER_DOWN)]))
        .with_panel(timeseries_panel(
            "Model server throughput", "Tokens per second the server processes: generated (predicted) and "
            "prompt.", TOKENS_PER_SECOND,
            [query(f"sum by (instance) ({predicted})", "{{instance}} generated", "A"),
             query(f"sum by (instance) (rate({llamacpp.PROMPT_TOKENS}{{{server}}}[{RATE}]))",
                   "{{instance}} prompt", "B")], width=8))
        .with_panel(timeseries_panel(
            "Generation speed", "Tokens generated per second of generation time: how fast one request "
            "decodes (drops when slots share the hardware).", TOKENS_PER_SECOND,
            [query(f"sum by (instance) ({predicted})\n"
                   f"/ sum by (instance) (rate({llamacpp.TOKENS_PREDICTED_SECONDS}{{{server}}}[{RATE}]))",
                   "{{instance}}")], width=8))
        .with_panel(timeseries_panel(
            "Model server queue", "Requests being processed (busy slots) and deferred (waiting for a slot): "
            "deferred above 0 means the server is the bottleneck.", "short",
            [query(f"sum by (instance) ({llamacpp.REQUESTS_PROCESSING}{{{server}}})", "{{instance}} processing",
                   "A"),
             query(f"sum by (instance) ({llamacpp.REQUESTS_DEFERRED}{{{server}}})", "{{instance}} deferred", "B")],
            width=8, links=[runbook_link(config, alert_names.MODEL_LATENCY_HIGH)]))
    )


def build(config: ObservabilityConfig) -> Dashboard:
    """The Agents and models dashboard."""
    board = dashboard(DASHBOARDS["agents"], "LLM agents and their model: tasks by agent kind, how runs stop, "
                      "turns and tool calls per task, invalid actions; model latency, errors, tokens and cost; "
                      "the LLM cache and the local model server.", config)
    board = _model_rows(config, _agent_rows(config, board))
    if config.model.server_job is not None:
        board = _server_rows(config, board)
    return board
