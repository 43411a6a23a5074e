"""promtool scenarios for stage, tool, cache and circuit-breaker alerts.

Borderline cases show the guards working: a slow stage that is a small share
of task time, a failing tool below the minimum call rate, a cache that is
always cold, a breaker that trips once and recovers.
"""

from __future__ import annotations

from collections.abc import Mapping

from agent_runtime.telemetry.catalog import STAGES
from observability import alert_names
from observability.config import ObservabilityConfig
from observability.promtool.model import INSTANCE, AlertCheck, Firing, Scenario, Series, counter, gauge


def _target(config: ObservabilityConfig, **extra: str) -> dict[str, str]:
    return {"job": config.job, "instance": INSTANCE, **extra}


def histogram(name: str, labels: dict[str, str], buckets: Mapping[str, float], minutes: int) -> tuple[Series, ...]:
    """Cumulative bucket increments per minute; the ``+Inf`` increment is also the count."""
    series = [Series(f"{name}_bucket", {**labels, "le": le}, counter((inc, minutes))) for le, inc in buckets.items()]
    series.append(Series(f"{name}_count", labels, counter((buckets["+Inf"], minutes))))
    return tuple(series)


def _stage_inputs(config: ObservabilityConfig, seconds_per_minute: Mapping[str, float]) -> tuple[Series, ...]:
    # 60 tasks/min of 1s each; every stage observation lands in (0.25, 0.5]: p95 = 0.4875s.
    stage = "agent_runtime_stage_duration_seconds"
    slow = {"0.25": 0, "0.5": 60, "+Inf": 60}
    return (
        Series("agent_runtime_tasks_total", _target(config, agent="writer", outcome="success"), counter((60, 40))),
        Series("agent_runtime_task_duration_seconds_sum", _target(config, agent="writer"), counter((60, 40))),
        Series("agent_runtime_task_duration_seconds_count", _target(config, agent="writer"), counter((60, 40))),
        *(series for name, seconds in seconds_per_minute.items() for series in (
            *histogram(stage, _target(config, stage=name), slow, 40),
            Series(f"{stage}_sum", _target(config, stage=name), counter((seconds, 40))),
        )),
    )


def _stage(config: ObservabilityConfig) -> tuple[Scenario, ...]:
    name = alert_names.STAGE_BOTTLENECK
    targets = config.components.stage_targets_seconds
    scenarios = [
        # score: p95 0.4875s, over its target, but only 10% of task time; execute: 90% but under its target.
        Scenario(f"{name} stays silent for a slow small stage and a large stage within target",
                 _stage_inputs(config, {"score": 6, "execute": 54}), (AlertCheck(name, "30m"),)),
        # score: 50% of task time and p95 0.4875s, over its target.
        Scenario(f"{name} fires for a stage over target taking half of task time",
                 _stage_inputs(config, {"score": 30, "execute": 27}),
                 (AlertCheck(name, "30m", (Firing({"job": config.job, "stage": "score"}, 0.4875),)),)),
    ]
    untargeted = [stage for stage in STAGES if stage not in targets]
    if untargeted:
        # As in the profiler, a stage without a target is never a bottleneck, however slow.
        scenarios.append(Scenario(
            f"{name} stays silent for a slow, dominant stage without a target ({untargeted[0]})",
            _stage_inputs(config, {untargeted[0]: 54}), (AlertCheck(name, "30m"),)))
    return tuple(scenarios)


def _tool_calls(config: ObservabilityConfig, tool: str, per_minute: dict[str, float]) -> tuple[Series, ...]:
    return tuple(
        Series("agent_runtime_tool_calls_total", _target(config, tool=tool, outcome=outcome), counter((inc, 40)))
        for outcome, inc in per_minute.items()
    )


