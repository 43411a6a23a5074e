"""Render every generated artifact, write it, or check the committed copies for drift.

Artifacts are keyed by their path relative to the repository root. Each
generated directory is owned entirely by the generator (``MANAGED``): a
stale file there (say, the runbook of a removed alert) counts as drift and
is deleted by ``write``. Besides the directories, the generator writes
``observability.yaml``: the kit's settings it rendered from (with the
defaults, the example users copy).

Everything is rendered from a ``Kit`` (``observability.kit``): the
``ObservabilityConfig`` plus the labels put on every alert, the dashboards'
data source and folder, and the Kubernetes packaging (``observability.deploy``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

from observability.config import ObservabilityConfig
from observability.kit import DEFAULT_KIT, Kit, label_alert_groups, label_promtool_tests, render_example
from observability.promtool import render_test_files
from observability.rules import alert_groups, all_alerts, recording_groups
from observability.rules.render import render_rule_files
from observability.runbooks import render_runbooks

# Generated directory -> file pattern it owns.
MANAGED: Final = {
    "prometheus/rules": "*.yml",
    "prometheus/tests": "*.yml",
    "grafana/dashboards": "*.json",
    "runbooks": "*.md",
    "deploy/kubernetes": "**/*.yaml",
}
KIT_FILE: Final = "observability.yaml"
# The data source UID the dashboards are built with (grafana/provisioning/datasources/).
_BUILT_DATASOURCE_UID: Final = "prometheus"


def _kit(config: ObservabilityConfig | None, kit: Kit | None) -> Kit:
    if kit is None:
        return DEFAULT_KIT if config is None else replace(DEFAULT_KIT, observability=config)
    if config is not None and config != kit.observability:
        raise ValueError("pass either an ObservabilityConfig or a Kit holding it, not two different ones")
    return kit


def _check_alert_labels(config: ObservabilityConfig, labels: Mapping[str, str]) -> None:
    """Kit labels must not shadow an alert rule's own static labels (``long``, ``short``, ...)."""
    own = {name for alert in all_alerts(config) for rule in alert.rules for name in rule.labels}
    clash = sorted(own & set(labels))
    if clash:
        raise ValueError(f"alert_labels {clash} are set by the rules themselves; choose other label names")


def rule_files(config: ObservabilityConfig, labels: Mapping[str, str], time_scale: int = 1) -> dict[str, str]:
    """``recording.yml`` and ``alerts.yml`` with ``labels`` on every alert."""
    _check_alert_labels(config, labels)
    groups = label_alert_groups(alert_groups(config), labels)
    return dict(render_rule_files(recording_groups(config), groups, config, time_scale))


def promtool_files(config: ObservabilityConfig, labels: Mapping[str, str]) -> dict[str, str]:
    """The promtool test files, expecting ``labels`` on every alert."""
    return {name: label_promtool_tests(text, labels) for name, text in render_test_files(config).items()}


def _with_datasource(text: str, uid: str) -> str:
    """A dashboard whose ``${datasource}`` variable defaults to the data source ``uid``."""
    board: dict[str, Any] = json.loads(text)
    for variable in board.get("templating", {}).get("list", []):
        if variable.get("type") == "datasource":
            variable["current"] = {"selected": True, "text": uid, "value": uid}
    return json.dumps(board, sort_keys=True, indent=2) + "\n"


def dashboard_files(kit: Kit) -> dict[str, str]:
    """Dashboard JSON by file name, defaulting to the kit's data source."""
    # Imported here: the dashboard SDK is needed only to render dashboards.
    from observability.dashboards import render_dashboards

    uid = kit.dashboards.datasource_uid
    boards = render_dashboards(kit.observability)
    return {name: text if uid == _BUILT_DATASOURCE_UID else _with_datasource(text, uid)
            for name, text in boards.items()}  # fmt: skip


def render_kit(kit: Kit = DEFAULT_KIT) -> dict[str, str]:
    """Every generated file of ``kit`` by repository-relative path."""
    from observability.deploy import monitoring, render_kubernetes

    config = kit.observability
    dashboards = dashboard_files(kit)
    artifacts: dict[str, str] = {}
    parts: list[tuple[str, Mapping[str, str]]] = [
        ("prometheus/rules", rule_files(config, kit.alert_labels)),
        ("prometheus/tests", promtool_files(config, kit.alert_labels)),
        ("grafana/dashboards", dashboards),
        ("runbooks", render_runbooks(all_alerts(config), config)),
    ]
    for directory, files in parts:
        artifacts.update({f"{directory}/{name}": text for name, text in files.items()})
    cluster_rules = rule_files(config, monitoring.kubernetes_alert_labels(kit))
    artifacts.update(render_kubernetes(kit, cluster_rules, dashboards))
    artifacts[KIT_FILE] = render_example(kit)
    return artifacts


def render_all(config: ObservabilityConfig | None = None, kit: Kit | None = None) -> dict[str, str]:
    """Every generated file by repository-relative path: of ``kit``, or of the default kit with ``config``."""
    return render_kit(_kit(config, kit))


def render_scaled_rules(config: ObservabilityConfig, time_scale: int, labels: Mapping[str, str] | None = None,
                        ) -> dict[str, str]:
    """The rule files with every window and ``for:`` divided by ``time_scale``, by file name."""
    return rule_files(config, labels or {}, time_scale)


def _stale(root: Path, artifacts: Mapping[str, str]) -> list[Path]:
    return sorted(
        path
        for directory, pattern in MANAGED.items()
        for path in (root / directory).glob(pattern)
        if path.relative_to(root).as_posix() not in artifacts
    )


def drift(root: Path, artifacts: Mapping[str, str]) -> list[str]:
    """Human-readable differences between ``artifacts`` and the files under ``root``."""
    problems = []
    for relative, text in sorted(artifacts.items()):
        path = root / relative
        if not path.is_file():
            problems.append(f"missing: {relative}")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"out of date: {relative}")
    problems += [f"stale (not generated): {p.relative_to(root).as_posix()}" for p in _stale(root, artifacts)]
    return problems


def write(root: Path, artifacts: Mapping[str, str]) -> list[str]:
    """Write changed ``artifacts`` under ``root`` and delete stale ones; returns what changed."""
    changed = []
    for relative, text in sorted(artifacts.items()):
        path = root / relative
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        changed.append(f"wrote {relative}")
    for path in _stale(root, artifacts):
        path.unlink()
        changed.append(f"deleted {path.relative_to(root).as_posix()}")
    return changed


def write_flat(directory: Path, files: Mapping[str, str]) -> list[str]:
    """Write ``files`` (name -> text) into ``directory``, creating it; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return [str(directory / name) for name in files]
