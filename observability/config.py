"""The single configuration object every generated artifact is rendered from.

Mixin-style: selectors, SLO targets, thresholds and windows live here and
nowhere else. Rules, promtool tests, dashboards and runbooks all read the
same ``ObservabilityConfig``, so changing a threshold here changes the alert,
its unit test, its runbook text and the dashboard threshold line together.

Override with ``dataclasses.replace``::

    >>> from dataclasses import replace
    >>> strict = replace(DEFAULT_CONFIG, slo=replace(DEFAULT_CONFIG.slo, availability=SloTarget(0.999)))
    >>> strict.slo.availability.error_budget_text
    '0.1%'

Every value is validated on construction against the metric catalog (enum
values, bucket boundaries), so a config that would produce a rule matching
nothing fails loudly instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Literal

from agent_runtime.telemetry.catalog import (
    CONFIDENCE_BUCKETS,
    LATENCY_BUCKETS,
    STAGE_BUCKETS,
    STAGES,
    TASK_LATENCY_SLO_SECONDS,
    TASK_OUTCOMES,
    TOOL_LATENCY_TARGET_SECONDS,
    TOOL_OUTCOMES,
)
from observability.promql import number, parse_duration

Severity = Literal["critical", "warning", "info"]

DEFAULT_RUNBOOK_BASE_URL: Final = "https://github.com/agent-runtime/agent-runtime/blob/main/runbooks"
# Grafana as published by docker-compose.yml; runbooks link dashboards under it.
DEFAULT_GRAFANA_URL: Final = "http://localhost:3000"


@dataclass(frozen=True)
class BurnRateWindow:
    """One multi-window, multi-burn-rate condition (SRE workbook, chapter 5).

    The alert fires when the error ratio over both ``long`` and ``short``
    exceeds ``factor`` times the error budget; the short window makes it
    reset quickly once the problem is fixed.
    """

    long: str
    short: str
    factor: float
    severity: Severity
    for_: str


# The workbook's recommended set for a 30-day SLO: 2% / 5% of the budget in
# 1h / 6h pages, 10% in 1d and 10% in 3d open tickets.
SRE_WORKBOOK_WINDOWS: Final = (
    BurnRateWindow("1h", "5m", 14.4, "critical", "2m"),
    BurnRateWindow("6h", "30m", 6.0, "critical", "15m"),
    BurnRateWindow("1d", "2h", 3.0, "warning", "1h"),
    BurnRateWindow("3d", "6h", 1.0, "warning", "3h"),
)


@dataclass(frozen=True)
class SloTarget:
    """An objective (fraction of good events) and the burn-rate windows alerting on it."""

    objective: float
    windows: tuple[BurnRateWindow, ...] = SRE_WORKBOOK_WINDOWS

    def __post_init__(self) -> None:
        if not 0 < self.objective < 1:
            raise ValueError(f"an SLO objective must be within (0, 1), got {self.objective}")

    @property
    def error_budget(self) -> float:
        """The allowed fraction of bad events."""
        return 1 - self.objective

    @property
    def error_budget_text(self) -> str:
        """The budget as a percentage for prose (``1%``)."""
        return f"{number(self.error_budget * 100)}%"

    @property
    def objective_text(self) -> str:
        """The objective as a percentage for prose (``99%``)."""
        return f"{number(self.objective * 100)}%"


@dataclass(frozen=True)
class SloConfig:
    """Task SLOs: success ratio and latency, with the outcomes that count as bad."""

    availability: SloTarget = SloTarget(0.99)
    latency: SloTarget = SloTarget(0.95)
    latency_threshold_seconds: float = TASK_LATENCY_SLO_SECONDS
    # ``rejected`` is admission control (load shedding); it is covered by the
    # saturation alert and left out of the success SLI by default.
    error_outcomes: tuple[str, ...] = ("error", "timeout")

    @property
    def ratio_windows(self) -> tuple[str, ...]:
        """Every window a burn-rate ratio is recorded for, shortest first."""
        windows = {w for target in (self.availability, self.latency) for b in target.windows
                   for w in (b.long, b.short)}
        return tuple(sorted(windows, key=parse_duration))


def _default_stage_targets() -> Mapping[str, float]:
    # p95 targets per pipeline stage, each on a STAGE_BUCKETS boundary.
    return MappingProxyType({
        "analyse": 0.01,
        "score": 0.01,
        "route": 0.025,
        "plan": 0.025,
        "execute": TASK_LATENCY_SLO_SECONDS,
        "tool": TOOL_LATENCY_TARGET_SECONDS,
        "cache": 0.005,
        "aggregate": 0.01,
        "model": 5.0,
    })


@dataclass(frozen=True)
class ComponentConfig:
    """Stage and tool alerts: one evaluation window, a traffic floor, targets."""

    window: str = "5m"
    quantile: float = 0.95
    # Below this many tasks (or tool calls) per second, ratios and quantiles
    # are too noisy to alert on.
    min_rate: float = 0.05
    stage_targets_seconds: Mapping[str, float] = field(default_factory=_default_stage_targets)
    stage_share: float = 0.3
    stage_for: str = "15m"
    tool_latency_target_seconds: float = TOOL_LATENCY_TARGET_SECONDS
    tool_latency_for: str = "15m"
    tool_error_ratio: float = 0.1
    tool_error_outcomes: tuple[str, ...] = ("error", "timeout")
    tool_errors_for: str = "10m"


@dataclass(frozen=True)
class CacheConfig:
    """Cache hit-ratio drop: below ``floor`` AND below ``baseline_factor`` x its own baseline."""

    window: str = "1h"
    baseline_window: str = "1d"
    floor: float = 0.2
    baseline_factor: float = 0.5
    min_rate: float = 0.1
    for_: str = "30m"


@dataclass(frozen=True)
class RoutingConfig:
    """Routing quality: fallback share and share of low-confidence decisions."""

    window: str = "5m"
    min_rate: float = 0.05
    fallback_ratio: float = 0.2
    fallback_for: str = "15m"
    low_confidence_bound: float = 0.5
    low_confidence_ratio: float = 0.5
    low_confidence_for: str = "30m"


@dataclass(frozen=True)
class PlatformConfig:
    """Scrape health, breakers, saturation and the telemetry pipeline itself."""

    down_for: str = "5m"
    absent_for: str = "10m"
    breaker_lookback: str = "5m"
    breaker_open_for: str = "10m"
    saturation_lookback: str = "5m"
    saturation_ratio: float = 0.9
    saturation_for: str = "10m"
    telemetry_window: str = "10m"
    telemetry_for: str = "15m"
    folded_window: str = "1h"
    folded_for: str = "15m"


@dataclass(frozen=True)
class ObservabilityConfig:
    """Everything the generators need; see the module docstring for overriding."""

    job: str = "agent-runtime"
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL
    grafana_url: str = DEFAULT_GRAFANA_URL
    latency_quantiles: tuple[float, ...] = (0.5, 0.95, 0.99)
    latency_quantile_windows: tuple[str, ...] = ("5m", "1h")
    slo: SloConfig = SloConfig()
    components: ComponentConfig = ComponentConfig()
    cache: CacheConfig = CacheConfig()
    routing: RoutingConfig = RoutingConfig()
    platform: PlatformConfig = PlatformConfig()

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def selector(self) -> str:
        """The matcher every raw-metric selector in the rules starts with."""
        return f'job="{self.job}"'

    def runbook_url(self, alert: str) -> str:
        """Where the runbook of ``alert`` is published."""
        return f"{self.runbook_base_url.rstrip('/')}/{alert}.md"


def _durations(config: ObservabilityConfig) -> list[str]:
    slo, comp, cache, routing, plat = (config.slo, config.components, config.cache, config.routing,
                                       config.platform)
    windows = [w for t in (slo.availability, slo.latency) for b in t.windows for w in (b.long, b.short, b.for_)]
    return [
        *windows, *config.latency_quantile_windows, comp.window, comp.stage_for, comp.tool_latency_for,
        comp.tool_errors_for, cache.window, cache.baseline_window, cache.for_, routing.window,
        routing.fallback_for, routing.low_confidence_for, plat.down_for, plat.absent_for,
        plat.breaker_lookback, plat.breaker_open_for, plat.saturation_lookback, plat.saturation_for,
        plat.telemetry_window, plat.telemetry_for, plat.folded_window, plat.folded_for,
    ]


def _validate(config: ObservabilityConfig) -> None:
    """Reject values that would render rules matching nothing or never firing."""
    for text in _durations(config):
        parse_duration(text)
    slo, comp = config.slo, config.components
    if slo.latency_threshold_seconds not in LATENCY_BUCKETS:
        raise ValueError(f"latency SLO threshold {slo.latency_threshold_seconds} is not a bucket boundary")
    if set(slo.error_outcomes) - set(TASK_OUTCOMES) or not slo.error_outcomes:
        raise ValueError(f"error outcomes {slo.error_outcomes} must be a subset of {TASK_OUTCOMES}")
    if set(comp.tool_error_outcomes) - set(TOOL_OUTCOMES) or not comp.tool_error_outcomes:
        raise ValueError(f"tool error outcomes {comp.tool_error_outcomes} must be a subset of {TOOL_OUTCOMES}")
    if set(comp.stage_targets_seconds) != set(STAGES):
        raise ValueError(f"stage targets must cover exactly the stages {STAGES}")
    off_bucket = {s: t for s, t in comp.stage_targets_seconds.items() if t not in STAGE_BUCKETS}
    if off_bucket:
        raise ValueError(f"stage targets must be STAGE_BUCKETS boundaries, got {off_bucket}")
    if config.routing.low_confidence_bound not in CONFIDENCE_BUCKETS:
        raise ValueError(f"low-confidence bound {config.routing.low_confidence_bound} is not a bucket boundary")
    if parse_duration(config.cache.baseline_window) <= parse_duration(config.cache.window):
        raise ValueError("the cache baseline window must be longer than the cache window")
    for q in (*config.latency_quantiles, comp.quantile):
        if not 0 < q < 1:
            raise ValueError(f"quantiles must be within (0, 1), got {q}")


DEFAULT_CONFIG: Final = ObservabilityConfig()
