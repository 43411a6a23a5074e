"""ObservabilityConfig: derived values and validation against the metric catalog."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from agent_runtime.config.loader import CONFIG_ENV, DEFAULT_CONFIG_PATH, load_config
from agent_runtime.telemetry.catalog import STAGES, TASK_LATENCY_SLO_SECONDS
from observability.config import DEFAULT_CONFIG, ObservabilityConfig, SloTarget, runtime_stage_targets


def test_defaults_follow_the_catalog_and_the_sre_workbook() -> None:
    slo = DEFAULT_CONFIG.slo
    assert slo.latency_threshold_seconds == TASK_LATENCY_SLO_SECONDS
    assert [(w.long, w.short, w.factor, w.severity) for w in slo.availability.windows] == [
        ("1h", "5m", 14.4, "critical"), ("6h", "30m", 6.0, "critical"),
        ("1d", "2h", 3.0, "warning"), ("3d", "6h", 1.0, "warning"),
    ]
    assert set(DEFAULT_CONFIG.components.stage_targets_seconds) <= set(STAGES)


def test_stage_targets_are_the_runtimes_own_table() -> None:
    # One table: the profiler's (agent_runtime/config/default.yaml) is the alert's.
    runtime = load_config(DEFAULT_CONFIG_PATH).stage_targets_seconds
    assert dict(DEFAULT_CONFIG.components.stage_targets_seconds) == dict(runtime)
    assert list(DEFAULT_CONFIG.components.stage_targets_seconds) == [s for s in STAGES if s in runtime]


def test_stage_targets_ignore_the_shells_runtime_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "agents.yaml"
    other.write_text("agents: [{name: writer}]\nstage_targets_seconds: {route: 0.05}\n")
    monkeypatch.setenv(CONFIG_ENV, str(other))
    assert runtime_stage_targets() == DEFAULT_CONFIG.components.stage_targets_seconds
    assert dict(runtime_stage_targets(other)) == {"route": 0.05}


def test_ratio_windows_are_unique_and_sorted() -> None:
    assert DEFAULT_CONFIG.slo.ratio_windows == ("5m", "30m", "1h", "2h", "6h", "1d", "3d")


def test_budget_texts() -> None:
    assert SloTarget(0.99).error_budget_text == "1%"
    assert SloTarget(0.999).objective_text == "99.9%"


def test_runbook_url_uses_the_configured_base() -> None:
    config = replace(DEFAULT_CONFIG, runbook_base_url="https://runbooks.example/agent/")
    assert config.runbook_url("AgentRuntimeDown") == "https://runbooks.example/agent/AgentRuntimeDown.md"


def test_selector_comes_from_the_job() -> None:
    assert replace(DEFAULT_CONFIG, job="agents-prod").selector == 'job="agents-prod"'


def test_model_server_selector_comes_from_its_job() -> None:
    assert DEFAULT_CONFIG.model.server_selector == f'job="{DEFAULT_CONFIG.model.server_job}"'


@pytest.mark.parametrize("objective", [0, 1, 1.5])
def test_objective_must_be_a_fraction(objective: float) -> None:
    with pytest.raises(ValueError, match="objective"):
        SloTarget(objective)


def _with(**changes: object) -> ObservabilityConfig:
    section, field = next(iter(changes)).split("__")
    value = next(iter(changes.values()))
    return replace(DEFAULT_CONFIG, **{section: replace(getattr(DEFAULT_CONFIG, section), **{field: value})})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"slo__latency_threshold_seconds": 2.0}, "not a bucket boundary"),
        ({"slo__error_outcomes": ("error", "crashed")}, "subset"),
        ({"components__tool_error_outcomes": ()}, "subset"),
        ({"components__tool_error_outcomes": ("error", "short_circuited")}, "reached the tool"),
        ({"components__stage_targets_seconds": {"analyze": 0.01}}, "must name stages"),
        ({"components__stage_targets_seconds": {}}, "must name stages"),
        ({"components__stage_targets_seconds": {"execute": 20.0}}, "STAGE_BUCKETS"),
        ({"model__latency_threshold_seconds": 10.0}, "not a bucket boundary"),
        ({"model__unanswered_reasons": ("max_steps", "gave_up")}, "subset"),
        ({"model__unanswered_reasons": ("final",)}, "end with an answer"),
        ({"model__unanswered_reasons": ("loop", "forced_final")}, "end with an answer"),
        ({"model__cache": "responses"}, "not one of"),
        ({"model__hourly_budget_dollars": 0.0}, "budget"),
        ({"model__budget_short_window": "1h"}, "shorter than the spend window"),
        ({"model__server_job": ""}, "non-empty name"),
        ({"model__agent_window": "half an hour"}, "not a Prometheus duration"),
        ({"cache__layer_down_for": "5 minutes"}, "not a Prometheus duration"),
        ({"routing__low_confidence_bound": 0.55}, "not a bucket boundary"),
        ({"cache__baseline_window": "5m"}, "longer than the cache window"),
        ({"platform__down_for": "five minutes"}, "not a Prometheus duration"),
        ({"components__quantile": 1.0}, "quantiles"),
    ],
)
def test_invalid_values_are_rejected(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _with(**change)
