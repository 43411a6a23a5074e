"""The on-call kit against the real tools: promtool, amtool, Prometheus and Alertmanager.

- promtool validates the Prometheus config and rules, runs the generated unit
  tests, and proves they have teeth (alerts mutated to never/always fire fail them);
- amtool validates the Alertmanager config, its routes and its templates;
- a real Alertmanager routes, inhibits and delivers to the webhook receiver;
- a real Prometheus loads the time-scaled rules and scrapes the runtime's own
  metrics listener under synthetic load: every recording rule and every
  dashboard query returns data, and every runbook query runs.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, start_http_server

from agent_runtime.ops.stack.receiver import AlertReceiver
from agent_runtime.telemetry.catalog import STAGES
from agent_runtime.telemetry.labels import LabelGuard
from agent_runtime.telemetry.metrics import PrometheusListener
from observability.__main__ import main as observability_main
from observability.config import DEFAULT_CONFIG
from observability.generate import render_all
from observability.rules import all_alerts
from tests.support.binaries import ManagedProcess, free_port, require_binary, wait_until
from tests.unit.observability.helpers import grafana_to_promql, panels

pytestmark = pytest.mark.integration


def _run(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"{done.args}\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


# --- promtool ---------------------------------------------------------------------------------


def test_promtool_checks_the_config_and_its_rules(repo_root: Path) -> None:
    promtool = require_binary("promtool")
    output = _ok(_run(promtool, "check", "config", str(repo_root / "prometheus/prometheus.yml")))
    assert "SUCCESS: 2 rule files found" in output


def test_promtool_checks_the_rules(repo_root: Path) -> None:
    promtool = require_binary("promtool")
    rules = sorted(str(p) for p in (repo_root / "prometheus/rules").glob("*.yml"))
    assert len(rules) == 2
    output = _ok(_run(promtool, "check", "rules", *rules))
    assert output.count("SUCCESS") == 2


def test_promtool_unit_tests_pass(repo_root: Path) -> None:
    promtool = require_binary("promtool")
    tests = sorted(p.name for p in (repo_root / "prometheus/tests").glob("*.yml"))
    assert len(tests) == 4
    output = _ok(_run(promtool, "test", "rules", *tests, cwd=repo_root / "prometheus/tests"))
    assert output.count("SUCCESS") == 4


def test_time_scaled_rules_pass_promtool(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    assert observability_main(["generate", "--time-scale", "60", "--output-dir", str(tmp_path)]) == 0
    output = _ok(_run(promtool, "check", "rules", str(tmp_path / "recording.yml"), str(tmp_path / "alerts.yml")))
    assert output.count("SUCCESS") == 2


def _mutated_failures(repo_root: Path, tmp_path: Path, expr: str) -> list[str]:
    """promtool failure blocks after replacing every alert expression with ``expr``."""
    shutil.copytree(repo_root / "prometheus/rules", tmp_path / "rules")
    shutil.copytree(repo_root / "prometheus/tests", tmp_path / "tests")
    alerts_file = tmp_path / "rules/alerts.yml"
    document = yaml.safe_load(alerts_file.read_text())
    for group in document["groups"]:
        for rule in group["rules"]:
            rule["expr"] = expr
    alerts_file.write_text(yaml.safe_dump(document))
    tests = sorted(p.name for p in (tmp_path / "tests").glob("alerts_*.yml"))
    done = _run(require_binary("promtool"), "test", "rules", *tests, cwd=tmp_path / "tests")
    assert done.returncode != 0
    # promtool prints one block per failed check, each starting with its test's name.
    return re.split(r"\n(?=\s*name: )", done.stderr)


def _alertnames(blocks: list[str], marker: str) -> set[str]:
    names = set()
    for block in blocks:
        match = re.search(r"alertname: (\w+), time:", block)
        if match and marker in block:
            names.add(match.group(1))
    return names


def test_unit_tests_catch_alerts_that_never_fire(repo_root: Path, tmp_path: Path) -> None:
    blocks = _mutated_failures(repo_root, tmp_path, "vector(1) < 0")
    expected = {a.name for a in all_alerts(DEFAULT_CONFIG)}
    assert _alertnames(blocks, "got:[]") == expected


def test_unit_tests_catch_alerts_that_always_fire(repo_root: Path, tmp_path: Path) -> None:
    blocks = _mutated_failures(repo_root, tmp_path, "vector(1)")
    expected = {a.name for a in all_alerts(DEFAULT_CONFIG)} - {"AgentRuntimeWatchdog"}
    assert _alertnames(blocks, "exp:[],") == expected


# --- amtool -----------------------------------------------------------------------------------


def test_amtool_checks_the_config_and_templates(repo_root: Path) -> None:
    amtool = require_binary("amtool")
    output = _ok(_run(amtool, "check-config", str(repo_root / "alertmanager/alertmanager.yml")))
    assert " - 4 receivers" in output and " - 1 templates" in output and " - 1 inhibit rules" in output


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=critical", "alertname=AgentRuntimeTaskErrorBudgetBurn", "job=agent-runtime"], "page"),
        (["severity=warning", "alertname=AgentRuntimeToolErrorsHigh", "job=agent-runtime"], "ticket"),
        (["severity=info", "alertname=AgentRuntimeLabelValuesFolded", "job=agent-runtime"], "default"),
        (["alertname=AgentRuntimeWatchdog", "severity=info"], "watchdog"),
        (["alertname=SomethingElse"], "default"),
    ],
)
def test_amtool_routes_by_severity(repo_root: Path, labels: list[str], receiver: str) -> None:
    amtool = require_binary("amtool")
    config = f"--config.file={repo_root / 'alertmanager/alertmanager.yml'}"
    done = _run(amtool, "config", "routes", "test", config, f"--verify.receivers={receiver}", *labels)
    assert _ok(done).splitlines()[0].strip() == receiver


def test_amtool_renders_the_templates(repo_root: Path, tmp_path: Path) -> None:
    amtool = require_binary("amtool")
    alert = {
        "status": "firing",
        "labels": {"alertname": "AgentRuntimeToolErrorsHigh", "severity": "warning", "job": "agent-runtime",
                   "tool": "search"},
        "annotations": {"summary": "A tool is failing too often.", "description": "25% of calls failed.",
                        "runbook_url": DEFAULT_CONFIG.runbook_url("AgentRuntimeToolErrorsHigh")},
        "startsAt": "2024-05-01T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
    }
    data = {"receiver": "ticket", "status": "firing", "alerts": [alert],
            "groupLabels": {"alertname": "AgentRuntimeToolErrorsHigh", "job": "agent-runtime"},
            "commonLabels": alert["labels"], "commonAnnotations": {}, "externalURL": "http://alertmanager:9093"}
    (tmp_path / "data.json").write_text(json.dumps(data))
    output = _ok(_run(
        amtool, "template", "render", f"--template.glob={repo_root / 'alertmanager/templates/*.tmpl'}",
        f"--template.data={tmp_path / 'data.json'}",
        '--template.text={{ template "agent_runtime.title" . }}\n{{ template "agent_runtime.text" . }}',
    ))
    assert output.startswith("[FIRING:1] AgentRuntimeToolErrorsHigh (agent-runtime)\n")
    assert "FIRING [warning] A tool is failing too often." in output
    assert "job=agent-runtime tool=search" in output
    assert f"Runbook: {alert['annotations']['runbook_url']}" in output


# --- a real Alertmanager ----------------------------------------------------------------------


def _delivered(receiver: AlertReceiver, name: str, alertname: str, severity: str) -> bool:
    """True when ``receiver`` got a firing ``alertname`` at ``severity`` on webhook ``name``."""
    return any(
        alert.get("status") == "firing"
        and alert["labels"].get("alertname") == alertname
        and alert["labels"].get("severity") == severity
        for delivery in receiver.deliveries(receiver=name)
        for alert in delivery["payload"].get("alerts", [])
    )


def _post_alerts(port: int, alerts: list[dict[str, str]]) -> None:
    body = json.dumps([{"labels": labels, "annotations": {"summary": "test."}} for labels in alerts]).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v2/alerts", data=body,
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).close()


def test_alertmanager_routes_inhibits_and_delivers(repo_root: Path, tmp_path: Path) -> None:
    binary = require_binary("prometheus-alertmanager")
    receiver = AlertReceiver(0, tmp_path / "alerts.jsonl")
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    config = yaml.safe_load((repo_root / "alertmanager/alertmanager.yml").read_text())
    for route in [config["route"], *config["route"]["routes"]]:
        route["group_wait"] = "0s"  # deliver at once; routing and inhibition are unchanged
    text = yaml.safe_dump(config).replace("http://alert-receiver:9095", f"http://127.0.0.1:{receiver.port}")
    (tmp_path / "alertmanager.yml").write_text(text)
    shutil.copytree(repo_root / "alertmanager/templates", tmp_path / "templates")
    port = free_port()
    process = ManagedProcess([binary, f"--config.file={tmp_path / 'alertmanager.yml'}",
                              f"--storage.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                              "--cluster.listen-address="], tmp_path / "alertmanager.log")
    try:
        wait_until(lambda: _get_json(f"http://127.0.0.1:{port}/api/v2/status") is not None, 20, "alertmanager")
        job = {"job": "agent-runtime"}
        critical = {"alertname": "AgentRuntimeTaskErrorBudgetBurn", "severity": "critical", **job}
        _post_alerts(port, [critical, {"alertname": "AgentRuntimeWatchdog", "severity": "info"}])
        wait_until(lambda: _delivered(receiver, "page", "AgentRuntimeTaskErrorBudgetBurn", "critical")
                   and _delivered(receiver, "watchdog", "AgentRuntimeWatchdog", "info"), 30, f"pages\n{process.log()}")
        # With the page firing, its ticket is inhibited; the other alerts go where their severity says.
        _post_alerts(port, [
            critical,
            {"alertname": "AgentRuntimeTaskErrorBudgetBurn", "severity": "warning", **job},
            {"alertname": "AgentRuntimeToolErrorsHigh", "severity": "warning", "tool": "search", **job},
            {"alertname": "AgentRuntimeLabelValuesFolded", "severity": "info", **job},
        ])
        wait_until(lambda: _delivered(receiver, "ticket", "AgentRuntimeToolErrorsHigh", "warning")
                   and _delivered(receiver, "default", "AgentRuntimeLabelValuesFolded", "info"),
                   30, f"tickets, got {receiver.deliveries()}\n{process.log()}")
        assert not _delivered(receiver, "ticket", "AgentRuntimeTaskErrorBudgetBurn", "warning"), receiver.deliveries()
        query = urllib.parse.quote('alertname="AgentRuntimeTaskErrorBudgetBurn"')
        states = {a["labels"]["severity"]: a["status"]
                  for a in _get_json(f"http://127.0.0.1:{port}/api/v2/alerts?filter={query}")}
        assert states["warning"]["state"] == "suppressed" and states["warning"]["inhibitedBy"]
        assert states["critical"]["state"] == "active"
    finally:
        process.stop()
        receiver.shutdown()
        receiver.server_close()


# --- a real Prometheus scraping the runtime's metrics under load ------------------------------

_SCRAPE_SECONDS = 1
# Grafana's $__rate_interval for a 1s scrape interval is at least 4 scrapes.
_LIVE_VARIABLES = {"$__rate_interval": "5s", "$__range": "30s", "$job": "agent-runtime", "$instance": ".*"}


def _load(listener: PrometheusListener, stop: threading.Event) -> None:
    """Healthy traffic with some failures: every series the dashboards read gets samples."""
    rng = random.Random(7)
    while not stop.is_set():
        listener.task_started()
        agent = rng.choice(("writer", "generalist"))
        for stage in STAGES:
            listener.stage_timed(stage, rng.uniform(0.0005, 0.05))
        listener.cache_looked_up("decision", "exact", rng.random() < 0.6)
        listener.cache_looked_up("decision", "similar", rng.random() < 0.3)
        listener.cache_looked_up("analysis", "exact", rng.random() < 0.5)
        listener.routing_decided(agent, rng.choice(("cache", "similar", "scored", "fallback")), rng.random())
        for tool in ("search", "fetch"):
            hit = rng.random() < 0.5
            listener.cache_looked_up("tool", "l0", hit)
            if hit:
                listener.cache_saved("tool", 0.2)
            outcome = rng.choices(("success", "error", "timeout"), (8, 1, 1))[0]
            if outcome != "success":
                listener.tool_retried(tool)
            listener.tool_called(tool, outcome, rng.uniform(0.01, 1.5))
        listener.breaker_changed("fetch", rng.choice(("closed", "open", "half_open")))
        listener.task_finished(agent, rng.choices(("success", "error", "timeout"), (18, 1, 1))[0],
                               rng.uniform(0.05, 3.0))
        stop.wait(0.01)


@pytest.fixture(scope="module")
def live_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prometheus with the time-scaled rules, scraping a loaded metrics listener."""
    binary = require_binary("prometheus")
    tmp = tmp_path_factory.mktemp("prometheus")
    registry = CollectorRegistry()
    listener = PrometheusListener(LabelGuard(agents=("writer", "generalist"), tools=("search", "fetch")),
                                  registry=registry, in_flight_limit=64)
    exporter_port, port = free_port(), free_port()
    server, _ = start_http_server(exporter_port, addr="127.0.0.1", registry=registry)
    stop = threading.Event()
    loader = threading.Thread(target=_load, args=(listener, stop), daemon=True)
    loader.start()
    assert observability_main(["generate", "--time-scale", "60", "--output-dir", str(tmp / "rules")]) == 0
    interval = f"{_SCRAPE_SECONDS}s"
    (tmp / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(tmp / "rules" / "*.yml")],
        "scrape_configs": [{"job_name": DEFAULT_CONFIG.job,
                            "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}]}],
    }))
    process = ManagedProcess([binary, f"--config.file={tmp / 'prometheus.yml'}",
                              f"--storage.tsdb.path={tmp / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                             tmp / "prometheus.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: urllib.request.urlopen(f"{base}/-/ready", timeout=2).status == 200, 30, "prometheus")
        # Enough scrapes for the 5s rate windows and the 30s subqueries.
        wait_until(lambda: _instant(base, "count(agent_runtime_tasks_total) > 0") != [], 30, "the first scrape")
        time.sleep(12)
        yield base
    finally:
        stop.set()
        loader.join(timeout=5)
        process.stop()
        server.shutdown()


def _instant(base: str, expr: str) -> list[Any]:
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    body = _get_json(url)
    assert body["status"] == "success", (expr, body)
    result = body["data"]["result"]
    assert isinstance(result, list)
    return result


def test_every_recording_rule_records_data(live_prometheus: str) -> None:
    artifacts = render_all(DEFAULT_CONFIG)
    records = {r["record"] for g in yaml.safe_load(artifacts["prometheus/rules/recording.yml"])["groups"]
               for r in g["rules"]}
    empty = sorted(r for r in records if not _instant(live_prometheus, r))
    assert empty == []


def test_every_dashboard_query_returns_data(live_prometheus: str) -> None:
    artifacts = render_all(DEFAULT_CONFIG)
    checked = 0
    for path, text in artifacts.items():
        if path.startswith("grafana/dashboards/"):
            for panel in panels(json.loads(text)):
                for target in panel["targets"]:
                    expr = grafana_to_promql(target["expr"], _LIVE_VARIABLES)
                    assert _instant(live_prometheus, expr), f"{path}: {panel['title']}: {expr}"
                    checked += 1
    assert checked >= 40


def test_every_runbook_query_runs(live_prometheus: str) -> None:
    queries = [step.promql for alert in all_alerts(DEFAULT_CONFIG) for step in alert.runbook.diagnosis
               if step.promql is not None]
    assert len(queries) >= 30
    for query in queries:
        _instant(live_prometheus, query)  # asserts the query is accepted and evaluated

