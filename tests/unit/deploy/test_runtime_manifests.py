"""What the runtime's manifests promise: probes, shutdown, scaling metric, Redis, the Alertmanager tree."""

from __future__ import annotations

from pathlib import Path

import yaml

from agent_runtime.telemetry.catalog import CATALOG
from observability.deploy import ADAPTER_RULES_FILE, ROOT
from observability.deploy.monitoring import alertmanager_yaml_tree, module_tree
from observability.deploy.runtime import IN_FLIGHT_METRIC, RuntimeFacts
from observability.kit import DEFAULT_KIT
from tests.unit.deploy.conftest import Manifest, by_kind


def runtime_deployment(manifests: dict[str, Manifest]) -> Manifest:
    (deployment,) = [d for d in by_kind(manifests, "Deployment") if d["metadata"]["name"] == "agent-runtime"]
    return deployment


def env(container: Manifest) -> dict[str, Manifest]:
    return {item["name"]: item for item in container["env"]}


def test_probes_and_graceful_shutdown_outlast_a_task(manifests: dict[str, Manifest]) -> None:
    pod = runtime_deployment(manifests)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    facts = RuntimeFacts.from_default_config()
    graceful = int(env(container)["GUNICORN_CMD_ARGS"]["value"].removeprefix("--graceful-timeout="))
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
    assert graceful > facts.task_timeout_seconds
    assert pod["terminationGracePeriodSeconds"] > pre_stop + graceful > facts.task_timeout_seconds
    assert container["command"][:4] == ["agent-runtime", "serve", "--workers", str(DEFAULT_KIT.kubernetes.workers)]
    assert "limits" in container["resources"] and "requests" in container["resources"]


def test_hpa_scales_on_the_per_pod_in_flight_gauge(
    manifests: dict[str, Manifest], kit_artifacts: dict[str, str]
) -> None:
    (hpa,) = by_kind(manifests, "HorizontalPodAutoscaler")
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Pods" and metric["pods"]["metric"]["name"] == IN_FLIGHT_METRIC
    spec = CATALOG[IN_FLIGHT_METRIC]
    # livesum: one series per pod (its workers summed), which is what a Pods metric averages over.
    assert spec.multiprocess_mode == "livesum"
    capacity = DEFAULT_KIT.kubernetes.workers * RuntimeFacts.from_default_config().max_in_flight_per_worker
    assert 0 < int(metric["pods"]["target"]["averageValue"]) < capacity
    rules = yaml.safe_load(kit_artifacts[f"{ROOT}/{ADAPTER_RULES_FILE}"])["rules"]
    assert rules[0]["seriesQuery"].startswith(f"{IN_FLIGHT_METRIC}{{") and rules[0]["name"]["as"] == IN_FLIGHT_METRIC
    assert "replicas" not in runtime_deployment(manifests)["spec"]  # the HPA owns it


def test_optional_parts_reach_the_runtime_through_optional_config_maps(manifests: dict[str, Manifest]) -> None:
    (container,) = runtime_deployment(manifests)["spec"]["template"]["spec"]["containers"]
    variables = env(container)
    config_maps = {m["metadata"]["name"]: m for m in by_kind(manifests, "ConfigMap")}
    for name, key in (("AGENT_RUNTIME_REDIS_URL", "url"), ("AGENT_RUNTIME_LLM_BASE_URL", "base_url")):
        ref = variables[name]["valueFrom"]["configMapKeyRef"]
        assert ref["optional"] is True and key in config_maps[ref["name"]]["data"]
    redis_url = config_maps["agent-runtime-redis"]["data"]["url"]
    services = {s["metadata"]["name"] for s in by_kind(manifests, "Service")}
    assert redis_url.split("//")[1].split(".")[0] in services


def test_alertmanager_config_mirrors_alertmanager_yml(repo_root: Path) -> None:
    document = yaml.safe_load((repo_root / "alertmanager/alertmanager.yml").read_text())
    assert alertmanager_yaml_tree(document) == module_tree()
