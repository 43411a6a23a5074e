"""Every alert family against the live stack: fault → pending → firing → delivered → cleared → resolved.

One drill (``tests/e2e/drill.py``) runs for the whole session; each test
checks one alert's record. ``AGENT_RUNTIME_E2E_RECORD=1`` writes the measured
times to ``bench/results/e2e_alerts.json`` and ``docs/e2e-alerts.md``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.e2e import alerts_doc
from tests.e2e.drill import SCENARIOS, WATCHDOG, DrillResult, Expect

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

SEVERITY_OF_RECEIVER = {"page": "critical", "ticket": "warning", "default": "info", "watchdog": "info"}
EXPECTS = [expect for scenario in SCENARIOS for expect in scenario.expects]


def test_a_healthy_run_fires_nothing_but_the_watchdog(drill: DrillResult) -> None:
    assert drill.healthy_alerts == {WATCHDOG}, f"alerts seen in a healthy run: {sorted(drill.healthy_alerts)}"
    delivered = {(d["receiver"], a["labels"]["alertname"]) for d in drill.healthy_deliveries
                 for a in d["payload"]["alerts"]}  # fmt: skip
    assert delivered == {("watchdog", WATCHDOG)}


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


@pytest.mark.parametrize("expect", EXPECTS, ids=[f"{e.alert}{''.join(f'-{v}' for v in e.labels.values())}"
                                                  for e in EXPECTS])  # fmt: skip
def test_the_fault_fires_delivers_and_resolves_the_alert(
    drill: DrillResult, expect: Expect, repo_root: Path
) -> None:
    obs = drill.observation(expect.alert, **expect.labels)
    assert obs.pending_at is not None, f"{expect.alert} never went pending after: {obs.fault}"
    assert obs.firing_at is not None and obs.pending_at <= obs.firing_at
    assert obs.delivered_at is not None and obs.firing_alert is not None, f"{expect.alert} was not delivered"
    assert obs.receivers == {expect.receiver}
    labels = obs.firing_alert["labels"]
    assert labels["severity"] == SEVERITY_OF_RECEIVER[expect.receiver]
    assert labels.get("job", "agent-runtime") == "agent-runtime"
    assert {k: labels[k] for k in expect.labels} == dict(expect.labels)
    check_annotations(obs.firing_alert, expect.alert, repo_root)
    assert obs.resolved_at is not None and obs.resolved_alert is not None, (
        f"{expect.alert}: no resolution delivered after the fault cleared"
    )
    assert obs.resolved_alert["labels"] == labels


def test_results_are_recorded(drill: DrillResult, repo_root: Path, tmp_path: Path) -> None:
    results = alerts_doc.results(drill)
    record = os.environ.get("AGENT_RUNTIME_E2E_RECORD") == "1"
    json_path = repo_root / alerts_doc.RESULTS if record else tmp_path / "e2e_alerts.json"
    doc_path = repo_root / alerts_doc.DOC if record else tmp_path / "e2e-alerts.md"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    doc_path.write_text(alerts_doc.render(results))
    assert len(results["alerts"]) == len(EXPECTS)
    assert "| AgentRuntimeDown |" in doc_path.read_text()
