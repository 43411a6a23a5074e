"""The PrometheusRule holds the repository's rules, and they pass promtool once extracted.

Its groups are ``prometheus/rules/recording.yml`` and ``alerts.yml``, rule for
rule, with one difference: every alert also carries ``namespace: <namespace>``
(the AlertmanagerConfig only receives alerts of its own namespace). Extracted
into rule files, they pass ``promtool check rules``, and the promtool unit
tests generated from the same config (expecting that label too) pass against
them.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from observability.deploy.monitoring import kubernetes_alert_labels
from observability.generate import promtool_files
from observability.kit import DEFAULT_KIT
from tests.support.binaries import require_binary
from tests.unit.deploy.conftest import Manifest, by_kind

pytestmark = pytest.mark.integration  # promtool

NAMESPACE = DEFAULT_KIT.kubernetes.namespace


def rule_groups(manifests: dict[str, Manifest]) -> list[dict[str, Any]]:
    (rule,) = by_kind(manifests, "PrometheusRule")
    groups: list[dict[str, Any]] = rule["spec"]["groups"]
    return groups


def extract(manifests: dict[str, Manifest], rules_dir: Path) -> list[Path]:
    """The PrometheusRule's groups as ``recording.yml`` and ``alerts.yml`` in ``rules_dir``."""
    groups = rule_groups(manifests)
    recording = [g for g in groups if all("record" in r for r in g["rules"])]
    alerting = [g for g in groups if g not in recording]
    rules_dir.mkdir(parents=True)
    paths = []
    for name, part in (("recording.yml", recording), ("alerts.yml", alerting)):
        path = rules_dir / name
        path.write_text(yaml.safe_dump({"groups": part}, sort_keys=False))
        paths.append(path)
    return paths


def test_groups_are_the_rule_files_with_the_namespace_on_alerts(
    manifests: dict[str, Manifest], kit_artifacts: dict[str, str]
) -> None:
    expected = [g for name in ("recording.yml", "alerts.yml")
                for g in yaml.safe_load(kit_artifacts[f"prometheus/rules/{name}"])["groups"]]  # fmt: skip
    for group in expected:
        for rule in group["rules"]:
            if "alert" in rule:
                rule["labels"] = {"severity": rule["labels"]["severity"], "namespace": NAMESPACE,
                                  **{k: v for k, v in rule["labels"].items() if k != "severity"}}  # fmt: skip
    assert rule_groups(manifests) == expected
    assert kubernetes_alert_labels(DEFAULT_KIT) == {"namespace": NAMESPACE}


def test_extracted_rules_pass_promtool_check_and_unit_tests(manifests: dict[str, Manifest], tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    rule_paths = extract(manifests, tmp_path / "rules")
    check = subprocess.run([promtool, "check", "rules", *map(str, rule_paths)], capture_output=True, text=True,
                           timeout=120, check=False)  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    tests_dir = tmp_path / "tests"
    tests_dir.mkdir()
    for name, text in promtool_files(DEFAULT_KIT.observability, kubernetes_alert_labels(DEFAULT_KIT)).items():
        (tests_dir / name).write_text(text)
    unit = subprocess.run([promtool, "test", "rules", *sorted(map(str, tests_dir.iterdir()))], capture_output=True,
                          text=True, timeout=300, check=False)  # fmt: skip
    assert unit.returncode == 0, unit.stdout[-4000:] + unit.stderr[-4000:]
    assert "SUCCESS" in unit.stdout
