"""``python -m observability generate --config FILE --out DIR``: a non-default kit changes exactly what it should.

Each case renders the kit a small file describes and compares it with the
default kit, file by file: the set of files that differ is exactly the set
that depends on the changed setting, and what changed in them is the
setting.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from observability.__main__ import main
from observability.deploy import ROOT
from observability.generate import KIT_FILE, drift, render_kit
from observability.kit import kit_from_mapping, load_kit
from tests.unit.deploy.conftest import manifests_of

RULES, TESTS, DASHBOARDS = "prometheus/rules", "prometheus/tests", "grafana/dashboards"
PROMETHEUS_RULE = f"{ROOT}/components/monitoring/prometheusrule-agent-runtime.yaml"
ALERT_TESTS = {f"{TESTS}/{n}" for n in ("alerts_service_test.yml", "alerts_components_test.yml",
                                         "alerts_pipeline_test.yml")}  # fmt: skip
DASHBOARD_NAMES = ("agents", "bottlenecks", "overview", "routing", "tools")
ALL_DASHBOARDS = {f"{DASHBOARDS}/{n}.json" for n in DASHBOARD_NAMES} | {
    f"{ROOT}/components/dashboards/configmap-dashboard-{n}.yaml" for n in DASHBOARD_NAMES}


def changed(settings: dict[str, Any], default: dict[str, str]) -> tuple[dict[str, str], set[str]]:
    rendered = render_kit(kit_from_mapping(settings))
    assert set(rendered) - set(default) <= {p for p in rendered if p.startswith(f"{ROOT}/")}
    return rendered, {p for p in rendered.keys() | default.keys() if rendered.get(p) != default.get(p)}


def alert_rules(text: str) -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(text)["groups"] for r in g["rules"] if "alert" in r]


def test_alert_labels_change_only_the_alerts_and_their_tests(kit_artifacts: dict[str, str]) -> None:
    rendered, diff = changed({"alert_labels": {"cluster": "prod-eu", "team": "agents"}}, kit_artifacts)
    assert diff == {f"{RULES}/alerts.yml", *ALERT_TESTS, PROMETHEUS_RULE, KIT_FILE}
    new, old = alert_rules(rendered[f"{RULES}/alerts.yml"]), alert_rules(kit_artifacts[f"{RULES}/alerts.yml"])
    assert [{**o, "labels": {**o["labels"], "cluster": "prod-eu", "team": "agents"}} for o in old] == new
    for path in ALERT_TESTS:
        for test in yaml.safe_load(rendered[path])["tests"]:
            for check in test.get("alert_rule_test", []):
                assert all(e["exp_labels"]["cluster"] == "prod-eu" for e in check["exp_alerts"])


def test_an_slo_target_changes_its_alerts_tests_runbook_and_panel(kit_artifacts: dict[str, str]) -> None:
    rendered, diff = changed({"slo": {"availability": {"objective": 0.999}}}, kit_artifacts)
    assert diff == {
        f"{RULES}/alerts.yml", f"{TESTS}/alerts_service_test.yml", "runbooks/AgentRuntimeTaskErrorBudgetBurn.md",
        f"{DASHBOARDS}/overview.json", f"{ROOT}/components/dashboards/configmap-dashboard-overview.yaml",
        PROMETHEUS_RULE, KIT_FILE,
    }
    # 14.4 x the budget: 0.144 for 99%, 0.0144 for 99.9%.
    assert "job:agent_runtime_task_errors:ratio_rate1h > 0.144\n" in kit_artifacts[f"{RULES}/alerts.yml"]
    assert "job:agent_runtime_task_errors:ratio_rate1h > 0.0144\n" in rendered[f"{RULES}/alerts.yml"]


def test_a_threshold_changes_its_alert_runbook_and_panel(kit_artifacts: dict[str, str]) -> None:
    _, diff = changed({"components": {"tool_error_ratio": 0.2}}, kit_artifacts)
    assert diff == {
        f"{RULES}/alerts.yml", "runbooks/AgentRuntimeToolErrorsHigh.md", f"{DASHBOARDS}/tools.json",
        f"{ROOT}/components/dashboards/configmap-dashboard-tools.yaml", PROMETHEUS_RULE, KIT_FILE,
    }


def test_the_runbook_url_pattern_changes_annotations_and_panel_links(kit_artifacts: dict[str, str]) -> None:
    pattern = "https://git.example.com/org/agent-runtime/blob/main/runbooks/{alert}.md"
    rendered, diff = changed({"runbook_url": pattern}, kit_artifacts)
    assert diff == {f"{RULES}/alerts.yml", *ALERT_TESTS, *ALL_DASHBOARDS, PROMETHEUS_RULE, KIT_FILE}
    for rule in alert_rules(rendered[f"{RULES}/alerts.yml"]):
        assert rule["annotations"]["runbook_url"] == pattern.format(alert=rule["alert"])


def test_dashboard_data_source_and_folder_change_only_dashboards(kit_artifacts: dict[str, str]) -> None:
    rendered, diff = changed({"dashboards": {"datasource_uid": "thanos", "folder": "SRE / Agents"}}, kit_artifacts)
    assert diff == {*ALL_DASHBOARDS, KIT_FILE}
    board = json.loads(rendered[f"{DASHBOARDS}/overview.json"])
    (variable,) = [v for v in board["templating"]["list"] if v["type"] == "datasource"]
    assert variable["current"]["value"] == "thanos"
    config_map = yaml.safe_load(rendered[f"{ROOT}/components/dashboards/configmap-dashboard-overview.yaml"])
    assert config_map["metadata"]["annotations"] == {"grafana_folder": "SRE / Agents"}
    assert json.loads(config_map["data"]["overview.json"]) == board


def test_kubernetes_settings_change_only_the_manifests(kit_artifacts: dict[str, str]) -> None:
    settings = {"kubernetes": {"namespace": "agents", "image": "registry.example.com/agent-runtime:0.1.0",
                               "parts": {"redis": False, "local_model": True},
                               "prometheus": {"selector_labels": {"release": "kube-prometheus-stack"}}}}
    rendered, diff = changed(settings, kit_artifacts)
    assert diff <= {p for p in rendered.keys() | kit_artifacts.keys() if p.startswith(f"{ROOT}/")} | {KIT_FILE}
    overlay = yaml.safe_load(rendered[f"{ROOT}/overlays/default/kustomization.yaml"])
    assert "../../components/local-model" in overlay["components"]
    assert "../../components/redis" not in overlay["components"]
    manifests = manifests_of(rendered)
    for path, manifest in manifests.items():
        if manifest["kind"] != "Namespace":
            assert manifest["metadata"]["namespace"] == "agents", path
        if manifest["kind"] in ("ServiceMonitor", "PrometheusRule", "AlertmanagerConfig"):
            assert manifest["metadata"]["labels"]["release"] == "kube-prometheus-stack", path
    assert {r["labels"]["namespace"] for r in alert_rules(yaml.dump(manifests[PROMETHEUS_RULE]["spec"]))} == {"agents"}


def test_an_external_redis_and_webhook_drop_the_in_cluster_ones(kit_artifacts: dict[str, str]) -> None:
    settings = {"kubernetes": {"redis": {"url": "rediss://cache.example.com:6380/0"},
                               "alerting": {"webhook_base_url": "https://hooks.example.com/agent-runtime"}}}
    rendered, _ = changed(settings, kit_artifacts)
    assert not any("/components/redis/" in p or "alert-receiver" in p for p in rendered)
    deployment = yaml.safe_load(rendered[f"{ROOT}/base/deployment-agent-runtime.yaml"])
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert {"name": "AGENT_RUNTIME_REDIS_URL", "value": "rediss://cache.example.com:6380/0"} in container["env"]
    config = yaml.safe_load(rendered[f"{ROOT}/components/alerting/alertmanagerconfig-agent-runtime.yaml"])
    assert {h["url"] for r in config["spec"]["receivers"] for h in r["webhookConfigs"]} == {
        f"https://hooks.example.com/agent-runtime/{n}" for n in ("default", "page", "ticket", "watchdog")}


def test_cli_writes_and_checks_a_configured_tree_outside_the_repository(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "observability.yaml"
    config.write_text("job: agents-prod\nalert_labels: {cluster: prod-eu}\n"
                      "kubernetes: {namespace: agents, parts: {local_model: true}}\n")  # fmt: skip
    out = tmp_path / "kit"
    assert main(["generate", "--config", str(config), "--out", str(out)]) == 0
    expected = render_kit(load_kit(config))
    assert drift(out, expected) == []
    assert {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} == set(expected)
    assert yaml.safe_load((out / KIT_FILE).read_text())["job"] == "agents-prod"
    assert main(["generate", "--config", str(config), "--out", str(out), "--check"]) == 0
    assert main(["generate", "--out", str(out), "--check"]) == 1  # the defaults differ
    assert "out of date: prometheus/rules/alerts.yml" in capsys.readouterr().err


def test_cli_reports_a_bad_file_by_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("slo:\n  latency_threshold_secs: 2\n")
    assert main(["generate", "--config", str(config), "--out", str(tmp_path / "out")]) == 1
    assert f"{config}: slo.latency_threshold_secs: unknown key" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_alert_labels_may_not_shadow_a_rules_own_labels() -> None:
    with pytest.raises(ValueError, match=r"\['long'\] are set by the rules themselves"):
        render_kit(kit_from_mapping({"alert_labels": {"long": "1h"}}))
