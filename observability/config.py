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

The per-stage latency targets are not defined here: they are the runtime's
own ``stage_targets_seconds`` table (``agent_runtime/config/default.yaml``,
read with the runtime's loader), the one the profiler and ``agent-runtime
bottlenecks`` compare against, so the report and the alert cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Final, Literal

from agent_runtime.config.loader import DEFAULT_CONFIG_PATH, load_config
from agent_runtime.telemetry.catalog import (
    CACHE_NAMES,
    CONFIDENCE_BUCKETS,
    GENAI_DURATION_BUCKETS,
    LATENCY_BUCKETS,
    STAGE_BUCKETS,
    STAGES,
    STOP_REASONS,
    TASK_LATENCY_SLO_SECONDS,
    TASK_OUTCOMES,
    TOOL_LATENCY_TARGET_SECONDS,
    TOOL_OUTCOMES,
)
from agent_runtime.vocabulary import CacheLayer, StopReason, TaskOutcome, ToolOutcome
from observability.promql import number, parse_duration, regex_alternation, selector

Severity = Literal["critical", "warning", "info"]

# The layer every cache look-up is counted at first; a miss there goes on to the next layer and is counted
# again, so look-ups are counted here and hits at any layer (summing every layer would count one look-up twice).
FIRST_CACHE_LAYERS: Final[tuple[str, ...]] = (CacheLayer.L0, CacheLayer.EXACT)
FIRST_CACHE_LAYER_MATCHER: Final = f'layer=~"{regex_alternation(FIRST_CACHE_LAYERS)}"'

def cache_hits_over_lookups(matchers: str, by: str, window: str) -> str:
    """PromQL: cache hits at any layer over look-ups (counted at their first layer), summed ``by`` labels.

    Summing requests over every layer would count a look-up once per layer it falls through.
    """
    requests = "agent_runtime_cache_requests_total"
    hits = selector(matchers, 'result="hit"')
    lookups = selector(matchers, FIRST_CACHE_LAYER_MATCHER)
    return (
        f"sum by ({by}) (rate({requests}{{{hits}}}[{window}]))\n"
        f"/ (sum by ({by}) (rate({requests}{{{lookups}}}[{window}])) > 0)"
    )


# Outcomes of tool calls that never reached the tool itself: the tool error ratio counts them on neither side.
# A call its fallback answered did reach the tool (which failed it), unless the breaker was open: it is a
# failure of the tool either way, or a tool with a fallback could fail half its calls unseen.
UNREACHED_TOOL_OUTCOMES: Final[tuple[str, ...]] = (ToolOutcome.SHORT_CIRCUITED,)

DEFAULT_RUNBOOK_BASE_URL: Final = "./runbooks"
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
    # How long the alert stays firing after the condition last held: a burn rate hovering at the factor
    # (a partial outage) would otherwise resolve and page again with every dip of the short window.
    keep_firing_for: str | None = None


# The workbook's recommended set for a 30-day SLO: 2% / 5% of the budget in
# 1h / 6h pages, 10% in 1d and 10% in 3d open tickets. The fast page holds for
# 30s only (the workbook uses none: the 5m window already makes it reset): with
# a 1% budget it needs 8.6 min of total failure to cross 14.4x over 1h, so a
# longer hold would push a full outage past 10 minutes (docs/e2e-alerts.md). For the same reason it keeps
# firing for one short window after the burn rate dips under 14.4x: the drill saw a partial outage hovering
# at the factor page twice.
SRE_WORKBOOK_WINDOWS: Final = (
    BurnRateWindow("1h", "5m", 14.4, "critical", "30s", keep_firing_for="5m"),
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
    def event_matcher(self) -> str:
        """The matcher for the success SLI's events: shed load is none unless it counts as an error."""
        return "" if TaskOutcome.REJECTED in self.error_outcomes else f'outcome!="{TaskOutcome.REJECTED}"'

    @property
    def ratio_windows(self) -> tuple[str, ...]:
        """Every window a burn-rate ratio is recorded for, shortest first."""
        windows = {w for target in (self.availability, self.latency) for b in target.windows
                   for w in (b.long, b.short)}
        return tuple(sorted(windows, key=parse_duration))


def runtime_stage_targets(path: str | Path = DEFAULT_CONFIG_PATH) -> Mapping[str, float]:
    """The runtime's p95 target per stage (``stage_targets_seconds``), in catalog stage order.

    Read with the runtime's own loader from ``path`` (the bundled
    ``default.yaml``: generated files must not depend on the shell's
    ``AGENT_RUNTIME_CONFIG``). A stage without a target has no bottleneck
    check, in the profiler and in the rules alike.
    """
    targets = load_config(path).stage_targets_seconds
    ordered = {stage: targets[stage] for stage in STAGES if stage in targets}
    ordered.update({stage: seconds for stage, seconds in targets.items() if stage not in ordered})
    return MappingProxyType(ordered)


@dataclass(frozen=True)
class ComponentConfig:
    """Stage and tool alerts: one evaluation window, a traffic floor, targets."""

    window: str = "5m"
    quantile: float = 0.95
    # Below this many tasks (or tool calls) per second, ratios and quantiles
    # are too noisy to alert on.
    min_rate: float = 0.05
    stage_targets_seconds: Mapping[str, float] = field(default_factory=runtime_stage_targets)
    stage_share: float = 0.3
    stage_for: str = "10m"
    tool_latency_target_seconds: float = TOOL_LATENCY_TARGET_SECONDS
    tool_latency_for: str = "10m"
    tool_error_ratio: float = 0.1
    tool_error_outcomes: tuple[str, ...] = ("error", "timeout", "fallback")
    tool_errors_for: str = "10m"
    # A tool failing a share of its calls near the threshold (cache hits and bursts move the ratio) crosses
    # it back and forth: held this long after the condition last held, the ticket resolves once, not per dip.
    tool_errors_keep_firing_for: str = "5m"


@dataclass(frozen=True)
class CacheConfig:
    """Cache hit-ratio drop: below ``floor`` AND below ``baseline_factor`` x its own baseline.

    The ratio is read over a short ``window`` and held ``for_``, so a ratio that collapses from its usual
    level (about 50% for the tool cache) to near zero is a ticket within about 12 minutes; what counts
    as usual is the long ``baseline_window`` average, so a slow drift is judged against a day, not
    against its own recent past.
    """

    # The caches whose hit ratio is alerted on: those whose misses cost a dependency call. The decision and
    # analysis caches save microseconds of CPU per task and are emptied by design whenever routing's inputs
    # change (experience, tool health, configuration): their ratio wobbles around a low level in healthy
    # runs (the drill's healthy run fired on the decision cache) and a drop harms nobody. The LLM cache has
    # an alert of its own.
    caches: tuple[str, ...] = ("tool",)
    window: str = "10m"
    baseline_window: str = "1d"
    floor: float = 0.2
    baseline_factor: float = 0.5
    min_rate: float = 0.1
    for_: str = "5m"
    # A layer (L1 directory, L2 Redis) degraded at least once in every lookback window for layer_down_for.
    layer_lookback: str = "2m"
    layer_down_for: str = "5m"


@dataclass(frozen=True)
class ModelConfig:
    """LLM agents and their model: call errors and latency, spend, how agents stop, the LLM cache, the server.

    Every series these rules read is absent while no model is configured, and
    every ratio is gated on a minimum rate, so a runtime without an LLM (or an
    idle one) fires none of them.
    """

    # Model calls are few and slow (seconds each, many answered from the cache): a 15m window holds
    # enough of them for a ratio or a p95, where 5m would often hold none.
    window: str = "15m"
    quantile: float = 0.95
    # Model calls per second below which error ratios and quantiles are noise.
    min_rate: float = 0.02
    error_ratio: float = 0.1
    errors_for: str = "10m"
    # p95 of one model call, on a GenAI duration bucket boundary.
    latency_threshold_seconds: float = 10.24
    latency_for: str = "5m"
    # Slow model calls end in bursts (a queue at the server drains at once): a window that empties between
    # two bursts is a pause, not a recovery, so the latency and spend alerts keep firing this long after
    # their condition last held rather than resolving and notifying again.
    keep_firing_for: str = "10m"
    # The model call as a pipeline tool: registered (with a breaker series) only when a model is configured.
    tool: str = "llm_chat"
    # Other tools that call the model (seconds per call even when healthy): like the model tool, they are
    # held to the model latency alert, not the tool latency target.
    backed_tools: tuple[str, ...] = ("write_answer",)
    # The local model server's Prometheus job (llama.cpp `llama-server --metrics`);
    # None for a hosted model: no server alerts or panels.
    server_job: str | None = "llama"
    server_down_for: str = "5m"
    server_absent_for: str = "10m"
    # Token spend: dollars per hour over a long window and, so the alert resolves quickly, a short one
    # (15m: model calls finish in bursts minutes apart when the server is slow or busy, and a shorter
    # window would empty between them and reset the alert).
    hourly_budget_dollars: float = 5.0
    budget_window: str = "1h"
    budget_short_window: str = "15m"
    budget_for: str = "5m"
    # Per-agent ratios (stops, invalid actions) over a longer window: LLM agents run few, slow tasks.
    agent_window: str = "30m"
    agent_min_rate: float = 0.005
    unanswered_reasons: tuple[str, ...] = ("max_steps", "loop", "token_budget")
    unanswered_ratio: float = 0.2
    unanswered_for: str = "15m"
    # Invalid actions per model call.
    invalid_action_ratio: float = 0.2
    invalid_for: str = "15m"
    # The LLM response cache: same windows as CacheConfig, its own floor and traffic gate
    # (and left out of the generic cache hit-rate alert).
    cache: str = "llm"
    cache_floor: float = 0.1
    cache_baseline_factor: float = 0.5
    cache_min_rate: float = 0.01
    cache_for: str = "30m"

    @property
    def latency_tools(self) -> tuple[str, ...]:
        """The tools whose latency is the model's: the model tool and the tools backed by it."""
        return (self.tool, *self.backed_tools)

    @property
    def server_selector(self) -> str:
        """The matcher of the model server's own series (``job="llama"``)."""
        return f'job="{self.server_job}"'


@dataclass(frozen=True)
class RoutingConfig:
    """Routing quality: fallback share and share of low-confidence decisions (over 10m: shares of a few
    hundred decisions, steady enough to hold an alert through its ``for:``)."""

    window: str = "10m"
    min_rate: float = 0.05
    fallback_ratio: float = 0.2
    fallback_for: str = "10m"
    low_confidence_bound: float = 0.5
    low_confidence_ratio: float = 0.5
    low_confidence_for: str = "10m"


@dataclass(frozen=True)
class PlatformConfig:
    """Scrape health, breakers, saturation and the telemetry pipeline itself."""

    down_for: str = "5m"
    # absent() turns true one lookback delta (5m by default) after the last scrape, so this pages ~8 min in.
    absent_for: str = "3m"
    breaker_lookback: str = "5m"
    breaker_open_for: str = "10m"
    saturation_lookback: str = "5m"
    saturation_ratio: float = 0.9
    saturation_for: str = "10m"
    telemetry_window: str = "10m"
    telemetry_for: str = "10m"
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
    model: ModelConfig = ModelConfig()

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
    slo, comp, cache, routing, plat, model = (config.slo, config.components, config.cache, config.routing,
                                              config.platform, config.model)
    windows = [w for t in (slo.availability, slo.latency) for b in t.windows
               for w in (b.long, b.short, b.for_, b.keep_firing_for) if w is not None]
    return [
        *windows, *config.latency_quantile_windows, comp.window, comp.stage_for, comp.tool_latency_for,
        comp.tool_errors_for, comp.tool_errors_keep_firing_for, cache.window, cache.baseline_window, cache.for_,
        cache.layer_lookback, cache.layer_down_for, routing.window,
        routing.fallback_for, routing.low_confidence_for, plat.down_for, plat.absent_for,
        plat.breaker_lookback, plat.breaker_open_for, plat.saturation_lookback, plat.saturation_for,
        plat.telemetry_window, plat.telemetry_for, plat.folded_window, plat.folded_for,
        model.window, model.errors_for, model.latency_for, model.keep_firing_for, model.server_down_for,
        model.server_absent_for,
        model.budget_window, model.budget_short_window, model.budget_for, model.agent_window,
        model.unanswered_for, model.invalid_for, model.cache_for,
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
    reached = tuple(o for o in TOOL_OUTCOMES if o not in UNREACHED_TOOL_OUTCOMES)
    if set(comp.tool_error_outcomes) - set(reached):
        raise ValueError(f"tool error outcomes {comp.tool_error_outcomes} must be outcomes of calls that reached "
                         f"the tool, a subset of {reached}: open breakers have their own alert")
    unknown = sorted(set(comp.stage_targets_seconds) - set(STAGES))
    if unknown or not comp.stage_targets_seconds:
        raise ValueError(f"stage targets must name stages of {STAGES}, got {unknown or 'none'}")
    # Off a bucket boundary a target is compared with an interpolated quantile (approximate, but it
    # works); above the last finite bucket histogram_quantile can never exceed it.
    unreachable = {s: t for s, t in comp.stage_targets_seconds.items() if not 0 < t <= STAGE_BUCKETS[-1]}
    if unreachable:
        raise ValueError(f"stage targets must be within (0, {STAGE_BUCKETS[-1]}] (STAGE_BUCKETS), got {unreachable}")
    if config.routing.low_confidence_bound not in CONFIDENCE_BUCKETS:
        raise ValueError(f"low-confidence bound {config.routing.low_confidence_bound} is not a bucket boundary")
    if parse_duration(config.cache.baseline_window) <= parse_duration(config.cache.window):
        raise ValueError("the cache baseline window must be longer than the cache window")
    for q in (*config.latency_quantiles, comp.quantile, config.model.quantile):
        if not 0 < q < 1:
            raise ValueError(f"quantiles must be within (0, 1), got {q}")
    if set(config.cache.caches) - set(CACHE_NAMES) or not config.cache.caches:
        raise ValueError(f"cache.caches must name some of {CACHE_NAMES}, got {config.cache.caches}")
    if config.model.cache in config.cache.caches:
        raise ValueError(f"cache.caches must leave out the model cache {config.model.cache!r}: it has its own alert")
    _validate_model(config.model)


def _validate_model(model: ModelConfig) -> None:
    if model.latency_threshold_seconds not in GENAI_DURATION_BUCKETS:
        raise ValueError(f"model latency threshold {model.latency_threshold_seconds} is not a bucket boundary")
    if set(model.unanswered_reasons) - set(STOP_REASONS) or not model.unanswered_reasons:
        raise ValueError(f"unanswered stop reasons {model.unanswered_reasons} must be a subset of {STOP_REASONS}")
    answered = sorted(r for r in model.unanswered_reasons if StopReason(r).answered)
    if answered:
        raise ValueError(f"unanswered stop reasons {answered} end with an answer (`final`, and `forced_final` "
                         "when the last turn could only answer)")
    if model.cache not in CACHE_NAMES:
        raise ValueError(f"model cache {model.cache!r} is not one of {CACHE_NAMES}")
    if model.hourly_budget_dollars <= 0:
        raise ValueError(f"the hourly budget must be > 0 dollars, got {model.hourly_budget_dollars}")
    if parse_duration(model.budget_short_window) >= parse_duration(model.budget_window):
        raise ValueError("the short spend window must be shorter than the spend window")
    if model.server_job is not None and not model.server_job:
        raise ValueError("the model server job is a non-empty name, or None for a hosted model")


DEFAULT_CONFIG: Final = ObservabilityConfig()
