"""promtool scenarios for the LLM agent, model and model-server alerts.

Besides a silent and a firing case per alert, one scenario runs a healthy
runtime with no model configured at all (no GenAI, cost, stop or LLM-cache
series, no ``llm_chat`` tool and no model server): every alert here must
stay silent on it. Numbers are chosen against the default config; comments
give the arithmetic.
"""

from __future__ import annotations

from observability import alert_names
from observability.config import ObservabilityConfig
from observability.promql import le_value
from observability.promtool.cases_components import cache_series, histogram
from observability.promtool.cases_recording import bucket_quantile
from observability.promtool.model import INSTANCE, AlertCheck, Firing, Scenario, Series, counter, gauge

_CALLS = "gen_ai_client_operation_duration_seconds"
_MODEL = "qwen2.5-7b-instruct"
_SERVER_INSTANCE = "llama:8080"

# Every alert that reads model, agent-run or model-server series.
MODEL_ALERTS = (
    alert_names.MODEL_ERRORS_HIGH, alert_names.MODEL_LATENCY_HIGH, alert_names.MODEL_SERVER_DOWN,
    alert_names.MODEL_SERVER_MISSING, alert_names.MODEL_SPEND_OVER_BUDGET, alert_names.AGENT_STOPS_WITHOUT_ANSWER,
    alert_names.AGENT_INVALID_ACTIONS_HIGH, alert_names.LLM_CACHE_HIT_RATE_DROP,
)


def _target(config: ObservabilityConfig, **extra: str) -> dict[str, str]:
    return {"job": config.job, "instance": INSTANCE, **extra}


def _calls(config: ObservabilityConfig, per_minute: dict[str, float], model: str = _MODEL,
           minutes: int = 40) -> tuple[Series, ...]:
    """Model call counts per minute by error type; ``""`` is success (Prometheus drops the empty label)."""
    series = []
    for error_type, inc in per_minute.items():
        labels = _target(config, gen_ai_operation_name="chat", gen_ai_provider_name="openai",
                         gen_ai_request_model=model)
        if error_type:
            labels["error_type"] = error_type
        series.append(Series(f"{_CALLS}_count", labels, counter((inc, minutes))))
    return tuple(series)


def _latency(config: ObservabilityConfig, buckets: dict[str, float], model: str = _MODEL) -> tuple[Series, ...]:
    labels = _target(config, gen_ai_operation_name="chat", gen_ai_provider_name="openai",
                     gen_ai_request_model=model)
    return histogram(_CALLS, labels, buckets, 40)


def _no_model(config: ObservabilityConfig) -> tuple[Scenario, ...]:
    # A busy runtime with plan agents only: tasks, tool calls and their breakers, the tool cache, scrape health.
    series = (
        Series("up", _target(config), gauge((1, 90))),
        Series("agent_runtime_tasks_total", _target(config, agent="writer", outcome="success"), counter((60, 90))),
        Series("agent_runtime_agent_info", _target(config, agent="writer", kind="plan"), gauge((1, 90))),
        Series("agent_runtime_circuit_breaker_state", _target(config, breaker="knowledge_search"), gauge((0, 90))),
        Series("agent_runtime_tool_calls_total", _target(config, tool="knowledge_search", outcome="success"),
               counter((60, 90))),
        *cache_series(config, "tool", ((30, 90),), ((30, 90),)),
    )
    names = [n for n in MODEL_ALERTS if config.model.server_job is not None
             or n not in (alert_names.MODEL_SERVER_DOWN, alert_names.MODEL_SERVER_MISSING)]
    return (Scenario("Model and agent alerts stay silent on a runtime with no model configured", series,
                     tuple(AlertCheck(name, at) for name in names for at in ("20m", "1h30m"))),)


def _errors(config: ObservabilityConfig) -> tuple[Scenario, ...]:
    name = alert_names.MODEL_ERRORS_HIGH
    return (
        # 5% failed; a second model fails every call but is called once a minute (under the minimum rate).
        Scenario(f"{name} stays silent at 5% failed calls and for a rarely called failing model", (
            *_calls(config, {"": 57, "timeout": 3}),
            *_calls(config, {"connection_error": 1}, model="tiny"),
        ), (AlertCheck(name, "30m"),)),
        # 10 timeouts + 5 server errors of 60 calls/min = 25%.
        Scenario(f"{name} fires at 25% failed calls", _calls(config, {"": 45, "timeout": 10, "server_error": 5}),
                 (AlertCheck(name, "20m", (Firing({"job": config.job, "gen_ai_request_model": _MODEL}, 0.25),)),)),
    )


