"""Every alert family against the live stack: fault → pending → firing → delivered → cleared → resolved, once.

One drill (``tests/e2e/drill.py``) runs for the whole session; each test
checks one alert's record. ``AGENT_RUNTIME_E2E_RECORD=1`` writes the measured
times to ``bench/results/e2e_alerts.json`` and ``docs/e2e-alerts.md``;
``AGENT_RUNTIME_E2E_LONG=1`` makes the drill's healthy run ten minutes long
and checks it (skipped otherwise, also under CI: it is too long for it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.e2e import alerts_doc
from tests.e2e.drill import LONG_HEALTHY_SECONDS, SCENARIOS, WATCHDOG, DrillResult, Expect
from tests.e2e.live import LiveStack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

SEVERITY_OF_RECEIVER = {"page": "critical", "ticket": "warning", "default": "info", "watchdog": "info"}
EXPECTS = [expect for scenario in SCENARIOS for expect in scenario.expects]
JOBS = {"agent-runtime", "llama"}


def test_a_healthy_run_fires_nothing_but_the_watchdog(drill: DrillResult) -> None:
    assert drill.healthy_alerts == {WATCHDOG}, f"alerts seen in a healthy run: {sorted(drill.healthy_alerts)}"
    delivered = {(d["receiver"], a["labels"]["alertname"]) for d in drill.healthy_deliveries
                 for a in d["payload"]["alerts"]}  # fmt: skip
    assert delivered == {("watchdog", WATCHDOG)}


@pytest.mark.skipif(os.environ.get("AGENT_RUNTIME_E2E_LONG") != "1",
                    reason="the ten-minute healthy run is too long for CI: set AGENT_RUNTIME_E2E_LONG=1")  # fmt: skip
def test_a_long_healthy_run_fires_nothing_but_the_watchdog(drill: DrillResult) -> None:
    assert drill.healthy_seconds >= LONG_HEALTHY_SECONDS - 1
    assert drill.healthy_alerts == {WATCHDOG}, f"alerts seen in the long healthy run: {sorted(drill.healthy_alerts)}"


def test_the_watchdog_is_delivered_with_its_annotations(drill: DrillResult, repo_root: Path) -> None:
    delivery = drill.healthy_deliveries[0]
    (alert,) = delivery["payload"]["alerts"]
    assert alert["status"] == "firing"
    assert alert["labels"]["severity"] == "info"
    check_annotations(alert, WATCHDOG, repo_root)


def check_annotations(alert: dict[str, object], name: str, repo_root: Path) -> None:
    annotations = alert["annotations"]
    assert isinstance(annotations, dict)
    assert annotations["summary"].endswith("."), annotations["summary"]
    assert annotations["description"].strip()
    assert annotations["runbook_url"].endswith(f"/runbooks/{name}.md")
    assert (repo_root / "runbooks" / f"{name}.md").is_file()


@pytest.mark.parametrize("expect", EXPECTS, ids=[e.key() for e in EXPECTS])
def test_the_fault_fires_delivers_and_resolves_the_alert_once(
    drill: DrillResult, live_stack: LiveStack, expect: Expect, repo_root: Path
) -> None:
    obs = drill.observation(expect.alert, expect.replica, **expect.labels)
    assert obs.pending_at is not None, f"{expect.key()} never went pending after: {obs.fault}"
    assert obs.firing_at is not None and obs.pending_at <= obs.firing_at
    assert obs.delivered_at is not None and obs.firing_alert is not None, f"{expect.key()} was not delivered"
    assert obs.receivers == {expect.receiver}
    labels = obs.firing_alert["labels"]
    assert labels["severity"] == SEVERITY_OF_RECEIVER[expect.receiver]
    assert labels.get("job", "agent-runtime") in JOBS
    assert {k: labels[k] for k in expect.labels} == dict(expect.labels)
    if expect.replica is not None:
        assert labels["instance"] == live_stack.instances[expect.replica - 1]
    check_annotations(obs.firing_alert, expect.alert, repo_root)
    assert obs.resolved_at is not None and obs.resolved_alert is not None, (
        f"{expect.key()}: no resolution delivered after the fault cleared"
    )
    assert obs.resolved_alert["labels"] == labels
    # Once: one firing episode in Prometheus (pending, firing, resolved) and in Alertmanager's notifications.
    # A pending that cleared before its `for:` notified nobody; it is counted (abandoned) and shown in the doc.
    transitions = obs.transitions
    assert (transitions.firing, transitions.resolved) == (1, 1), f"{expect.key()} flapped: {transitions.to_dict()}"
    assert transitions.pending == 1 + transitions.abandoned, transitions.to_dict()
    assert (transitions.notified_firing, transitions.notified_resolved) == (1, 1), (
        f"{expect.key()} was notified more than once: {transitions.to_dict()}"
    )


def test_no_alert_flaps_in_any_wave(drill: DrillResult) -> None:
    # Alerts a wave raised besides the expected ones (side effects of its faults) may fire, but once.
    flapping = {f"{wave.scenario.name}: {key}": counts.to_dict() for wave in drill.waves
                for key, counts in wave.others.items()
                if counts.flapping}  # fmt: skip
    assert not flapping, flapping


def test_model_calls_fail_while_the_model_server_is_down(drill: DrillResult) -> None:
    (wave,) = [w for w in drill.waves if "model-down" in w.traffic]
    report = wave.traffic["model-down"]
    # Every LLM task of that traffic was answered: the writer falls back to an extractive answer, the
    # investigator's tasks fail fast (its model calls short-circuited by the open llm_chat breaker).
    assert report["completed"] == report["sent"] > 0, report
    assert report["statuses"] == {"200": report["sent"]}, report


def test_results_are_recorded(drill: DrillResult, repo_root: Path, tmp_path: Path) -> None:
    record = os.environ.get("AGENT_RUNTIME_E2E_RECORD") == "1"
    json_path = repo_root / alerts_doc.RESULTS if record else tmp_path / "e2e_alerts.json"
    doc_path = repo_root / alerts_doc.DOC if record else tmp_path / "e2e-alerts.md"
    previous = json.loads((repo_root / alerts_doc.RESULTS).read_text()) if (repo_root / alerts_doc.RESULTS).is_file() \
        else None  # fmt: skip
    results = alerts_doc.results(drill, previous)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    doc_path.write_text(alerts_doc.render(results))
    assert len(results["alerts"]) == len(EXPECTS)
    assert "| AgentRuntimeDown |" in doc_path.read_text()
