"""Shared dashboard building blocks on top of grafana-foundation-sdk 0.0.21.

Every panel goes through these helpers, which is how the dashboards keep
their invariants: the ``${datasource}`` variable on every panel and query, a
unit on every panel, ``$__rate_interval`` in every rate, the job -> instance
selector on every series, and the same legend and tooltip conventions.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from typing import Final

# The SDK warns at import that v1 dashboards are deprecated in favour of v2;
# Grafana's file provisioning and the dashboard JSON schema are v1, so v1 it is.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from grafana_foundation_sdk.builders import bargauge, heatmap, stat, statetimeline, table, timeseries
    from grafana_foundation_sdk.builders.common import (
        GraphThresholdsStyleConfig,
        ReduceDataOptions,
        StackingConfig,
        VizLegendOptions,
        VizTooltipOptions,
    )
    from grafana_foundation_sdk.builders.dashboard import (
        Dashboard,
        DashboardLink,
        DatasourceVariable,
        QueryVariable,
        Row,
        ThresholdsConfig,
    )
    from grafana_foundation_sdk.builders.prometheus import Dataquery
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models.common import (
        DataSourceRef,
        GraphThresholdsStyleMode,
        LegendDisplayMode,
        LegendPlacement,
        SortOrder,
        StackingMode,
        TooltipDisplayMode,
    )
    from grafana_foundation_sdk.models.dashboard import (
        DashboardCursorSync,
        DashboardLinkType,
        Threshold,
        ThresholdsMode,
        ValueMap,
        ValueMappingResult,
        VariableOption,
        VariableRefresh,
        VariableSort,
    )
    from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from observability import alert_names
from observability.config import ObservabilityConfig
from observability.links import DASHBOARD_TAG, DashboardId
from observability.promql import selector

# The provisioned Prometheus data source (grafana/provisioning/datasources/).
PROMETHEUS_UID: Final = "prometheus"
DATASOURCE: Final = DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE: Final = "$__rate_interval"
GREEN, YELLOW, RED = "green", "yellow", "red"
# Grafana has no token unit; a custom suffix unit reads "12 tok/s".
TOKENS_PER_SECOND: Final = "suffix: tok/s"

Steps = Sequence[tuple[float | None, str]]

__all__ = [
    "DATASOURCE", "GREEN", "PROMETHEUS_UID", "RATE", "RED", "TOKENS_PER_SECOND", "YELLOW",
    # SDK types re-exported so dashboard modules import the SDK only through this module.
    "Dashboard", "Dataquery", "ValueMap", "ValueMappingResult",
    "bargauge_panel", "by_agent_kind", "cache_layer_panel", "dashboard", "heatmap_panel", "query", "row",
    "runbook_link", "sel", "stat_panel",
    "state_timeline_panel", "table_panel", "thresholds", "timeseries_panel", "to_json",
]


def sel(*matchers: str) -> str:
    """The dashboard's job and instance filter plus ``matchers``, as a selector body."""
    return selector('job=~"$job"', 'instance=~"$instance"', *matchers)


def by_agent_kind(per_agent: str) -> str:
    """``per_agent`` (labelled job, instance, agent) summed by the agents' ``kind``.

    Joined with ``agent_runtime_agent_info``; ``topk`` keeps the join one-to-one if
    a reloaded configuration changed an agent's kind. Series of no configured
    agent (``none``: unrouted or rejected; ``other``) have no kind and drop out.
    """
    info = f"topk by (job, instance, agent) (1, agent_runtime_agent_info{{{sel()}}})"
    return f"sum by (kind) (\n  {per_agent}\n  * on (job, instance, agent) group_left (kind)\n  {info}\n)"


def cache_layer_panel(config: ObservabilityConfig, *, width: int = 24, height: int = 6) -> statetimeline.Panel:
    """Each shared cache layer's state (worst instance): up or degraded."""
    states = ValueMap({
        "0": ValueMappingResult(text="degraded", color=RED, index=0),
        "1": ValueMappingResult(text="up", color=GREEN, index=1),
    })
    return state_timeline_panel(
        "Cache layer up", "State of each shared cache layer (l1 disk, l2 Redis) per cache, worst instance: "
        "a degraded layer is skipped and re-opened with backoff. Layers that are not configured have no row.",
        query(f"min by (cache, layer) (agent_runtime_cache_layer_up{{{sel()}}})", "{{cache}} {{layer}}"),
        [states], ((None, RED), (1, GREEN)), width=width, height=height,
        links=[runbook_link(config, alert_names.CACHE_LAYER_DOWN)])


def query(expr: str, legend: str = "__auto", ref: str = "A", *, exemplar: bool = False,
          instant: bool = False, heatmap_format: bool = False) -> Dataquery:
    """A Prometheus query on the dashboard's data source."""
    q = Dataquery().datasource(DATASOURCE).expr(expr).legend_format(legend).ref_id(ref)
    q = q.instant() if instant else q.range()
    if exemplar:
        q = q.exemplar(True)
    if heatmap_format:
        q = q.format(PromQueryFormat.HEATMAP)
    return q


def runbook_link(config: ObservabilityConfig, alert: str) -> DashboardLink:
    """A panel link to an alert's runbook."""
    return DashboardLink(f"Runbook: {alert}").url(config.runbook_url(alert)).target_blank(True)


def thresholds(steps: Steps) -> ThresholdsConfig:
    """Absolute thresholds; the first step's value is ``None`` (the base colour)."""
    return ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps([Threshold(v, c) for v, c in steps])


def _legend() -> VizLegendOptions:
    return (VizLegendOptions().display_mode(LegendDisplayMode.TABLE).placement(LegendPlacement.BOTTOM)
            .show_legend(True).calcs(["mean", "max", "lastNotNull"]))