def _latency_cases(config: ObservabilityConfig) -> tuple[Scenario, ...]:
    name = alert_names.MODEL_LATENCY_HIGH
    threshold = config.model.latency_threshold_seconds
    below, above = le_value(threshold / 2), le_value(threshold)
    over = le_value(threshold * 2)
    q = config.model.quantile
    slow_p95 = bucket_quantile(q, [(threshold, 0.0), (threshold * 2, 60.0), (float("inf"), 60.0)])
    labels = _target(config, gen_ai_operation_name="chat", gen_ai_provider_name="openai", gen_ai_request_model=_MODEL)
    return (
        # 60 calls/min in (threshold/2, threshold]: p95 under it; a slow model called once a minute.
        Scenario(f"{name} stays silent under the threshold and below the minimum call rate", (
            *_calls(config, {"": 60}),
            *_latency(config, {below: 0, above: 60, "+Inf": 60}),
            *_calls(config, {"": 1}, model="tiny"),
            *_latency(config, {above: 0, over: 1, "+Inf": 1}, model="tiny"),
        ), (AlertCheck(name, "30m"),)),
        # Every call in (threshold, 2 x threshold]: p95 = threshold x 1.95.
        Scenario(f"{name} fires when every call takes between one and two times the threshold", (
            *_calls(config, {"": 60}),
            *_latency(config, {above: 0, over: 60, "+Inf": 60}),
        ), (AlertCheck(name, "25m", (Firing({"job": config.job, "gen_ai_request_model": _MODEL}, slow_p95),)),)),
        # Slow calls for 30m, then none: the 15m window is empty from 45m on. A pause is not a recovery:
        # the alert keeps firing for keep_firing_for (10m) after its condition last held, then resolves.
        Scenario(f"{name} keeps firing through a pause in model calls, then resolves", (
            Series(f"{_CALLS}_bucket", {**labels, "le": above}, counter((0, 70))),
            *(Series(f"{_CALLS}_bucket", {**labels, "le": le}, counter((60, 30), (0, 40))) for le in (over, "+Inf")),
            Series(f"{_CALLS}_count", labels, counter((60, 30), (0, 40))),
        ), (AlertCheck(name, "52m", (Firing({"job": config.job, "gen_ai_request_model": _MODEL}, slow_p95),)),
            AlertCheck(name, "60m"))),
    )


def _server(config: ObservabilityConfig) -> tuple[Scenario, ...]:
    job = config.model.server_job
    if job is None:
        return ()
    down, missing = alert_names.MODEL_SERVER_DOWN, alert_names.MODEL_SERVER_MISSING
    server = {"job": job, "instance": _SERVER_INSTANCE}
    llm_tool = Series("agent_runtime_circuit_breaker_state", _target(config, breaker=config.model.tool),
                      gauge((0, 30)))
    return (
        Scenario(f"{down} stays silent through a 4-minute scrape gap (for: 5m)", (
            Series("up", server, gauge((1, 10), (0, 4), (1, 16))),
        ), (AlertCheck(down, "13m"), AlertCheck(down, "29m"))),
        Scenario(f"{down} fires once scrapes of the model server have failed for 5m", (
            Series("up", server, gauge((1, 10), (0, 20))),
        ), (AlertCheck(down, "25m", (Firing(server, 0),)),)),
        Scenario(f"{missing} stays silent while the model server is scraped", (
            Series("up", _target(config), gauge((1, 30))), Series("up", server, gauge((1, 30))), llm_tool,
        ), (AlertCheck(missing, "20m"),)),
        Scenario(f"{missing} fires when the runtime has a model but the server is not scraped", (
            Series("up", _target(config), gauge((1, 30))), llm_tool,
        ), (AlertCheck(missing, "15m", (Firing({"job": job}, 1),)),)),
    )


def _spend(config: ObservabilityConfig) -> tuple[Scenario, ...]:
    name = alert_names.MODEL_SPEND_OVER_BUDGET
    cost = "agent_runtime_llm_cost_dollars_total"
    labels = _target(config, gen_ai_request_model=_MODEL, gen_ai_token_type="input")
    per_minute = config.model.hourly_budget_dollars / 60
    return (
        # 60% of the budget, then one minute costing a quarter of the hourly budget: the 5m window runs at
        # over 3x the budget for 5m, the 1h window stays under it (85%).
        Scenario(f"{name} stays silent under the budget and through a short burst", (
            Series(cost, labels, counter((per_minute * 0.6, 60), (config.model.hourly_budget_dollars / 4, 1),
                                         (per_minute * 0.6, 29))),
        ), (AlertCheck(name, "63m"), AlertCheck(name, "89m"))),
        # 2.4x the budget, steadily, for 90m; after 20m the 1h window has seen only 40% of the budget.
        Scenario(f"{name} fires while spend runs at 2.4 times the hourly budget", (
            Series(cost, labels, counter((per_minute * 2.4, 90))),
        ), (AlertCheck(name, "20m"),
            AlertCheck(name, "80m", (Firing({"job": config.job}, config.model.hourly_budget_dollars * 2.4),)))),
    )


