"""docs/metrics.md is generated from the catalog and must not drift."""

from __future__ import annotations

from pathlib import Path

from agent_runtime.telemetry.catalog import LATENCY_BUCKETS, TASK_LATENCY_SLO_SECONDS, TOOL_LATENCY_TARGET_SECONDS
from agent_runtime.telemetry.reference import render_markdown


def test_committed_reference_matches_the_catalog(repo_root: Path) -> None:
    committed = (repo_root / "docs" / "metrics.md").read_text()
    assert committed == render_markdown(), "run: python -m agent_runtime.telemetry.reference > docs/metrics.md"


def test_slo_thresholds_sit_on_bucket_boundaries() -> None:
    assert TASK_LATENCY_SLO_SECONDS in LATENCY_BUCKETS
    assert TOOL_LATENCY_TARGET_SECONDS in LATENCY_BUCKETS
