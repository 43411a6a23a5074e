"""Every metric, label and label value used by rules, dashboards and runbooks exists in the catalog.

Rules and runbooks may also use recorded series (defined by the recording
rules) and ``up``; runbooks may use Prometheus' own ``ALERTS`` and
``prometheus_*`` series. Dashboards use catalog metrics only, so they work
against a Prometheus that has not loaded the rules.
"""

from __future__ import annotations

from typing import Any

import promql_parser
import pytest
import yaml

from agent_runtime.telemetry.catalog import (
    AGENT_KINDS,
    CATALOG,
    ENUM_LABELS,
    INVALID_ACTIONS,
    OTHER,
    TASK_OUTCOMES,
    TOOL_OUTCOMES,
    MetricSpec,
    MetricType,
    all_series_names,
)
from observability import llamacpp
from observability.config import ObservabilityConfig
from observability.promql import le_value
from observability.rules.model import Alert
from tests.unit.observability.helpers import (
    GRAFANA_VARIABLES,
    grafana_to_promql,
    metric_names,
    panels,
    selectors,
)

# Label values come from the catalog's one table, ENUM_LABELS. A few labels share a name across metrics
# with different value sets (``outcome`` of tasks and of tool calls, ``kind`` of agents and of invalid
# actions); for those the metric's own subset (checked against ENUM_LABELS below) is the stricter test.
_PER_METRIC: dict[tuple[str, str], tuple[str, ...]] = {
    ("agent_runtime_tasks_total", "outcome"): TASK_OUTCOMES,
    ("agent_runtime_tool_calls_total", "outcome"): TOOL_OUTCOMES,
    ("agent_runtime_agent_info", "kind"): AGENT_KINDS,
    ("agent_runtime_agent_invalid_actions_total", "kind"): INVALID_ACTIONS,
}
_SCRAPE = {"up"}
_PROMETHEUS_OWN = {"ALERTS", "prometheus_notifications_errors_total"}


def _spec(series: str) -> MetricSpec | None:
    if series in CATALOG:
        return CATALOG[series]
    for suffix in ("_bucket", "_sum", "_count"):
        base = series.removesuffix(suffix)
        if base != series and base in CATALOG and CATALOG[base].type is MetricType.HISTOGRAM:
            return CATALOG[base]
    return None


def label_problems(expr: str) -> list[str]:
    """Matchers on catalog metrics that name an unknown label or an impossible value."""
    problems = []
    for sel in selectors(expr):
        spec = _spec(sel.name or "")
        if spec is None:
            continue
        allowed = {"job", "instance", *spec.labels} | ({"le"} if (sel.name or "").endswith("_bucket") else set())
        for matcher in sel.matchers.matchers:
            if matcher.name == "__name__":
                continue
            if matcher.name not in allowed:
                problems.append(f"{sel.name} has no label {matcher.name!r}")
                continue
            if matcher.op not in (promql_parser.MatchOp.Equal, promql_parser.MatchOp.Re):
                continue  # negative matchers cannot select a value that does not exist
            values = set(matcher.value.split("|"))
            if matcher.name == "le":
                known = {le_value(b) for b in spec.buckets} | {"+Inf"}
            elif (spec.name, matcher.name) in _PER_METRIC:
                known = set(_PER_METRIC[spec.name, matcher.name])
            elif matcher.name in ENUM_LABELS:
                known = set(ENUM_LABELS[matcher.name])
            else:
                continue
            if values - known - {OTHER}:
                problems.append(f"{sel.name}{{{matcher}}}: {sorted(values - known)} never exported")
    return problems


def _rule_exprs(artifacts: dict[str, str]) -> list[str]:
    return [
        rule["expr"]
        for name in ("recording.yml", "alerts.yml")
        for group in yaml.safe_load(artifacts[f"prometheus/rules/{name}"])["groups"]
        for rule in group["rules"]
    ]


@pytest.fixture(scope="module")
def recorded(artifacts: dict[str, str]) -> set[str]:
    return {
        rule["record"]
        for group in yaml.safe_load(artifacts["prometheus/rules/recording.yml"])["groups"]
        for rule in group["rules"]
    }


def _dashboard_exprs(dashboards: dict[str, dict[str, Any]]) -> list[str]:
    return [grafana_to_promql(t["expr"]) for d in dashboards.values() for p in panels(d) for t in p["targets"]]