def _stops(config: ObservabilityConfig, agent: str, per_minute: dict[str, float]) -> tuple[Series, ...]:
    return tuple(
        Series("agent_runtime_agent_stops_total", _target(config, agent=agent, reason=reason), counter((inc, 70)))
        for reason, inc in per_minute.items()
    )


def _unanswered(config: ObservabilityConfig) -> tuple[Scenario, ...]:
    name = alert_names.AGENT_STOPS_WITHOUT_ANSWER
    return (
        # researcher: 10% max_steps, and deadline/error (counted by the task alerts, not here);
        # scout: always out of steps, but 0.2 runs/min (under the minimum rate); writer: a plan agent.
        Scenario(f"{name} stays silent at 10% unanswered runs, for deadlines and errors, and for a rare agent", (
            *_stops(config, "researcher", {"final": 17, "max_steps": 3, "deadline": 5, "error": 5}),
            *_stops(config, "scout", {"max_steps": 0.2}),
            *_stops(config, "writer", {"final": 60}),
        ), (AlertCheck(name, "1h"),)),
        # 6 max_steps + 3 loop + 3 token_budget of 30 runs/min = 40%.
        Scenario(f"{name} fires when 40% of an agent's runs end without an answer",
                 _stops(config, "researcher", {"final": 18, "max_steps": 6, "loop": 3, "token_budget": 3}),
                 (AlertCheck(name, "50m", (Firing({"job": config.job, "agent": "researcher"}, 0.4),)),)),
    )


def _invalid(config: ObservabilityConfig) -> tuple[Scenario, ...]:
    name = alert_names.AGENT_INVALID_ACTIONS_HIGH

    def runs(agent: str, model_calls: float, invalid: dict[str, float]) -> tuple[Series, ...]:
        return (
            Series("agent_runtime_agent_model_calls_sum", _target(config, agent=agent), counter((model_calls, 70))),
            *(Series("agent_runtime_agent_invalid_actions_total", _target(config, agent=agent, kind=kind),
                     counter((inc, 70))) for kind, inc in invalid.items()),
        )

    return (
        # researcher: 6 invalid of 60 model calls/min; writer: a plan agent (no model calls, no invalid actions).
        Scenario(f"{name} stays silent at 10% invalid actions and for an agent without model calls", (
            *runs("researcher", 60, {"invalid_json": 4, "unknown_tool": 2}),
            *runs("writer", 0, {"invalid_json": 0}),
        ), (AlertCheck(name, "1h"),)),
        # 8 invalid_json + 2 unknown_tool of 40 model calls/min = 25%.
        Scenario(f"{name} fires at one invalid action in four model calls",
                 runs("researcher", 40, {"invalid_json": 8, "unknown_tool": 2}),
                 (AlertCheck(name, "50m", (Firing({"job": config.job, "agent": "researcher"}, 0.25),)),)),
    )


def _llm_cache(config: ObservabilityConfig) -> tuple[Scenario, ...]:
    name = alert_names.LLM_CACHE_HIT_RATE_DROP
    llm = config.model.cache
    return (
        # llm: always 8% (under the floor, not under half its own average); tool: drops from 80% to 10%
        # (the generic cache alert's case, not this one's).
        Scenario(f"{name} stays silent for an always-cold LLM cache and a drop in another cache", (
            *cache_series(config, llm, ((4.8, 270),), ((55.2, 270),)),
            *cache_series(config, "tool", ((48, 180), (6, 90)), ((12, 180), (54, 90))),
        ), (AlertCheck(name, "4h30m"),)),
        # llm: 80% for 3h, then 5%; 5m after the drop the window's ratio is still over 40% (silent); it
        # crosses the 10% floor within the window after the drop, and fires after its hold.
        Scenario(f"{name} fires when a warm LLM cache drops from 80% to 5%",
                 cache_series(config, llm, ((48, 180), (3, 90)), ((12, 180), (57, 90))),
                 (AlertCheck(name, "3h05m"),
                  AlertCheck(name, "4h30m", (Firing({"job": config.job, "cache": llm}, 0.05),)))),
    )


def scenarios(config: ObservabilityConfig) -> tuple[Scenario, ...]:
    """All model and agent alert scenarios."""
    return (*_no_model(config), *_errors(config), *_latency_cases(config), *_server(config), *_spend(config),
            *_unanswered(config), *_invalid(config), *_llm_cache(config))
