"""Rendering the repository's compose-oriented configs for a loopback stack."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent_runtime.ops.stack.render import (
    LLAMA_JOB,
    Ports,
    RenderError,
    format_duration,
    parse_duration,
    render_alertmanager_config,
    render_all,
    render_prometheus_config,
)

PORTS = Ports(runtime=18000, prometheus=19090, alertmanager=19093, receiver=19095)

PROMETHEUS: dict[str, Any] = {
    "global": {"scrape_interval": "15s", "evaluation_interval": "15s", "external_labels": {"env": "compose"}},
    "rule_files": ["/etc/prometheus/rules/*.yml"],
    "alerting": {"alertmanagers": [{"static_configs": [{"targets": ["alertmanager:9093"]}]}]},
    "scrape_configs": [
        {"job_name": "agent-runtime", "scrape_interval": "10s", "static_configs": [{"targets": ["runtime:8000"]}]},
        {"job_name": "prometheus", "static_configs": [{"targets": ["localhost:9090"]}]},
        {"job_name": "alertmanager", "static_configs": [{"targets": ["alertmanager:9093"]}]},
        {"job_name": "otel-collector", "static_configs": [{"targets": ["otel-collector:8888"]}]},
    ],
    "remote_write": [{"url": "http://tempo:9411"}],
}

ALERTMANAGER: dict[str, Any] = {
    "route": {
        "receiver": "default",
        "group_by": ["alertname", "job"],
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "4h",
        "routes": [
            {"matchers": ['severity="critical"'], "receiver": "page", "group_wait": "10s"},
            {"matchers": ['alertname="AgentRuntimeWatchdog"'], "receiver": "watchdog", "repeat_interval": "1m"},
        ],
    },
    "receivers": [
        {"name": "default", "webhook_configs": [{"url": "http://alert-receiver:9095/hooks/default"}]},
        {"name": "page", "webhook_configs": [{"url": "http://alert-receiver:9095/hooks/page", "send_resolved": True}]},
        {"name": "watchdog", "webhook_configs": [{"url": "http://alert-receiver:9095/hooks/watchdog"}]},
    ],
    "templates": ["/etc/alertmanager/templates/*.tmpl"],
}


def test_durations_round_trip() -> None:
    assert parse_duration("1h30m") == 5400
    assert format_duration(1.0) == "1s" and format_duration(1.5) == "1500ms" and format_duration(120) == "2m"
    with pytest.raises(RenderError, match="invalid duration"):
        parse_duration("soon")


def test_prometheus_jobs_point_at_local_ports_and_intervals_are_set() -> None:
    config, notes = render_prometheus_config(PROMETHEUS, ports=PORTS, rule_files=["/x/*.yml"], interval_seconds=1)
    targets = {j["job_name"]: j["static_configs"][0]["targets"] for j in config["scrape_configs"]}
    assert targets == {
        "agent-runtime": ["127.0.0.1:18000"],
        "prometheus": ["127.0.0.1:19090"],
        "alertmanager": ["127.0.0.1:19093"],
    }
    assert all("scrape_interval" not in job for job in config["scrape_configs"])
    assert config["global"]["scrape_interval"] == config["global"]["evaluation_interval"] == "1s"
    assert config["global"]["external_labels"] == {"env": "compose"}
    assert config["rule_files"] == ["/x/*.yml"]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:19093"]
    assert any("otel-collector" in n for n in notes) and any("remote_write" in n for n in notes)


def test_prometheus_without_a_runtime_job_is_refused() -> None:
    source = {"scrape_configs": [{"job_name": "prometheus", "static_configs": [{"targets": ["localhost:9090"]}]}]}
    with pytest.raises(RenderError, match="no scrape job for the agent runtime"):
        render_prometheus_config(source, ports=PORTS, rule_files=[], interval_seconds=1)


def test_alertmanager_webhooks_go_to_the_receiver_and_timings_are_scaled() -> None:
    config = render_alertmanager_config(ALERTMANAGER, receiver_port=19095, time_scale=60,
                                        templates_dir=Path("/repo/alertmanager/templates"))  # fmt: skip
    urls = [h["url"] for r in config["receivers"] for h in r["webhook_configs"]]
    assert urls == [f"http://127.0.0.1:19095/hooks/{name}" for name in ("default", "page", "watchdog")]
    assert config["receivers"][1]["webhook_configs"][0]["send_resolved"] is True
    root = config["route"]
    assert (root["group_wait"], root["group_interval"], root["repeat_interval"]) == ("1s", "5s", "4m")
    page, watchdog = root["routes"]
    assert page["group_wait"] == "1s" and "group_interval" not in page  # inherited, not invented
    assert watchdog["repeat_interval"] == "10s"  # 1m / 60 is below the floor
    assert config["templates"] == ["/repo/alertmanager/templates/*.tmpl"]
    assert ALERTMANAGER["route"]["group_wait"] == "30s"  # the source is not modified


def test_render_all_writes_files_from_a_checkout(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "prometheus" / "rules").mkdir(parents=True)
    (root / "alertmanager").mkdir()
    (root / "prometheus" / "prometheus.yml").write_text(yaml.safe_dump(PROMETHEUS))
    (root / "prometheus" / "rules" / "alerts.yml").write_text("groups: []\n")
    (root / "alertmanager" / "alertmanager.yml").write_text(yaml.safe_dump(ALERTMANAGER))
    rendered = render_all(root, tmp_path / "state", PORTS)
    prometheus = yaml.safe_load(rendered.prometheus_config.read_text())
    assert prometheus["global"]["scrape_interval"] == "15s"  # the repository's, at time scale 1
    assert prometheus["rule_files"] == [str(tmp_path / "state" / "rules" / "*.yml")]
    assert (rendered.rules_dir / "alerts.yml").read_text() == "groups: []\n"
    assert rendered.alertmanager_config is not None
    assert "19095" in rendered.alertmanager_config.read_text()


def test_render_all_without_alertmanager_config_says_so(tmp_path: Path) -> None:
    (tmp_path / "prometheus" / "rules").mkdir(parents=True)
    (tmp_path / "prometheus" / "prometheus.yml").write_text(yaml.safe_dump(PROMETHEUS))
    (tmp_path / "prometheus" / "rules" / "r.yml").write_text("groups: []\n")
    rendered = render_all(tmp_path, tmp_path / "state", PORTS, interval_seconds=2)
    assert rendered.alertmanager_config is None
    assert any("Alertmanager is not started" in note for note in rendered.notes)


def test_render_all_needs_rules(tmp_path: Path) -> None:
    (tmp_path / "prometheus").mkdir()
    (tmp_path / "prometheus" / "prometheus.yml").write_text(yaml.safe_dump(PROMETHEUS))
    with pytest.raises(RenderError, match="no rule files"):
        render_all(tmp_path, tmp_path / "state", PORTS)


def test_a_local_model_server_gets_a_llama_job() -> None:
    ports = Ports(runtime=18000, prometheus=19090, alertmanager=19093, receiver=19095, llama=18080)
    config, _ = render_prometheus_config(PROMETHEUS, ports=ports, rule_files=[], interval_seconds=1)
    llama = [j for j in config["scrape_configs"] if j["job_name"] == LLAMA_JOB]
    assert llama == [{"job_name": "llama", "metrics_path": "/metrics",
                      "static_configs": [{"targets": ["127.0.0.1:18080"]}]}]  # fmt: skip
    # Without one (the default), there is no llama job.
    config, _ = render_prometheus_config(PROMETHEUS, ports=PORTS, rule_files=[], interval_seconds=1)
    assert LLAMA_JOB not in {j["job_name"] for j in config["scrape_configs"]}


def test_the_repositorys_own_llama_job_points_at_the_local_server_or_is_left_out() -> None:
    source = copy.deepcopy(PROMETHEUS)
    labels = {"model": "gemma"}
    source["scrape_configs"].append({"job_name": "llama", "scrape_interval": "30s",
                                     "static_configs": [{"targets": ["llama:8080"], "labels": labels}]})  # fmt: skip
    ports = Ports(runtime=18000, prometheus=19090, alertmanager=19093, receiver=19095, llama=18080)
    config, _ = render_prometheus_config(source, ports=ports, rule_files=[], interval_seconds=1)
    llama = [j for j in config["scrape_configs"] if j["job_name"] == "llama"]
    assert llama == [{"job_name": "llama", "static_configs": [{"targets": ["127.0.0.1:18080"], "labels": labels}]}]
    config, notes = render_prometheus_config(source, ports=PORTS, rule_files=[], interval_seconds=1)
    assert "llama" not in {j["job_name"] for j in config["scrape_configs"]}
    assert any("'llama' left out" in note for note in notes)


def test_every_runtime_replica_is_a_target_of_the_one_runtime_job() -> None:
    ports = Ports(runtime=18000, prometheus=19090, alertmanager=19093, receiver=19095, more_runtimes=(18001, 18002))
    assert ports.runtimes == (18000, 18001, 18002)
    config, _ = render_prometheus_config(PROMETHEUS, ports=ports, rule_files=[], interval_seconds=1)
    runtime = [j for j in config["scrape_configs"] if j["job_name"] == "agent-runtime"]
    assert len(runtime) == 1
    assert runtime[0]["static_configs"][0]["targets"] == ["127.0.0.1:18000", "127.0.0.1:18001", "127.0.0.1:18002"]