def _tool_latency(config: ObservabilityConfig) -> tuple[Scenario, ...]:
    name = alert_names.TOOL_LATENCY_HIGH
    duration = "agent_runtime_tool_duration_seconds"
    return (
        # search: all calls in (0.5, 1.0] -> p95 0.975s; fetch: p95 2.425s but 1 call/min < 0.05/s.
        Scenario(f"{name} stays silent under the target and below the minimum call rate", (
            *_tool_calls(config, "search", {"success": 60}),
            *histogram(duration, _target(config, tool="search"), {"0.5": 0, "1.0": 60, "+Inf": 60}, 40),
            *_tool_calls(config, "fetch", {"success": 1}),
            *histogram(duration, _target(config, tool="fetch"), {"1.0": 0, "2.5": 1, "+Inf": 1}, 40),
        ), (AlertCheck(name, "30m"),)),
        # all calls in (1.0, 2.5] -> p95 = 1 + 1.5 * 0.95 = 2.425s.
        Scenario(f"{name} fires when a tool's p95 is 2.425s", (
            *_tool_calls(config, "search", {"success": 60}),
            *histogram(duration, _target(config, tool="search"), {"1.0": 0, "2.5": 60, "+Inf": 60}, 40),
        ), (AlertCheck(name, "25m", (Firing({"job": config.job, "tool": "search"}, 2.425),)),)),
        # The model's tools take seconds when healthy: held to the model latency alert, not this target.
        Scenario(f"{name} leaves the tools that call the model out", tuple(
            series for tool in config.model.latency_tools for series in (
                *_tool_calls(config, tool, {"success": 60}),
                *histogram(duration, _target(config, tool=tool), {"1.0": 0, "2.5": 60, "+Inf": 60}, 40),
            )
        ), (AlertCheck(name, "25m"),)),
    )


def _tool_errors(config: ObservabilityConfig) -> tuple[Scenario, ...]:
    name = alert_names.TOOL_ERRORS_HIGH
    return (
        Scenario(f"{name} stays silent at 5% errors and for a failing tool called once a minute", (
            *_tool_calls(config, "search", {"success": 57, "error": 3}),
            *_tool_calls(config, "fetch", {"error": 1}),
        ), (AlertCheck(name, "30m"),)),
        # 10 errors + 5 timeouts of 60 calls/min = 25%.
        Scenario(f"{name} fires at 25% failed calls", _tool_calls(
            config, "search", {"success": 45, "error": 10, "timeout": 5},
        ), (AlertCheck(name, "20m", (Firing({"job": config.job, "tool": "search"}, 0.25),)),)),
        # A tool with a fallback failing 20% of its calls: the fallback answers them, and they count as failed.
        Scenario(f"{name} fires at 20% of calls answered by the fallback", _tool_calls(
            config, "search", {"success": 48, "fallback": 12},
        ), (AlertCheck(name, "20m", (Firing({"job": config.job, "tool": "search"}, 0.2),)),)),
        # An open breaker: 50 calls/min short-circuited, 5 answered by the fallback, and the 5 half-open
        # probes that reach the tool all fail: 10 of 10 counted calls failed, so the alert holds (it would
        # read 10 / 60 = 17% and drift down if the short-circuited calls counted).
        Scenario(f"{name} holds while the breaker is open and its probes fail", _tool_calls(
            config, "search", {"short_circuited": 50, "fallback": 5, "error": 5},
        ), (AlertCheck(name, "20m", (Firing({"job": config.job, "tool": "search"}, 1),)),)),
        # 25% failed for 30m, then none: the 5m ratio was last over 10% at 33m (30 failed of 255 calls). The
        # alert keeps firing for keep_firing_for (5m) after that, with that last value, then resolves.
        Scenario(f"{name} keeps firing for a while after the failures stop, then resolves", (
            Series("agent_runtime_tool_calls_total", _target(config, tool="search", outcome="success"),
                   counter((45, 70))),
            Series("agent_runtime_tool_calls_total", _target(config, tool="search", outcome="error"),
                   counter((15, 30), (0, 40))),
        ), (AlertCheck(name, "37m", (Firing({"job": config.job, "tool": "search"}, 30 / 255),)),
            AlertCheck(name, "40m"))),
    )


def cache_series(config: ObservabilityConfig, cache: str, hits: tuple[tuple[float, int], ...],
                 misses: tuple[tuple[float, int], ...]) -> tuple[Series, ...]:
    """Look-ups of ``cache`` in its first layer: hits and misses per minute, by segment."""
    layer = "exact" if cache in ("decision", "analysis") else "l0"
    return tuple(
        Series("agent_runtime_cache_requests_total", _target(config, cache=cache, layer=layer, result=result),
               counter(*segments))
        for result, segments in (("hit", hits), ("miss", misses))
    )


