"""The promtool scenarios: coverage of every alert, and the helpers that build them."""

from __future__ import annotations

import pytest
import yaml

from observability import alert_names
from observability.config import ObservabilityConfig
from observability.promtool import scenarios_by_file
from observability.promtool.cases_models import MODEL_ALERTS
from observability.promtool.cases_recording import bucket_quantile
from observability.promtool.model import AlertCheck, Firing, Scenario, counter, gauge, promtool_document
from observability.rules.model import Alert


def _checks(config: ObservabilityConfig) -> list[AlertCheck]:
    return [c for scenarios in scenarios_by_file(config).values() for s in scenarios for c in s.alerts]


def test_every_alert_is_shown_silent_and_firing(config: ObservabilityConfig, alerts: tuple[Alert, ...]) -> None:
    checks = _checks(config)
    for alert in alerts:
        mine = [c for c in checks if c.alertname == alert.name]
        assert any(c.firing for c in mine), f"{alert.name} has no firing case"
        if alert.name != alert_names.WATCHDOG:  # always fires by design
            assert any(not c.firing for c in mine), f"{alert.name} has no silent case"


def test_model_alerts_are_shown_silent_without_a_model(config: ObservabilityConfig) -> None:
    scenarios = [s for ss in scenarios_by_file(config).values() for s in ss]
    (no_model,) = [s for s in scenarios if "no model configured" in s.name]
    assert {c.alertname for c in no_model.alerts} == set(MODEL_ALERTS)
    assert all(not c.firing for c in no_model.alerts)
    inputs = {series.name for series in no_model.series}
    assert not {n for n in inputs if n.startswith(("gen_ai_", "agent_runtime_llm_", "agent_runtime_agent_stops"))}
    assert all(series.labels.get("breaker") != config.model.tool for series in no_model.series)


def test_every_rule_of_every_alert_is_shown_firing(config: ObservabilityConfig, alerts: tuple[Alert, ...]) -> None:
    fired = {(c.alertname, tuple(sorted(f.labels.items()))) for c in _checks(config) for f in c.firing}
    for alert in alerts:
        for rule in alert.rules:
            assert any(name == alert.name and set(rule.labels.items()) <= set(labels)
                       for name, labels in fired), (alert.name, dict(rule.labels))


def test_every_recording_rule_is_checked(config: ObservabilityConfig, artifacts: dict[str, str]) -> None:
    checked = {e.expr for s in scenarios_by_file(config)["recording_test.yml"] for e in s.exprs}
    recorded = {r["record"] for g in yaml.safe_load(artifacts["prometheus/rules/recording.yml"])["groups"]
                for r in g["rules"]}
    # Windows longer than the 1h test horizon share the code of the checked ones.
    unchecked = {r for r in recorded - checked if not r.endswith(("rate2h", "rate6h", "rate1d", "rate3d"))}
    assert unchecked == set()


def test_test_files_load_the_generated_rules(artifacts: dict[str, str]) -> None:
    for path, text in artifacts.items():
        if path.startswith("prometheus/tests/"):
            document = yaml.safe_load(text)
            assert document["rule_files"] == ["../rules/recording.yml", "../rules/alerts.yml"]
            assert document["group_eval_order"][0] == "agent-runtime-targets"
            assert all(test["name"] for test in document["tests"])


def test_counter_notation() -> None:
    assert counter((60, 3)) == "0 60+60x2"
    assert counter((48, 2), (6, 2)) == "0 48+48x1 102+6x1"


def test_gauge_notation_with_missed_scrapes() -> None:
    assert gauge((1, 3), (None, 2), (0, 1)) == "1x2 _ _ 0"


def test_bucket_quantile_interpolates_like_prometheus() -> None:
    assert bucket_quantile(0.95, [(0.25, 0.0), (0.5, 60.0), (float("inf"), 60.0)]) == 0.4875
    assert bucket_quantile(0.5, [(0.5, 2.0), (1.0, 3.0), (float("inf"), 4.0)]) == 0.5
    # In the +Inf bucket the quantile is the highest finite bound.
    assert bucket_quantile(0.99, [(0.5, 2.0), (2.5, 3.0), (float("inf"), 4.0)]) == 2.5


def test_expected_annotations_come_from_the_alert(config: ObservabilityConfig, alerts: tuple[Alert, ...]) -> None:
    by_name = {a.name: a for a in alerts}
    scenario = Scenario("tool errors", (), (AlertCheck(alert_names.TOOL_ERRORS_HIGH, "20m",
                                                        (Firing({"job": "j", "tool": "search"}, 0.25),)),))
    document = promtool_document([scenario], by_name, ["r.yml"], ["g"], config)
    (expected,) = document["tests"][0]["alert_rule_test"][0]["exp_alerts"]
    assert expected["exp_labels"] == {"severity": "warning", "job": "j", "tool": "search"}
    assert expected["exp_annotations"]["description"].startswith("25% of calls to tool search on j ")
    assert expected["exp_annotations"]["runbook_url"] == config.runbook_url(alert_names.TOOL_ERRORS_HIGH)


def test_a_firing_case_must_identify_one_rule(config: ObservabilityConfig, alerts: tuple[Alert, ...]) -> None:
    by_name = {a.name: a for a in alerts}
    ambiguous = Scenario("burn", (), (AlertCheck(alert_names.TASK_ERROR_BUDGET_BURN, "1h",
                                                 (Firing({"job": "j"}, 0.2),)),))
    with pytest.raises(ValueError, match="matches 0 rules"):
        promtool_document([ambiguous], by_name, ["r.yml"], ["g"], config)
