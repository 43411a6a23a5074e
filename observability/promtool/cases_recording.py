"""promtool ``promql_expr_test`` scenarios for the recording rules.

Inputs grow by whole multiples of 60 per minute, so every rate is an exact
number per second and every ratio is exact in binary floating point (promtool
compares sample values exactly). Quantiles are computed with Prometheus'
own interpolation (``bucket_quantile``) so the expected float is bit-identical.
Checks run at 1h, where the 5m, 30m and 1h windows are fully covered.
"""

from __future__ import annotations

from collections.abc import Sequence

from observability.config import ObservabilityConfig
from observability.promql import number
from observability.promtool.model import INSTANCE, ExprCheck, Scenario, Series, counter
from observability.rules import recording as rec

_AT = "1h"
_WINDOWS = ("5m", "30m", "1h")


def bucket_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """``histogram_quantile`` as Prometheus 2.42 computes it, for ``(upper_bound, cumulative)`` pairs."""
    rank = q * buckets[-1][1]
    index = next(i for i, (_, cumulative) in enumerate(buckets) if cumulative >= rank)
    if index == len(buckets) - 1:
        return buckets[-2][0]
    start, end, count = 0.0, buckets[index][0], buckets[index][1]
    if index > 0:
        start = buckets[index - 1][0]
        count -= buckets[index - 1][1]
        rank -= buckets[index - 1][1]
    return start + (end - start) * (rank / count)


def _series(config: ObservabilityConfig, name: str, per_second: float, **labels: str) -> Series:
    return Series(name, {"job": config.job, "instance": INSTANCE, **labels}, counter((per_second * 60, 61)))


def _inputs(config: ObservabilityConfig) -> tuple[Series, ...]:
    task_h = "agent_runtime_task_duration_seconds"
    stage_h, tool_h = "agent_runtime_stage_duration_seconds", "agent_runtime_tool_duration_seconds"
    cache = "agent_runtime_cache_requests_total"
    genai = "gen_ai_client_operation_duration_seconds"
    return (
        # Tasks: 3/s succeed, 1/s fail; 2/s within 0.5s, 3/s within 2.5s, 4/s total; 4 task-seconds/s.
        _series(config, "agent_runtime_tasks_total", 3, agent="writer", outcome="success"),
        _series(config, "agent_runtime_tasks_total", 1, agent="writer", outcome="error"),
        # 2/s shed at the in-flight limit: tasks all the same, but no event of the success SLI.
        _series(config, "agent_runtime_tasks_total", 2, agent="none", outcome="rejected"),
        _series(config, f"{task_h}_bucket", 2, agent="writer", le="0.5"),
        _series(config, f"{task_h}_bucket", 3, agent="writer", le="1.0"),
        _series(config, f"{task_h}_bucket", 3, agent="writer", le="2.5"),
        _series(config, f"{task_h}_bucket", 4, agent="writer", le="+Inf"),
        _series(config, f"{task_h}_count", 4, agent="writer"),
        _series(config, f"{task_h}_sum", 4, agent="writer"),
        # Stage score: 1 observation/s in (0.25, 0.5], 1 stage-second/s = 25% of task time.
        _series(config, f"{stage_h}_bucket", 0, stage="score", le="0.25"),
        _series(config, f"{stage_h}_bucket", 1, stage="score", le="0.5"),
        _series(config, f"{stage_h}_bucket", 1, stage="score", le="+Inf"),
        _series(config, f"{stage_h}_sum", 1, stage="score"),
        # Tool search: 3/s succeed, 1/s time out, all in (1.0, 2.5].
        _series(config, "agent_runtime_tool_calls_total", 3, tool="search", outcome="success"),
        _series(config, "agent_runtime_tool_calls_total", 1, tool="search", outcome="timeout"),
        # Short-circuited calls count in the call rate but not in the calls that reached the tool.
        _series(config, "agent_runtime_tool_calls_total", 2, tool="search", outcome="short_circuited"),
        _series(config, f"{tool_h}_bucket", 0, tool="search", le="1.0"),
        _series(config, f"{tool_h}_bucket", 4, tool="search", le="2.5"),
        _series(config, f"{tool_h}_bucket", 4, tool="search", le="+Inf"),
        # Tool cache: 4 look-ups per second, 3 answered by l0; l0's miss goes on to l1, which misses too.
        _series(config, cache, 3, cache="tool", layer="l0", result="hit"),
        _series(config, cache, 1, cache="tool", layer="l0", result="miss"),
        _series(config, cache, 1, cache="tool", layer="l1", result="miss"),
        # Routing: 2/s scored, 1/s cached, 1/s fallback decisions served from the decision cache (source
        # "cache", counted as fallbacks all the same); 1 of 4 decisions at confidence <= 0.5.
        _series(config, "agent_runtime_routing_decisions_total", 2, agent="writer", source="scored"),
        _series(config, "agent_runtime_routing_decisions_total", 1, agent="writer", source="cache"),
        _series(config, "agent_runtime_routing_decisions_total", 1, agent="generalist", source="cache"),
        _series(config, "agent_runtime_routing_fallbacks_total", 1, agent="generalist"),
        _series(config, "agent_runtime_routing_confidence_bucket", 1, agent="writer", le="0.5"),
        _series(config, "agent_runtime_routing_confidence_bucket", 4, agent="writer", le="+Inf"),
        _series(config, "agent_runtime_routing_confidence_count", 4, agent="writer"),
        # Model calls: 3/s succeed, 1/s time out, all in (2.56, 5.12]; 0.25 dollars/s.
        _series(config, f"{genai}_count", 3, gen_ai_request_model="m", gen_ai_operation_name="chat"),
        _series(config, f"{genai}_count", 1, gen_ai_request_model="m", gen_ai_operation_name="chat",
                error_type="timeout"),
        _series(config, f"{genai}_bucket", 0, gen_ai_request_model="m", gen_ai_operation_name="chat", le="2.56"),
        _series(config, f"{genai}_bucket", 4, gen_ai_request_model="m", gen_ai_operation_name="chat", le="5.12"),
        _series(config, f"{genai}_bucket", 4, gen_ai_request_model="m", gen_ai_operation_name="chat", le="+Inf"),
        _series(config, "agent_runtime_llm_cost_dollars_total", 0.25, gen_ai_request_model="m",
                gen_ai_token_type="input"),
        # Agent researcher: 3 runs/s answer, 1/s runs out of steps; 4 model calls/s, 1 invalid action/s.
        _series(config, "agent_runtime_agent_stops_total", 3, agent="researcher", reason="final"),
        _series(config, "agent_runtime_agent_stops_total", 1, agent="researcher", reason="max_steps"),
        _series(config, "agent_runtime_agent_model_calls_sum", 4, agent="researcher"),
        _series(config, "agent_runtime_agent_invalid_actions_total", 1, agent="researcher", kind="invalid_json"),
    )


