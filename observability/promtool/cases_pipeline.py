"""promtool scenarios for routing-quality and telemetry-pipeline alerts."""

from __future__ import annotations

from observability import alert_names
from observability.config import ObservabilityConfig
from observability.promtool.model import INSTANCE, AlertCheck, Firing, Scenario, Series, counter, gauge


def _target(config: ObservabilityConfig, **extra: str) -> dict[str, str]:
    return {"job": config.job, "instance": INSTANCE, **extra}


def _decisions(config: ObservabilityConfig, per_minute: dict[tuple[str, str], float]) -> tuple[Series, ...]:
    return tuple(
        Series("agent_runtime_routing_decisions_total", _target(config, agent=agent, source=source),
               counter((inc, 40)))
        for (agent, source), inc in per_minute.items()
    )


def _fallbacks(config: ObservabilityConfig, per_minute: dict[str, float]) -> tuple[Series, ...]:
    return tuple(
        Series("agent_runtime_routing_fallbacks_total", _target(config, agent=agent), counter((inc, 40)))
        for agent, inc in per_minute.items()
    )


def _confidence(config: ObservabilityConfig, at_most_half: float) -> tuple[Series, ...]:
    # 60 decisions/min; ``at_most_half`` of them with confidence <= 0.5.
    name = "agent_runtime_routing_confidence"
    labels = _target(config, agent="writer")
    buckets = {"0.3": at_most_half / 2, "0.5": at_most_half, "1.0": 60, "+Inf": 60}
    return (
        *_decisions(config, {("writer", "scored"): 60}),
        *(Series(f"{name}_bucket", {**labels, "le": le}, counter((inc, 40))) for le, inc in buckets.items()),
        Series(f"{name}_count", labels, counter((60, 40))),
    )


def _routing(config: ObservabilityConfig) -> tuple[Scenario, ...]:
    fallbacks, confidence = alert_names.ROUTING_FALLBACKS_HIGH, alert_names.ROUTING_CONFIDENCE_LOW
    job = {"job": config.job}
    return (
        Scenario(f"{fallbacks} stays silent at 10% fallbacks", (
            *_decisions(config, {("writer", "scored"): 40, ("writer", "cache"): 14, ("generalist", "fallback"): 6}),
            *_fallbacks(config, {"generalist": 6}),
        ), (AlertCheck(fallbacks, "30m"),)),
        Scenario(f"{fallbacks} fires at 25% fallbacks", (
            *_decisions(config, {("writer", "scored"): 30, ("writer", "cache"): 15, ("generalist", "fallback"): 15}),
            *_fallbacks(config, {"generalist": 15}),
        ), (AlertCheck(fallbacks, "20m", (Firing(job, 0.25),)),)),
        # The same unroutable questions again and again: 3 fresh fallbacks a minute, 12 served from the
        # decision cache (source "cache"). They are fallbacks all the same: 15 of 60 decisions.
        Scenario(f"{fallbacks} fires at 25% fallbacks served mostly from the decision cache", (
            *_decisions(config, {("writer", "scored"): 30, ("writer", "cache"): 15, ("generalist", "fallback"): 3,
                                 ("generalist", "cache"): 12}),
            *_fallbacks(config, {"generalist": 15}),
        ), (AlertCheck(fallbacks, "20m", (Firing(job, 0.25),)),)),
        Scenario(f"{confidence} stays silent when 25% of decisions have confidence <= 0.5",
                 _confidence(config, 15), (AlertCheck(confidence, "39m"),)),
        Scenario(f"{confidence} fires when 75% of decisions have confidence <= 0.5",
                 _confidence(config, 45), (AlertCheck(confidence, "35m", (Firing(job, 0.75),)),)),
    )


def _telemetry(config: ObservabilityConfig) -> tuple[Scenario, ...]:
    dropped, failing = alert_names.SPANS_DROPPED, alert_names.TELEMETRY_EXPORT_FAILING
    spans, failures = "agent_runtime_telemetry_spans_dropped_total", "agent_runtime_telemetry_export_failures_total"
    return (
        # 50 spans dropped in one burst: rate > 0 for one 10m window only (for: 15m).
        Scenario(f"{dropped} stays silent after a single burst", (
            Series(spans, _target(config), counter((0, 10), (50, 1), (0, 29))),
        ), (AlertCheck(dropped, "18m"), AlertCheck(dropped, "40m"))),
        # 10 spans/min = 0.17/s.
        Scenario(f"{dropped} fires while spans are dropped steadily", (
            Series(spans, _target(config), counter((10, 30))),
        ), (AlertCheck(dropped, "25m", (Firing(_target(config), 10 / 60),)),)),
        Scenario(f"{failing} stays silent when old failures no longer grow", (
            Series(failures, _target(config, signal="traces"), gauge((3, 40))),
        ), (AlertCheck(failing, "39m"),)),
        Scenario(f"{failing} fires while trace exports keep failing", (
            Series(failures, _target(config, signal="traces"), counter((6, 30))),
        ), (AlertCheck(failing, "25m", (Firing(_target(config, signal="traces"), 0.1),)),)),
    )


def _folded(config: ObservabilityConfig) -> tuple[Scenario, ...]:
    name = alert_names.LABEL_VALUES_FOLDED
    folded = "agent_runtime_telemetry_labels_folded_total"
    return (
        Scenario(f"{name} stays silent when nothing new is folded", (
            Series(folded, _target(config, label="tool"), gauge((5, 80))),
        ), (AlertCheck(name, "75m"),)),
        # One folded tool label per minute: 60 in the last hour.
        Scenario(f"{name} fires while unknown tool names keep arriving", (
            Series(folded, _target(config, label="tool"), counter((1, 80))),
        ), (AlertCheck(name, "75m", (Firing({"job": config.job, "label": "tool"}, 60),)),)),
    )


def scenarios(config: ObservabilityConfig) -> tuple[Scenario, ...]:
    """All routing and telemetry alert scenarios."""
    return (*_routing(config), *_telemetry(config), *_folded(config))