def _cache(config: ObservabilityConfig) -> tuple[Scenario, ...]:
    name = alert_names.CACHE_HIT_RATE_DROP
    return (
        # tool: always 10% (under the floor, but not under half its own average);
        # decision and analysis: the same drop as the firing tool case below, not alerted on (cache.caches);
        # llm: the same drop again, left to the LLM cache's own alert.
        Scenario(f"{name} stays silent for an always-cold cache, routing's caches and the LLM cache", (
            *cache_series(config, "tool", ((6, 270),), ((54, 270),)),
            *cache_series(config, "decision", ((48, 180), (6, 90)), ((12, 180), (54, 90))),
            *cache_series(config, "analysis", ((48, 180), (6, 90)), ((12, 180), (54, 90))),
            *cache_series(config, config.model.cache, ((48, 180), (6, 90)), ((12, 180), (54, 90))),
        ), (AlertCheck(name, "4h30m"),)),
        # tool: drops from 100% to 0% at one look-up per minute (under the minimum rate).
        Scenario(f"{name} stays silent for an idle cache",
                 cache_series(config, "tool", ((1, 180), (0, 90)), ((0, 180), (1, 90))),
                 (AlertCheck(name, "4h30m"),)),
        # tool: 80% for 3h, then 10%; 5m after the drop the window's ratio is still about 45% (silent);
        # it crosses the 20% floor about 9m after the drop (10m window), and fires after its hold.
        Scenario(f"{name} fires when a warm cache drops from 80% to 10%",
                 cache_series(config, "tool", ((48, 180), (6, 90)), ((12, 180), (54, 90))),
                 (AlertCheck(name, "3h05m"),
                  AlertCheck(name, "4h30m", (Firing({"job": config.job, "cache": "tool"}, 0.1),)))),
    )


def _cache_layer(config: ObservabilityConfig) -> tuple[Scenario, ...]:
    name = alert_names.CACHE_LAYER_DOWN
    up = "agent_runtime_cache_layer_up"
    l2 = _target(config, cache="tool", layer="l2")
    l1 = _target(config, cache=config.model.cache, layer="l1")
    # Down for two scrapes (re-opened with backoff), up for one: every 2m window holds a 0.
    flapping = " ".join(["1"] * 10 + ["0", "0", "1"] * 10)
    return (
        # One failed scrape-to-scrape period keeps min_over_time at 0 for 2m only (for: 5m).
        Scenario(f"{name} stays silent when a layer fails once and re-opens", (
            Series(up, l2, gauge((1, 10), (0, 1), (1, 29))),
            Series(up, l1, gauge((1, 40))),
        ), (AlertCheck(name, "16m"), AlertCheck(name, "39m"))),
        Scenario(f"{name} fires for Redis down and for a cache directory that keeps failing after re-opening", (
            Series(up, l2, gauge((1, 10), (0, 30))),
            Series(up, l1, flapping),
        ), (AlertCheck(name, "30m", (Firing(l2, 0), Firing(l1, 0))),)),
    )


def _breaker(config: ObservabilityConfig) -> tuple[Scenario, ...]:
    name = alert_names.CIRCUIT_BREAKER_OPEN
    # Open, with a half-open probe every fourth scrape and one missed scrape: max_over_time still sees it.
    flapping = ["0"] * 10 + ["2", "2", "2", "1"] * 6
    flapping[20] = "_"
    return (
        Scenario(f"{name} stays silent when a breaker trips once and closes", (
            Series("agent_runtime_circuit_breaker_state", _target(config, breaker="fetch"),
                   gauge((0, 10), (2, 2), (1, 1), (0, 27))),
        ), (AlertCheck(name, "16m"), AlertCheck(name, "40m"))),
        Scenario(f"{name} fires for a breaker re-opening after probes, despite a missed scrape", (
            Series("agent_runtime_circuit_breaker_state", _target(config, breaker="search"), " ".join(flapping)),
        ), (AlertCheck(name, "30m", (Firing({"job": config.job, "breaker": "search"}, 1),)),)),
    )


def scenarios(config: ObservabilityConfig) -> tuple[Scenario, ...]:
    """All component alert scenarios."""
    return (*_stage(config), *_tool_latency(config), *_tool_errors(config), *_cache(config),
            *_cache_layer(config), *_breaker(config))
