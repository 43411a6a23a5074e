"""docs/e2e-alerts.md is exactly what the committed drill results render to, and covers every drilled alert."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.alerts_doc import DOC, RESULTS, render
from tests.e2e.drill import SCENARIOS


def test_the_doc_is_rendered_from_the_committed_results(repo_root: Path) -> None:
    results = json.loads((repo_root / RESULTS).read_text())
    assert (repo_root / DOC).read_text() == render(results), "run `python -m tests.e2e.alerts_doc`"


def test_the_results_cover_every_drilled_alert_with_measured_times(repo_root: Path) -> None:
    results = json.loads((repo_root / RESULTS).read_text())
    recorded = {(a["alert"], tuple(sorted(a["labels"].items())), a["replica"]) for a in results["alerts"]}
    drilled = {(e.alert, tuple(sorted(e.labels.items())), e.replica) for s in SCENARIOS for e in s.expects}
    assert recorded == drilled
    for alert in results["alerts"]:
        assert alert["detected_after_seconds"] is not None, alert
        assert alert["resolved_after_clear_seconds"] is not None, alert
        counts = alert["transitions"]
        assert (counts["firing"], counts["resolved"], counts["notified_firing"], counts["notified_resolved"]) == (
            1, 1, 1, 1), alert
        # An alert over its detection target (or without one) says why.
        minutes = alert["detected_after_seconds"] * results["time_scale"] / 60
        if alert["target_minutes"] is None or minutes > alert["target_minutes"]:
            assert alert["target_why"], alert
    assert results["healthy"]["alerts_seen"] == ["AgentRuntimeWatchdog"]
    assert results["long_healthy"] is None or results["long_healthy"]["alerts_seen"] == ["AgentRuntimeWatchdog"]
