"""The generated rule files: naming, annotations, guards, and the time-scaled copy."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from observability import alert_names
from observability.config import ObservabilityConfig
from observability.generate import render_all, render_scaled_rules
from observability.promql import parse_duration
from observability.rules import all_alerts
from observability.rules import recording as rec
from observability.rules.model import Alert
from tests.unit.observability.helpers import panels, ranges, unguarded_divisions

_MS = timedelta(milliseconds=1)
RECORD_NAME = re.compile(r"^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$")


def _rules(text: str) -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(text)["groups"] for rule in group["rules"]]


@pytest.fixture(scope="module")
def alerting(artifacts: dict[str, str]) -> list[dict[str, Any]]:
    return _rules(artifacts["prometheus/rules/alerts.yml"])


@pytest.fixture(scope="module")
def recording(artifacts: dict[str, str]) -> list[dict[str, Any]]:
    return _rules(artifacts["prometheus/rules/recording.yml"])


def test_every_required_alert_family_exists(alerts: tuple[Alert, ...]) -> None:
    names = {a.name for a in alerts}
    assert {
        alert_names.DOWN, alert_names.TARGET_MISSING, alert_names.TASK_ERROR_BUDGET_BURN,
        alert_names.TASK_LATENCY_BUDGET_BURN, alert_names.STAGE_BOTTLENECK, alert_names.TOOL_LATENCY_HIGH,
        alert_names.TOOL_ERRORS_HIGH, alert_names.CACHE_HIT_RATE_DROP, alert_names.CIRCUIT_BREAKER_OPEN,
        alert_names.ROUTING_FALLBACKS_HIGH, alert_names.ROUTING_CONFIDENCE_LOW, alert_names.SATURATED,
        alert_names.SPANS_DROPPED, alert_names.TELEMETRY_EXPORT_FAILING, alert_names.WATCHDOG,
        # LLM agents, their model and the model server.
        alert_names.MODEL_ERRORS_HIGH, alert_names.MODEL_LATENCY_HIGH, alert_names.MODEL_SERVER_DOWN,
        alert_names.MODEL_SERVER_MISSING, alert_names.MODEL_SPEND_OVER_BUDGET,
        alert_names.AGENT_STOPS_WITHOUT_ANSWER, alert_names.AGENT_INVALID_ACTIONS_HIGH,
        alert_names.LLM_CACHE_HIT_RATE_DROP, alert_names.CACHE_LAYER_DOWN,
    } <= names
    assert len(names) == len(alerts), "alert names must be unique"


def test_alert_names_are_defined_once(alerts: tuple[Alert, ...], repo_root: Path) -> None:
    defined = {v for k, v in vars(alert_names).items() if k.isupper() and k != "PREFIX"}
    assert {a.name for a in alerts} == defined, "every name in alert_names is an alert, and every alert is named there"
    assert all(name.startswith(alert_names.PREFIX) for name in defined)
    # No module of the generator spells a name itself: they import alert_names.
    for path in (repo_root / "observability").rglob("*.py"):
        if path.name != "alert_names.py":
            assert not re.search(r"AgentRuntime[A-Z]", path.read_text()), path
    # The hand-written Alertmanager configuration routes the Watchdog by name.
    alertmanager = yaml.safe_load((repo_root / "alertmanager/alertmanager.yml").read_text())
    matchers = [m for route in alertmanager["route"]["routes"] for m in route.get("matchers", [])]
    assert f'alertname="{alert_names.WATCHDOG}"' in matchers


def test_alert_labels_and_annotations(alerting: list[dict[str, Any]], config: ObservabilityConfig) -> None:
    for rule in alerting:
        name, annotations = rule["alert"], rule["annotations"]
        assert re.fullmatch(r"AgentRuntime[A-Z][A-Za-z]+", name), name
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), name
        assert set(annotations) == {"summary", "description", "runbook_url"}, name
        assert annotations["summary"].endswith(".") and "{{" not in annotations["summary"], name
        assert "{{ $value" in annotations["description"] or "$value }}" in annotations["description"], name
        if name != alert_names.WATCHDOG:  # the Watchdog has no offending labels
            assert "{{ $labels." in annotations["description"], name
        assert annotations["runbook_url"] == config.runbook_url(name)
        assert annotations["runbook_url"].endswith(f"/runbooks/{name}.md")


def test_summary_is_shared_by_all_rules_of_an_alert(alerting: list[dict[str, Any]]) -> None:
    summaries: dict[str, set[str]] = {}
    for rule in alerting:
        summaries.setdefault(rule["alert"], set()).add(rule["annotations"]["summary"])
    assert all(len(s) == 1 for s in summaries.values())


def test_burn_rate_rules_follow_the_workbook(alerting: list[dict[str, Any]], config: ObservabilityConfig) -> None:
    burn = [r for r in alerting if r["alert"] == alert_names.TASK_ERROR_BUDGET_BURN]
    budget = config.slo.availability.error_budget
    seen = set()
    for rule in burn:
        long, short = rule["labels"]["long"], rule["labels"]["short"]
        window = next(w for w in config.slo.availability.windows if (w.long, w.short) == (long, short))
        thresholds = [float(t) for t in re.findall(r"> ([0-9.]+)", rule["expr"])]
        assert thresholds == [pytest.approx(window.factor * budget)] * 2
        assert f"ratio_rate{long} >" in rule["expr"] and f"ratio_rate{short} >" in rule["expr"]
        assert rule["labels"]["severity"] == window.severity and rule["for"] == window.for_
        seen.add((long, short))
    assert seen == {("1h", "5m"), ("6h", "30m"), ("1d", "2h"), ("3d", "6h")}


def test_watchdog_always_fires(alerting: list[dict[str, Any]]) -> None:
    (watchdog,) = [r for r in alerting if r["alert"] == alert_names.WATCHDOG]
    assert watchdog["expr"] == "vector(1)" and "for" not in watchdog
    assert watchdog["labels"]["severity"] == "info"


def test_scrape_health_alerts_use_up_and_absent(alerting: list[dict[str, Any]], config: ObservabilityConfig) -> None:
    exprs = {r["alert"]: r["expr"] for r in alerting}
    assert exprs[alert_names.DOWN] == f"up{{{config.selector}}} == 0"
    assert exprs[alert_names.TARGET_MISSING] == f"absent(up{{{config.selector}}})"
    server = config.model.server_selector
    assert exprs[alert_names.MODEL_SERVER_DOWN] == f"up{{{server}}} == 0"
    # absent() alone would fire on every runtime without a model server: gated on a configured model.
    missing = exprs[alert_names.MODEL_SERVER_MISSING]
    assert missing.startswith(f"absent(up{{{server}}})\nand on ()\n")
    assert f'breaker="{config.model.tool}"' in missing


def test_gauges_are_read_over_time(alerting: list[dict[str, Any]]) -> None:
    exprs = {r["alert"]: r["expr"] for r in alerting}
    assert "max_over_time(agent_runtime_circuit_breaker_state" in exprs[alert_names.CIRCUIT_BREAKER_OPEN]
    assert "max_over_time(agent_runtime_tasks_in_flight{" in exprs[alert_names.SATURATED]
    assert "max_over_time(agent_runtime_tasks_in_flight_limit{" in exprs[alert_names.SATURATED]
    assert "min_over_time(agent_runtime_cache_layer_up{" in exprs[alert_names.CACHE_LAYER_DOWN]


def test_the_llm_cache_has_one_hit_rate_alert(alerting: list[dict[str, Any]], config: ObservabilityConfig) -> None:
    exprs = {r["alert"]: r["expr"] for r in alerting}
    # The generic alert names its caches (routing's and the model's left out), the LLM one its own.
    assert '{cache=~"tool"} <' in exprs[alert_names.CACHE_HIT_RATE_DROP]
    assert f'{{cache="{config.model.cache}"}} <' in exprs[alert_names.LLM_CACHE_HIT_RATE_DROP]


def test_spend_is_compared_per_hour_over_two_windows(
    alerting: list[dict[str, Any]], config: ObservabilityConfig
) -> None:
    (rule,) = [r for r in alerting if r["alert"] == alert_names.MODEL_SPEND_OVER_BUDGET]
    budget = config.model.hourly_budget_dollars
    assert re.findall(r"rate(\w+) \* 3600 > ([0-9.]+)", rule["expr"]) == [
        (config.model.budget_window, f"{budget:g}"), (config.model.budget_short_window, f"{budget:g}")]


def test_a_hosted_model_has_no_server_alerts(config: ObservabilityConfig) -> None:
    hosted = replace(config, model=replace(config.model, server_job=None))
    names = {a.name for a in all_alerts(hosted)}
    assert alert_names.MODEL_SERVER_DOWN not in names and alert_names.MODEL_SERVER_MISSING not in names
    assert alert_names.MODEL_ERRORS_HIGH in names
    artifacts = render_all(hosted)
    assert "llamacpp:" not in artifacts["grafana/dashboards/agents.json"]
    assert f"job=\"{config.model.server_job}\"" not in artifacts["prometheus/rules/alerts.yml"]


def test_no_rule_divides_by_a_possibly_zero_rate(
    alerting: list[dict[str, Any]], recording: list[dict[str, Any]]
) -> None:
    for rule in alerting + recording:
        assert unguarded_divisions(rule["expr"]) == [], rule.get("alert") or rule.get("record")


def test_guard_detection_catches_an_unguarded_ratio() -> None:
    assert unguarded_divisions("sum(rate(a[5m])) / sum(rate(b[5m]))")
    assert unguarded_divisions("a / (b > bool 0)")
    assert not unguarded_divisions("a / (b > 0)")


def test_component_ratios_require_a_minimum_rate(alerting: list[dict[str, Any]]) -> None:
    gated = {alert_names.STAGE_BOTTLENECK, alert_names.TOOL_LATENCY_HIGH, alert_names.TOOL_ERRORS_HIGH,
             alert_names.CACHE_HIT_RATE_DROP, alert_names.ROUTING_FALLBACKS_HIGH, alert_names.ROUTING_CONFIDENCE_LOW,
             alert_names.MODEL_ERRORS_HIGH, alert_names.MODEL_LATENCY_HIGH, alert_names.AGENT_STOPS_WITHOUT_ANSWER,
             alert_names.AGENT_INVALID_ACTIONS_HIGH, alert_names.LLM_CACHE_HIT_RATE_DROP}
    for rule in alerting:
        if rule["alert"] in gated:
            assert re.search(r"and on \([a-z_, ]+\)\n[a-z_:0-9]+:rate[0-9a-z]+ > [0-9.]+$", rule["expr"]), rule["alert"]


def test_recording_rule_names(recording: list[dict[str, Any]]) -> None:
    for rule in recording:
        assert RECORD_NAME.match(rule["record"]), rule["record"]
    keys = [(r["record"], tuple(sorted((r.get("labels") or {}).items()))) for r in recording]
    assert len(keys) == len(set(keys)), "a record name is only repeated with different static labels"


def test_fallbacks_are_counted_whether_fresh_or_cached(
    recording: list[dict[str, Any]], dashboards: dict[str, dict[str, Any]], config: ObservabilityConfig
) -> None:
    # A fallback decision served from the decision cache has source="cache": only the fallback
    # counter sees it, so the ratio, the alert on it and the dashboard read that counter.
    (rule,) = [r for r in recording if r["record"] == rec.fallback_ratio(config)]
    assert "agent_runtime_routing_fallbacks_total" in rule["expr"] and 'source="fallback"' not in rule["expr"]
    exprs = [target["expr"] for panel in panels(dashboards["routing.json"]) for target in panel["targets"]
             if panel["title"] in ("Fallback ratio", "Fallbacks by agent")]  # fmt: skip
    assert len(exprs) == 2
    assert all("agent_runtime_routing_fallbacks_total" in expr and "source=" not in expr for expr in exprs)


def test_recorded_series_are_defined_before_use(
    alerting: list[dict[str, Any]], recording: list[dict[str, Any]]
) -> None:
    defined: set[str] = set()
    for rule in recording:
        used = set(re.findall(r"\b[a-z_]+:[a-z0-9_]+:[a-z0-9_]+\b", rule["expr"]))
        assert used <= defined, f"{rule['record']} uses {used - defined} before it is recorded"
        defined.add(rule["record"])
    for rule in alerting:
        used = set(re.findall(r"\b[a-z_]+:[a-z0-9_]+:[a-z0-9_]+\b", rule["expr"]))
        assert used <= defined, f"{rule['alert']} uses unrecorded {used - defined}"


@pytest.mark.parametrize("factor", [60, 7])
def test_time_scaled_copy_divides_every_window_and_for(
    artifacts: dict[str, str], config: ObservabilityConfig, factor: int
) -> None:
    scaled = render_scaled_rules(config, factor)
    assert set(scaled) == {"recording.yml", "alerts.yml"}
    for name, text in scaled.items():
        assert text.splitlines()[2].startswith(
            f"# Time-scaled copy: every range, `for:` and `keep_firing_for:` divided by {factor}")
        original = _rules(artifacts[f"prometheus/rules/{name}"])
        copy = _rules(text)
        assert len(copy) == len(original)
        for before, after in zip(original, copy, strict=True):
            timed = ("expr", "for", "keep_firing_for")
            assert {k: v for k, v in after.items() if k not in timed} == {
                k: v for k, v in before.items() if k not in timed}
            expected = [r // _MS // factor for r in ranges(before["expr"])]
            assert [r // _MS for r in ranges(after["expr"])] == expected
            for key in ("for", "keep_firing_for"):
                if key in before:
                    assert parse_duration(after[key]) == parse_duration(before[key]) // factor
