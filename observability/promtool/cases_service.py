"""promtool scenarios for the service-level alerts (scrape health, SLO burn, saturation, Watchdog).

Each alert gets a scenario where it must stay silent on healthy or
borderline input and one where it fires with exact labels and annotations.
Numbers are chosen against the default config; comments give the arithmetic.
"""

from __future__ import annotations

from observability import alert_names
from observability.config import ObservabilityConfig
from observability.promtool.model import INSTANCE, AlertCheck, Firing, Scenario, Series, counter, gauge


def _target(config: ObservabilityConfig, **extra: str) -> dict[str, str]:
    return {"job": config.job, "instance": INSTANCE, **extra}


def _tasks(config: ObservabilityConfig, per_minute: dict[str, float], minutes: int) -> tuple[Series, ...]:
    return tuple(
        Series("agent_runtime_tasks_total", _target(config, agent="writer", outcome=outcome),
               counter((increment, minutes)))
        for outcome, increment in per_minute.items()
    )


def _latency(config: ObservabilityConfig, fast: float, total: float, minutes: int) -> tuple[Series, ...]:
    # ``fast`` of every ``total`` tasks per minute finish within the 2.5s SLO threshold.
    name = "agent_runtime_task_duration_seconds"
    labels = _target(config, agent="writer")
    return (
        Series(f"{name}_bucket", {**labels, "le": "2.5"}, counter((fast, minutes))),
        Series(f"{name}_bucket", {**labels, "le": "+Inf"}, counter((total, minutes))),
        Series(f"{name}_count", labels, counter((total, minutes))),
    )


def _down(config: ObservabilityConfig) -> tuple[Scenario, ...]:
    up = "up"
    return (
        Scenario(f"{alert_names.DOWN} stays silent through a 4-minute scrape gap (for: 5m)", (
            Series(up, _target(config), gauge((1, 10), (0, 4), (1, 16))),
        ), (AlertCheck(alert_names.DOWN, "13m"), AlertCheck(alert_names.DOWN, "29m"))),
        Scenario(f"{alert_names.DOWN} fires once scrapes have failed for 5m", (
            Series(up, _target(config), gauge((1, 10), (0, 20))),
        ), (AlertCheck(alert_names.DOWN, "25m", (Firing(_target(config), 0),)),)),
    )


def _target_missing(config: ObservabilityConfig) -> tuple[Scenario, ...]:
    return (
        Scenario(f"{alert_names.TARGET_MISSING} stays silent while the job is scraped", (
            Series("up", _target(config), gauge((1, 30))),
        ), (AlertCheck(alert_names.TARGET_MISSING, "20m"),)),
        Scenario(f"{alert_names.TARGET_MISSING} fires when only other jobs are scraped", (
            Series("up", {"job": "prometheus", "instance": "prometheus:9090"}, gauge((1, 30))),
        ), (AlertCheck(alert_names.TARGET_MISSING, "15m", (Firing({"job": config.job}, 1),)),)),
    )


def _error_budget(config: ObservabilityConfig) -> tuple[Scenario, ...]:
    name = alert_names.TASK_ERROR_BUDGET_BURN
    job = {"job": config.job}
    return (
        # 9 errors per 1000 tasks = 0.9%, under 1x the 1% budget for 4h; 5% rejected tasks do not count.
        Scenario(f"{name} stays silent at 0.9% errors with 5% rejected tasks", _tasks(
            config, {"success": 941, "error": 5, "timeout": 4, "rejected": 50}, 240,
        ), (AlertCheck(name, "30m"), AlertCheck(name, "4h"))),
        # 20% errors: above 14.4% (1h/5m, for 2m) and 6% (6h/30m, for 15m); tickets still pending.
        Scenario(f"{name} pages on a fast burn (20% errors)", _tasks(
            config, {"success": 80, "error": 15, "timeout": 5}, 40,
        ), (AlertCheck(name, "30m", (
            Firing({**job, "long": "1h", "short": "5m"}, 0.2),
            Firing({**job, "long": "6h", "short": "30m"}, 0.2),
        )),)),
        # 5% errors: below both page thresholds, above 3% (1d/2h, for 1h) and 1% (3d/6h, for 3h).
        Scenario(f"{name} opens tickets on a slow burn (5% errors)", _tasks(
            config, {"success": 95, "error": 5}, 215,
        ), (AlertCheck(name, "3h30m", (
            Firing({**job, "long": "1d", "short": "2h"}, 0.05),
            Firing({**job, "long": "3d", "short": "6h"}, 0.05),
        )),)),
    )