def test_rules_use_only_catalog_and_recorded_series(artifacts: dict[str, str], recorded: set[str]) -> None:
    known = all_series_names() | recorded | _SCRAPE
    for expr in _rule_exprs(artifacts):
        assert metric_names(expr) <= known, expr


def test_rule_selectors_are_scoped_to_the_job(artifacts: dict[str, str], config: ObservabilityConfig) -> None:
    for expr in _rule_exprs(artifacts):
        for sel in selectors(expr):
            if sel.name in all_series_names() | _SCRAPE:
                jobs = [m.value for m in sel.matchers.matchers if m.name == "job"]
                # ``up`` of the model server is the one series scraped from another job.
                allowed = [[config.job], [config.model.server_job]] if sel.name in _SCRAPE else [[config.job]]
                assert jobs in allowed, f"{sel} in {expr}"


def test_rule_matchers_exist_in_the_exposition(artifacts: dict[str, str]) -> None:
    for expr in _rule_exprs(artifacts):
        assert label_problems(expr) == [], expr


# The model server's own series, scraped from its own job (not the runtime's $job).
_MODEL_SERVER = llamacpp.SERIES | _SCRAPE


def test_dashboards_use_only_catalog_series(dashboards: dict[str, dict[str, Any]]) -> None:
    exprs = _dashboard_exprs(dashboards)
    assert exprs
    for expr in exprs:
        assert metric_names(expr) <= all_series_names() | _MODEL_SERVER, expr
        assert label_problems(expr) == [], expr


def test_dashboard_selectors_filter_on_job_and_instance(
    dashboards: dict[str, dict[str, Any]], config: ObservabilityConfig
) -> None:
    for expr in _dashboard_exprs(dashboards):
        for sel in selectors(expr):
            if sel.name is None:
                continue
            matchers = {(m.name, m.value) for m in sel.matchers.matchers}
            if sel.name in _MODEL_SERVER:
                assert {m.name for m in sel.matchers.matchers} - {"__name__"} == {"job"}, expr
                assert ("job", config.model.server_job) in matchers, expr
                continue
            assert ("job", GRAFANA_VARIABLES["$job"]) in matchers, expr
            assert ("instance", GRAFANA_VARIABLES["$instance"]) in matchers, expr


def test_the_model_server_panels_read_llama_cpp_series(dashboards: dict[str, dict[str, Any]]) -> None:
    used = {name for expr in _dashboard_exprs(dashboards) for name in metric_names(expr)}
    assert {llamacpp.TOKENS_PREDICTED, llamacpp.REQUESTS_PROCESSING, llamacpp.REQUESTS_DEFERRED} <= used
    assert all(name.startswith("llamacpp:") for name in llamacpp.SERIES)


def test_runbook_queries_use_known_series(
    artifacts: dict[str, str], alerts: tuple[Alert, ...], recorded: set[str]
) -> None:
    known = all_series_names() | recorded | _SCRAPE | _PROMETHEUS_OWN | llamacpp.SERIES
    for alert in alerts:
        for step in alert.runbook.diagnosis:
            if step.promql is not None:
                assert metric_names(step.promql) <= known, (alert.name, step.promql)
                assert label_problems(step.promql) == [], (alert.name, step.promql)


def test_label_check_catches_impossible_filters() -> None:
    assert label_problems('agent_runtime_tasks_total{outcome="short_circuited"}')
    assert label_problems('agent_runtime_task_duration_seconds_bucket{le="2"}')
    assert label_problems('agent_runtime_cache_requests_total{tier="l0"}')
    assert not label_problems('agent_runtime_tool_calls_total{outcome=~"short_circuited|fallback"}')
    assert not label_problems('agent_runtime_task_duration_seconds_bucket{le="2.5"}')
    assert label_problems('agent_runtime_agent_info{kind="invalid_json"}')
    assert label_problems('agent_runtime_agent_stops_total{reason="gave_up"}')
    assert not label_problems('agent_runtime_agent_stops_total{reason=~"max_steps|loop|token_budget"}')
    assert not label_problems('gen_ai_client_operation_duration_seconds_count{error_type="timeout"}')


def test_per_metric_values_narrow_the_catalog_enums() -> None:
    for (metric, label), allowed in _PER_METRIC.items():
        assert label in CATALOG[metric].labels, (metric, label)
        assert set(allowed) <= set(ENUM_LABELS[label]), (metric, label)
