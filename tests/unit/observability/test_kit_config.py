"""``observability.yaml`` into the config objects: defaults, overrides, and errors that name the key."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from observability.config import DEFAULT_CONFIG, SRE_WORKBOOK_WINDOWS, BurnRateWindow
from observability.kit import (
    DEFAULT_KIT,
    REPOSITORY_RUNBOOK_URL,
    Kit,
    KitConfigError,
    kit_from_mapping,
    label_promtool_tests,
    load_kit,
    render_example,
)


def test_an_empty_file_is_the_default_kit(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing to change\n")
    assert load_kit(path) == DEFAULT_KIT == kit_from_mapping({}) == Kit()


def test_the_defaults_are_the_config_objects_defaults_with_the_repository_runbooks() -> None:
    assert DEFAULT_KIT.observability == replace(DEFAULT_CONFIG, runbook_base_url="./runbooks")
    assert DEFAULT_KIT.runbook_url_pattern == REPOSITORY_RUNBOOK_URL
    assert DEFAULT_KIT.observability.runbook_url("X") == "./runbooks/X.md"


def test_the_committed_example_lists_every_default_and_loads_back(repo_root: Path) -> None:
    text = (repo_root / "observability.yaml").read_text()
    assert text == render_example(DEFAULT_KIT)
    assert load_kit(repo_root / "observability.yaml") == DEFAULT_KIT
    data = yaml.safe_load(text)
    assert {"job", "alert_labels", "runbook_url", "dashboards", "slo", "components", "cache", "routing",
            "platform", "model", "kubernetes"} <= set(data)  # fmt: skip
    assert data["slo"]["availability"]["windows"][0] == {"long": "1h", "short": "5m", "factor": 14.4,
                                                         "severity": "critical", "for": "30s",
                                                         "keep_firing_for": "5m"}  # fmt: skip


def test_a_partial_file_overrides_only_what_it_names() -> None:
    kit = kit_from_mapping({
        "job": "agents-prod",
        "alert_labels": {"cluster": "prod-eu"},
        "slo": {"availability": {"objective": 0.999, "windows": [
            {"long": "1h", "short": "5m", "factor": 14.4, "severity": "critical", "for": "5m"}]}},
        "cache": {"floor": 0.3, "for": "1h"},
        "model": {"server_job": None, "hourly_budget_dollars": 20},
        "kubernetes": {"replicas": 3, "parts": {"local_model": True}, "cpu_request": 4},
    })  # fmt: skip
    config = kit.observability
    assert config.job == "agents-prod" and config.selector == 'job="agents-prod"'
    assert config.slo.availability.objective == 0.999
    assert config.slo.availability.windows == (BurnRateWindow("1h", "5m", 14.4, "critical", "5m"),)
    assert config.slo.latency == DEFAULT_CONFIG.slo.latency
    assert (config.cache.floor, config.cache.for_, config.cache.window) == (0.3, "1h", DEFAULT_CONFIG.cache.window)
    assert config.model.server_job is None and config.model.hourly_budget_dollars == 20.0
    assert config.components == DEFAULT_CONFIG.components
    assert kit.alert_labels == {"cluster": "prod-eu"}
    assert kit.kubernetes.replicas == 3 and kit.kubernetes.cpu_request == "4"
    assert kit.kubernetes.parts.local_model and kit.kubernetes.parts.redis
    assert DEFAULT_CONFIG.slo.availability.windows == SRE_WORKBOOK_WINDOWS  # the defaults are untouched


def test_stage_targets_and_tuples_are_read_as_the_config_types() -> None:
    kit = kit_from_mapping({"components": {"stage_targets_seconds": {"tool": 2, "execute": 4.0}},
                            "latency_quantiles": [0.5, 0.9]})  # fmt: skip
    assert dict(kit.observability.components.stage_targets_seconds) == {"tool": 2.0, "execute": 4.0}
    assert kit.observability.latency_quantiles == (0.5, 0.9)


def test_the_runbook_url_is_a_pattern() -> None:
    pattern = "https://git.example.com/org/agent-runtime/blob/main/runbooks/{alert}.md"
    kit = kit_from_mapping({"runbook_url": pattern})
    assert kit.observability.runbook_url("AnAlert") == pattern.format(alert="AnAlert")
    assert kit.runbook_url_pattern == pattern


@pytest.mark.parametrize(("data", "key", "problem"), [
    ({"jobb": "x"}, "jobb", "unknown key"),
    ({"slo": {"availabilty": {}}}, "slo.availabilty", "unknown key"),
    ({"cache": {"for_": "1h"}}, "cache.for_", "unknown key"),
    ({"cache": {"floor": "high"}}, "cache.floor", "must be float"),
    ({"cache": {"floor": True}}, "cache.floor", "must be float"),
    ({"cache": {"caches": ["tool", "vectors"]}}, "(top level)", "cache.caches must name some of"),
    ({"cache": {"caches": ["tool", "llm"]}}, "(top level)", "must leave out the model cache"),
    ({"latency_quantiles": 0.5}, "latency_quantiles", "must be a list"),
    ({"slo": {"availability": {"windows": [{"long": "1h", "short": "5m", "factor": 2, "severity": "page",
                                            "for": "2m"}]}}}, "slo.availability.windows[0].severity", "must be one of"),
    ({"slo": {"availability": {"windows": [{"long": "1h"}]}}}, "slo.availability.windows[0]", "missing"),
    ({"slo": {"availability": {"objective": 1.5}}}, "slo.availability", "(0, 1)"),
    ({"slo": {"latency_threshold_seconds": 2.4}}, "(top level)", "bucket boundary"),
    ({"runbook_url": "https://wiki.example.com/runbooks?alert={alert}"}, "runbook_url", "must end with"),
    ({"runbook_base_url": "x"}, "runbook_base_url", "runbook_url"),
    ({"alert_labels": {"severity": "high"}}, "(top level)", "reserved"),
    ({"alert_labels": {"bad-name": "x"}}, "(top level)", "label"),
    ({"kubernetes": {"namespace": "Agents"}}, "kubernetes", "DNS label"),
    ({"kubernetes": {"autoscaling": {"metric": "memory"}}}, "kubernetes.autoscaling.metric", "in_flight, cpu"),
    ({"kubernetes": {"autoscaling": {"min_replicas": 5, "max_replicas": 2}}}, "kubernetes", "min_replicas"),
    ({"dashboards": []}, "dashboards", "must be a mapping"),
])  # fmt: skip
def test_errors_name_the_key_and_the_problem(data: dict[str, object], key: str, problem: str) -> None:
    with pytest.raises(KitConfigError) as raised:
        kit_from_mapping(data, "kit.yaml")
    assert raised.value.key == key and problem in raised.value.problem
    assert str(raised.value).startswith(f"kit.yaml: {key}: ")


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(KitConfigError, match="cannot be read"):
        load_kit(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("job: [unclosed\n")
    with pytest.raises(KitConfigError, match=f"{bad}: \\(file\\): is not valid YAML"):
        load_kit(bad)
    bad.write_text("- a list\n")
    with pytest.raises(KitConfigError, match="must be a mapping"):
        load_kit(bad)


def test_promtool_expectations_gain_the_labels() -> None:
    text = yaml.safe_dump({"tests": [{"alert_rule_test": [{"exp_alerts": [{"exp_labels": {"severity": "warning"}}]},
                                                          {"exp_alerts": []}]}]})  # fmt: skip
    labelled = yaml.safe_load(label_promtool_tests(text, {"cluster": "prod"}))
    assert labelled["tests"][0]["alert_rule_test"][0]["exp_alerts"][0]["exp_labels"] == {
        "severity": "warning", "cluster": "prod"}
    assert label_promtool_tests(text, {}) == text
