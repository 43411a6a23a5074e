"""promtool unit tests generated from the same config as the rules they test."""

from __future__ import annotations

from collections.abc import Mapping

from observability.config import ObservabilityConfig
from observability.promtool import cases_components, cases_models, cases_pipeline, cases_recording, cases_service
from observability.promtool.model import Scenario, promtool_document
from observability.rules import alert_groups, all_alerts, recording_groups
from observability.rules.render import dump_yaml

__all__ = ["render_test_files", "scenarios_by_file"]

# Test files live in prometheus/tests/, the rules they load in prometheus/rules/.
_RULE_FILES = ("../rules/recording.yml", "../rules/alerts.yml")


def scenarios_by_file(config: ObservabilityConfig) -> Mapping[str, tuple[Scenario, ...]]:
    """Scenarios grouped by the test file they are written to."""
    return {
        "recording_test.yml": cases_recording.scenarios(config),
        "alerts_service_test.yml": cases_service.scenarios(config),
        # Model, agent and model-server alerts are components too (and CI runs a fixed set of files).
        "alerts_components_test.yml": (*cases_components.scenarios(config), *cases_models.scenarios(config)),
        "alerts_pipeline_test.yml": cases_pipeline.scenarios(config),
    }


def render_test_files(config: ObservabilityConfig) -> Mapping[str, str]:
    """The promtool test files by file name."""
    alerts = {alert.name: alert for alert in all_alerts(config)}
    # Recording groups first, so alerts see this evaluation's records.
    order = [g.name for g in recording_groups(config)] + [g.name for g in alert_groups(config)]
    return {
        name: dump_yaml(promtool_document(scenarios, alerts, _RULE_FILES, order, config))
        for name, scenarios in scenarios_by_file(config).items()
    }