def _check(record: str, value: float, **labels: str) -> ExprCheck:
    body = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return ExprCheck(record, _AT, ((f"{record}{{{body}}}", value),))


def _slo_checks(config: ObservabilityConfig) -> list[ExprCheck]:
    job = config.job
    task_buckets = [(0.5, 2.0), (1.0, 3.0), (2.5, 3.0), (float("inf"), 4.0)]
    checks = []
    for w in _WINDOWS:
        checks += [
            _check(rec.task_rate(w), 6, job=job),
            _check(rec.task_error_ratio(w), 0.25, job=job),
            _check(rec.task_slow_ratio(w), 0.25, job=job),
        ]
    for w in (w for w in config.latency_quantile_windows if w in _WINDOWS):
        checks += [_check(rec.task_latency_quantile(q, w), bucket_quantile(q, task_buckets), job=job)
                   for q in config.latency_quantiles]
    return checks


def _component_checks(config: ObservabilityConfig) -> list[ExprCheck]:
    job, q = config.job, config.components.quantile
    targets = tuple(
        (f'{rec.stage_target(config)}{{stage="{stage}"}}', float(number(seconds)))
        for stage, seconds in config.components.stage_targets_seconds.items()
    )
    return [
        ExprCheck(rec.stage_target(config), _AT, targets),
        _check(rec.stage_quantile(config), bucket_quantile(q, [(0.25, 0.0), (0.5, 1.0), (float("inf"), 1.0)]),
               job=job, stage="score"),
        _check(rec.stage_share(config), 0.25, job=job, stage="score"),
        _check(rec.tool_rate(config), 6, job=job, tool="search"),
        _check(rec.tool_reached_rate(config), 4, job=job, tool="search"),
        _check(rec.tool_error_ratio(config), 0.25, job=job, tool="search"),
        _check(rec.tool_quantile(config), bucket_quantile(q, [(1.0, 0.0), (2.5, 4.0), (float("inf"), 4.0)]),
               job=job, tool="search"),
        _check(rec.cache_rate(config.cache.window), 4, job=job, cache="tool"),
        _check(rec.cache_hit_ratio(config.cache.window), 0.75, job=job, cache="tool"),
        _check(rec.routing_rate(config), 4, job=job),
        _check(rec.fallback_ratio(config), 0.25, job=job),
        _check(rec.low_confidence_ratio(config), 0.25, job=job),
    ]


def _model_checks(config: ObservabilityConfig) -> list[ExprCheck]:
    job, model = config.job, config.model
    p95 = bucket_quantile(model.quantile, [(2.56, 0.0), (5.12, 4.0), (float("inf"), 4.0)])
    return [
        _check(rec.model_rate(config), 4, job=job, gen_ai_request_model="m"),
        _check(rec.model_error_ratio(config), 0.25, job=job, gen_ai_request_model="m"),
        _check(rec.model_quantile(config), p95, job=job, gen_ai_request_model="m"),
        *(_check(rec.spend_rate(w), 0.25, job=job) for w in (model.budget_short_window, model.budget_window)),
        _check(rec.agent_stop_rate(config), 4, job=job, agent="researcher"),
        _check(rec.agent_unanswered_ratio(config), 0.25, job=job, agent="researcher"),
        _check(rec.agent_model_call_rate(config), 4, job=job, agent="researcher"),
        _check(rec.agent_invalid_action_ratio(config), 0.25, job=job, agent="researcher"),
    ]


def scenarios(config: ObservabilityConfig) -> tuple[Scenario, ...]:
    """One scenario exercising every recording rule family."""
    return (Scenario("Recording rules on exact, steady traffic", _inputs(config),
                     exprs=(*_slo_checks(config), *_component_checks(config), *_model_checks(config))),)