def _latency_budget(config: ObservabilityConfig) -> tuple[Scenario, ...]:
    name = alert_names.TASK_LATENCY_BUDGET_BURN
    job = {"job": config.job}
    return (
        Scenario(f"{name} stays silent with 3% of tasks slower than 2.5s (budget 5%)",
                 _latency(config, 97, 100, 240), (AlertCheck(name, "30m"), AlertCheck(name, "4h"))),
        # 80% slow: above 72% (14.4x) and 30% (6x) of the 5% budget.
        Scenario(f"{name} pages when 80% of tasks are slow", _latency(config, 20, 100, 40), (
            AlertCheck(name, "30m", (
                Firing({**job, "long": "1h", "short": "5m"}, 0.8),
                Firing({**job, "long": "6h", "short": "30m"}, 0.8),
            )),
        )),
        # 20% slow: under the 30% page threshold, above 15% (3x) and 5% (1x).
        Scenario(f"{name} opens tickets when 20% of tasks are slow", _latency(config, 80, 100, 215), (
            AlertCheck(name, "3h30m", (
                Firing({**job, "long": "1d", "short": "2h"}, 0.2),
                Firing({**job, "long": "3d", "short": "6h"}, 0.2),
            )),
        )),
    )


def _saturated(config: ObservabilityConfig) -> tuple[Scenario, ...]:
    name = alert_names.SATURATED
    other = {"job": config.job, "instance": "runtime-2:8000"}
    return (
        # One scrape at the limit keeps max_over_time high for 5m only (for: 10m); a zero limit is guarded.
        Scenario(f"{name} stays silent on a single spike and on a zero limit", (
            Series("agent_runtime_tasks_in_flight", _target(config), gauge((40, 20), (64, 1), (40, 19))),
            Series("agent_runtime_tasks_in_flight_limit", _target(config), gauge((64, 40))),
            Series("agent_runtime_tasks_in_flight", other, gauge((5, 40))),
            Series("agent_runtime_tasks_in_flight_limit", other, gauge((0, 40))),
        ), (AlertCheck(name, "24m"), AlertCheck(name, "39m"))),
        # 60 of 64 slots = 93.75% for 30m.
        Scenario(f"{name} fires at 60 of 64 in-flight slots", (
            Series("agent_runtime_tasks_in_flight", _target(config), gauge((60, 30))),
            Series("agent_runtime_tasks_in_flight_limit", _target(config), gauge((64, 30))),
        ), (AlertCheck(name, "20m", (Firing(_target(config), 0.9375),)),)),
    )


def _watchdog(config: ObservabilityConfig) -> tuple[Scenario, ...]:
    # The Watchdog has no silent case by design: silence is the failure it exists to expose.
    return (
        Scenario(f"{alert_names.WATCHDOG} always fires, even with no data", (
            Series("up", _target(config), gauge((1, 5))),
        ), (AlertCheck(alert_names.WATCHDOG, "1m", (Firing({}, 1),)),
            AlertCheck(alert_names.WATCHDOG, "10m", (Firing({}, 1),)))),
    )


def scenarios(config: ObservabilityConfig) -> tuple[Scenario, ...]:
    """All service-level alert scenarios."""
    return (
        *_down(config),
        *_target_missing(config),
        *_error_budget(config),
        *_latency_budget(config),
        *_saturated(config),
        *_watchdog(config),
    )