def _tooltip() -> VizTooltipOptions:
    return VizTooltipOptions().mode(TooltipDisplayMode.MULTI).sort(SortOrder.DESCENDING)


def timeseries_panel(
    title: str, description: str, unit: str, targets: Sequence[Dataquery], *,
    width: int = 12, height: int = 8, max_val: float | None = None, steps: Steps = (),
    stacked: bool = False, links: Sequence[DashboardLink] = (),
) -> timeseries.Panel:
    """A time series; ``steps`` beyond the base are drawn as dashed threshold lines."""
    panel = (timeseries.Panel().title(title).description(description).datasource(DATASOURCE).unit(unit)
             .span(width).height(height).min(0).legend(_legend()).tooltip(_tooltip()).fill_opacity(10)
             .targets(list(targets)))
    if max_val is not None:
        panel = panel.max(max_val)
    if steps:
        panel = panel.thresholds(thresholds(steps)).thresholds_style(
            GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.DASHED))
    if stacked:
        panel = panel.stacking(StackingConfig().mode(StackingMode.NORMAL)).fill_opacity(40)
    if links:
        panel = panel.links(list(links))
    return panel


def stat_panel(
    title: str, description: str, unit: str, target: Dataquery, *, steps: Steps,
    width: int = 4, height: int = 4, links: Sequence[DashboardLink] = (),
) -> stat.Panel:
    """A single value with its trend, coloured by ``steps``."""
    panel = (stat.Panel().title(title).description(description).datasource(DATASOURCE).unit(unit)
             .span(width).height(height).thresholds(thresholds(steps)).targets([target])
             .reduce_options(ReduceDataOptions().calcs(["lastNotNull"])))
    if links:
        panel = panel.links(list(links))
    return panel


def state_timeline_panel(
    title: str, description: str, target: Dataquery, mappings: Sequence[ValueMap], steps: Steps, *,
    width: int = 24, height: int = 8, links: Sequence[DashboardLink] = (),
) -> statetimeline.Panel:
    """Discrete states over time (for example breaker closed / half-open / open)."""
    panel = (statetimeline.Panel().title(title).description(description).datasource(DATASOURCE).unit("none")
             .span(width).height(height).targets([target]).thresholds(thresholds(steps))
             .mappings(list(mappings)))
    if links:
        panel = panel.links(list(links))
    return panel


def heatmap_panel(title: str, description: str, unit: str, target: Dataquery, *,
                  width: int = 12, height: int = 8) -> heatmap.Panel:
    """A heatmap of pre-bucketed histogram data (no client-side re-bucketing)."""
    return (heatmap.Panel().title(title).description(description).datasource(DATASOURCE).unit(unit)
            .span(width).height(height).calculate(False).targets([target]))


def bargauge_panel(title: str, description: str, unit: str, target: Dataquery, *, steps: Steps,
                   width: int = 12, height: int = 8, links: Sequence[DashboardLink] = ()) -> bargauge.Panel:
    """Horizontal bars, one per series, coloured by ``steps``."""
    panel = (bargauge.Panel().title(title).description(description).datasource(DATASOURCE).unit(unit)
             .span(width).height(height).min(0).thresholds(thresholds(steps)).targets([target])
             .reduce_options(ReduceDataOptions().calcs(["lastNotNull"])))
    if links:
        panel = panel.links(list(links))
    return panel


def table_panel(title: str, description: str, unit: str, target: Dataquery, *,
                width: int = 12, height: int = 8) -> table.Panel:
    """A table of an instant query's result."""
    return (table.Panel().title(title).description(description).datasource(DATASOURCE).unit(unit)
            .span(width).height(height).targets([target]))


def _variables(config: ObservabilityConfig) -> list[DatasourceVariable | QueryVariable]:
    default_ds = VariableOption(selected=True, text="Prometheus", value=PROMETHEUS_UID)
    every = VariableOption(selected=True, text="All", value="$__all")
    chained = {"job": f"agent_runtime_build_info{{{config.selector}}}",
               "instance": 'agent_runtime_build_info{job=~"$job"}'}
    return [
        DatasourceVariable("datasource").label("Data source").type("prometheus").current(default_ds),
        *(
            QueryVariable(name).label(name.capitalize()).datasource(DATASOURCE)
            .query(f"label_values({metric}, {name})").definition(f"label_values({metric}, {name})")
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED).sort(VariableSort.ALPHABETICAL_ASC)
            .multi(True).include_all(True).all_value(".*").current(every)
            for name, metric in chained.items()
        ),
    ]


def dashboard(identity: DashboardId, description: str, config: ObservabilityConfig) -> Dashboard:
    """A dashboard with the shared variables, time settings and cross-links."""
    board = (Dashboard(identity.title).uid(identity.uid).description(description).tags([DASHBOARD_TAG])
             .readonly().time("now-3h", "now").refresh("30s").timezone("browser")
             .tooltip(DashboardCursorSync.CROSSHAIR)
             .link(DashboardLink("Agent runtime").type(DashboardLinkType.DASHBOARDS).tags([DASHBOARD_TAG])
                   .as_dropdown(True).include_vars(True).keep_time(True)))
    for variable in _variables(config):
        board = board.with_variable(variable)
    return board


def row(title: str) -> Row:
    """A row separating panel sections."""
    return Row(title)


def to_json(board: Dashboard) -> str:
    """The dashboard as stable, sorted JSON (byte-identical on every regeneration)."""
    return json.dumps(board.build(), cls=JSONEncoder, sort_keys=True, indent=2) + "\n"
