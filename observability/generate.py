"""Render every generated artifact, write it, or check the committed copies for drift.

Artifacts are keyed by their path relative to the repository root. Each
generated directory is owned entirely by the generator (``MANAGED``): a
stale file there (say, the runbook of a removed alert) counts as drift and
is deleted by ``write``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

from observability.config import ObservabilityConfig
from observability.dashboards import render_dashboards
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
}


def render_all(config: ObservabilityConfig) -> dict[str, str]:
    """Every generated file by repository-relative path."""
    artifacts: dict[str, str] = {}
    parts: list[tuple[str, Mapping[str, str]]] = [
        ("prometheus/rules", render_rule_files(recording_groups(config), alert_groups(config), config)),
        ("prometheus/tests", render_test_files(config)),
        ("grafana/dashboards", render_dashboards(config)),
        ("runbooks", render_runbooks(all_alerts(config), config)),
    ]
    for directory, files in parts:
        artifacts.update({f"{directory}/{name}": text for name, text in files.items()})
    return artifacts


def render_scaled_rules(config: ObservabilityConfig, time_scale: int) -> dict[str, str]:
    """The rule files with every window and ``for:`` divided by ``time_scale``, by file name."""
    return dict(render_rule_files(recording_groups(config), alert_groups(config), config, time_scale))


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
