"""The on-call kit against the real tools: promtool, amtool, Prometheus and Alertmanager.

- promtool validates the Prometheus config and rules, runs the generated unit
  tests, and proves they have teeth (alerts mutated to never/always fire fail them);
- amtool validates the Alertmanager config, its routes and its templates;
- a real Alertmanager routes, inhibits and delivers to the webhook receiver;
- a real Prometheus loads the time-scaled rules and scrapes a real runtime
  under load (plan, Python and LLM agents, the LLM agents on the real
  llama.cpp server, whose own metrics it scrapes as job ``llama``): every
  recording rule and every dashboard query returns data, and every runbook
  query runs.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent_runtime.ops.stack.ports import free_port
from agent_runtime.ops.stack.receiver import AlertReceiver
from agent_runtime.results import TaskResult
from agent_runtime.vocabulary import InvalidAction, StopReason
from observability import alert_names, llamacpp
from observability.__main__ import main as observability_main
from observability.config import DEFAULT_CONFIG
from observability.generate import render_all
from observability.rules import all_alerts
from tests.integration.live_load import BackgroundLoad, LiveRuntime, run_model_tasks
from tests.support.binaries import ManagedProcess, require_binary, wait_until
from tests.support.llama import LlamaServer
from tests.support.prometheus import PrometheusServer, ScrapeJob
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
    expected = {a.name for a in all_alerts(DEFAULT_CONFIG)} - {alert_names.WATCHDOG}
    assert _alertnames(blocks, "exp:[],") == expected


# --- amtool -----------------------------------------------------------------------------------


def test_amtool_checks_the_config_and_templates(repo_root: Path) -> None:
    amtool = require_binary("amtool")
    output = _ok(_run(amtool, "check-config", str(repo_root / "alertmanager/alertmanager.yml")))
    assert " - 4 receivers" in output and " - 1 templates" in output and " - 1 inhibit rules" in output


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=critical", f"alertname={alert_names.TASK_ERROR_BUDGET_BURN}", "job=agent-runtime"], "page"),
        (["severity=warning", f"alertname={alert_names.TOOL_ERRORS_HIGH}", "job=agent-runtime"], "ticket"),
        (["severity=info", f"alertname={alert_names.LABEL_VALUES_FOLDED}", "job=agent-runtime"], "default"),
        ([f"alertname={alert_names.WATCHDOG}", "severity=info"], "watchdog"),
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
    alert: dict[str, Any] = {
        "status": "firing",
        "labels": {"alertname": alert_names.TOOL_ERRORS_HIGH, "severity": "warning", "job": "agent-runtime",
                   "tool": "search"},
        "annotations": {"summary": "A tool is failing too often.", "description": "25% of calls failed.",
                        "runbook_url": DEFAULT_CONFIG.runbook_url(alert_names.TOOL_ERRORS_HIGH)},
        "startsAt": "2024-05-01T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
    }
    data = {"receiver": "ticket", "status": "firing", "alerts": [alert],
            "groupLabels": {"alertname": alert_names.TOOL_ERRORS_HIGH, "job": "agent-runtime"},
            "commonLabels": alert["labels"], "commonAnnotations": {}, "externalURL": "http://alertmanager:9093"}
    (tmp_path / "data.json").write_text(json.dumps(data))
    output = _ok(_run(
        amtool, "template", "render", f"--template.glob={repo_root / 'alertmanager/templates/*.tmpl'}",
        f"--template.data={tmp_path / 'data.json'}",
        '--template.text={{ template "agent_runtime.title" . }}\n{{ template "agent_runtime.text" . }}',
    ))
    assert output.startswith(f"[FIRING:1] {alert_names.TOOL_ERRORS_HIGH} (agent-runtime)\n")
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
        critical = {"alertname": alert_names.TASK_ERROR_BUDGET_BURN, "severity": "critical", **job}
        _post_alerts(port, [critical, {"alertname": alert_names.WATCHDOG, "severity": "info"}])
        wait_until(lambda: _delivered(receiver, "page", alert_names.TASK_ERROR_BUDGET_BURN, "critical")
                   and _delivered(receiver, "watchdog", alert_names.WATCHDOG, "info"), 30, f"pages\n{process.log()}")
        # With the page firing, its ticket is inhibited; the other alerts go where their severity says.
        _post_alerts(port, [
            critical,
            {"alertname": alert_names.TASK_ERROR_BUDGET_BURN, "severity": "warning", **job},
            {"alertname": alert_names.TOOL_ERRORS_HIGH, "severity": "warning", "tool": "search", **job},
            {"alertname": alert_names.LABEL_VALUES_FOLDED, "severity": "info", **job},
        ])
        wait_until(lambda: _delivered(receiver, "ticket", alert_names.TOOL_ERRORS_HIGH, "warning")
                   and _delivered(receiver, "default", alert_names.LABEL_VALUES_FOLDED, "info"),
                   30, f"tickets, got {receiver.deliveries()}\n{process.log()}")
        assert not _delivered(receiver, "ticket", alert_names.TASK_ERROR_BUDGET_BURN, "warning"), receiver.deliveries()
        query = urllib.parse.quote(f'alertname="{alert_names.TASK_ERROR_BUDGET_BURN}"')
        states = {a["labels"]["severity"]: a["status"]
                  for a in _get_json(f"http://127.0.0.1:{port}/api/v2/alerts?filter={query}")}
        assert states["warning"]["state"] == "suppressed" and states["warning"]["inhibitedBy"]
        assert states["critical"]["state"] == "active"
    finally:
        process.stop()
        receiver.shutdown()
        receiver.server_close()


# --- a real Prometheus scraping a real runtime and its model server under load -----------------

_SCRAPE_SECONDS = 1
# Grafana's $__rate_interval for a 1s scrape interval is at least 4 scrapes.
_LIVE_VARIABLES = {"$__rate_interval": "5s", "$__range": "30s", "$job": DEFAULT_CONFIG.job, "$instance": ".*"}
# Load before the model calls, so the 5s windows and the 30s ranges hold traffic when the queries run.
_WARM_UP_SECONDS = 4.0
# The queries run at one instant this long after the last model call: inside every 5s (scaled 5m) model window.
_AFTER_MODEL_SECONDS = 3.0


@dataclass(frozen=True)
class Live:
    """The live Prometheus (``base``), the instant the queries run ``at``, and what the model tasks did."""

    base: str
    at: float
    model_results: list[TaskResult]


@pytest.fixture(scope="module")
def live_prometheus(tmp_path_factory: pytest.TempPathFactory, llama_server: LlamaServer) -> Iterator[Live]:
    """A real Prometheus with the time-scaled rules, scraping a real runtime and llama-server under load.

    The runtime (tests/integration/live_load.py) runs plan, Python and LLM
    agents; its LLM agents call the real model a few times, and Prometheus
    scrapes the model server's own ``/metrics`` as job ``llama``. Queries
    run at ``at``, just after the model calls, when every window has data.
    """
    tmp = tmp_path_factory.mktemp("live")
    assert observability_main(["generate", "--time-scale", "60", "--output-dir", str(tmp / "rules")]) == 0
    interval = f"{_SCRAPE_SECONDS}s"
    metrics_port = free_port()
    server_job = DEFAULT_CONFIG.model.server_job
    assert server_job is not None
    prometheus = PrometheusServer(
        tmp / "prometheus",
        scrape_jobs=[ScrapeJob(DEFAULT_CONFIG.job, [f"127.0.0.1:{metrics_port}"]),
                     ScrapeJob(server_job, [f"127.0.0.1:{llama_server.port}"])],
        rule_files=[tmp / "rules" / "*.yml"], scrape_interval=interval, evaluation_interval=interval,
    )  # fmt: skip
    with LiveRuntime(tmp / "runtime", llama_server, prometheus_url=prometheus.url,
                     metrics_port=metrics_port) as live, prometheus, BackgroundLoad(live.runtime) as load:  # fmt: skip
        prometheus.wait_for(f"count(agent_runtime_tasks_total{{{DEFAULT_CONFIG.selector}}}) > 0")
        prometheus.wait_for(f"up{{{DEFAULT_CONFIG.model.server_selector}}} == 1")
        time.sleep(_WARM_UP_SECONDS)
        results = run_model_tasks(live.runtime)
        at = time.time() + _AFTER_MODEL_SECONDS
        load.model_tasks_done()
        # Rules evaluated at ``at`` are written a moment later.
        time.sleep(max(0.0, at + 2 * _SCRAPE_SECONDS - time.time()))
        assert load.errors == [], load.errors
        yield Live(prometheus.url, at, results)


def _instant(base: str, expr: str, at: float | None = None) -> list[Any]:
    params = {"query": expr} if at is None else {"query": expr, "time": f"{at:.3f}"}
    body = _get_json(f"{base}/api/v1/query?{urllib.parse.urlencode(params)}")
    assert body["status"] == "success", (expr, body)
    result = body["data"]["result"]
    assert isinstance(result, list)
    return result


def test_the_live_load_calls_the_real_model(live_prometheus: Live) -> None:
    investigation, hurried, oversized = live_prometheus.model_results
    assert investigation.agent == "investigator" and investigation.turns, investigation.error
    assert all(turn.cache_layer is None and turn.output_tokens > 0 for turn in investigation.turns)
    # 3 tokens a turn cut the JSON action off: an invalid action, and no answer after max_steps.
    assert hurried.agent == "hasty" and hurried.stop_reason == StopReason.MAX_STEPS
    assert [a["kind"] for turn in hurried.turns for a in turn.actions] == [InvalidAction.INVALID_JSON]
    # Longer than the server's context: refused with HTTP 400, a failed model call and an error stop.
    assert oversized.stop_reason == StopReason.ERROR and "400" in (oversized.error or "")
    base, selector, at = live_prometheus.base, DEFAULT_CONFIG.selector, live_prometheus.at

    def value(expr: str, when: float | None = None) -> float:
        (sample,) = _instant(base, expr, when)
        return float(sample["value"][1])

    calls = "gen_ai_client_operation_duration_seconds_count"
    assert value(f'sum({calls}{{{selector},error_type="bad_request"}})', at) >= 1
    made = value(f"sum({calls}{{{selector}}})", at)
    assert made >= sum(len(result.turns) for result in live_prometheus.model_results)
    server = DEFAULT_CONFIG.model.server_selector
    generated = value(f"sum({llamacpp.TOKENS_PREDICTED}{{{server}}})", at)
    assert generated >= sum(turn.output_tokens for turn in (*investigation.turns, *hurried.turns))
    # Since then the model tasks were repeated: answered from the LLM cache, without another model call.
    assert value(f'sum(agent_runtime_cache_requests_total{{{selector},cache="llm",result="hit"}})') > 0
    assert value(f"sum({calls}{{{selector}}})") == made


def test_every_recording_rule_records_data(live_prometheus: Live) -> None:
    artifacts = render_all(DEFAULT_CONFIG)
    records = {r["record"] for g in yaml.safe_load(artifacts["prometheus/rules/recording.yml"])["groups"]
               for r in g["rules"]}
    empty = sorted(r for r in records if not _instant(live_prometheus.base, r, live_prometheus.at))
    assert empty == []


def test_every_dashboard_query_returns_data(live_prometheus: Live) -> None:
    artifacts = render_all(DEFAULT_CONFIG)
    checked = 0
    empty = []
    for path, text in artifacts.items():
        if path.startswith("grafana/dashboards/"):
            for panel in panels(json.loads(text)):
                for target in panel["targets"]:
                    expr = grafana_to_promql(target["expr"], _LIVE_VARIABLES)
                    if not _instant(live_prometheus.base, expr, live_prometheus.at):
                        empty.append(f"{path}: {panel['title']}: {expr}")
                    checked += 1
    assert empty == []
    assert checked >= 40


def test_every_runbook_query_runs(live_prometheus: Live) -> None:
    queries = [step.promql for alert in all_alerts(DEFAULT_CONFIG) for step in alert.runbook.diagnosis
               if step.promql is not None]
    assert len(queries) >= 30
    for query in queries:
        _instant(live_prometheus.base, query, live_prometheus.at)  # asserts the query is accepted and evaluated
