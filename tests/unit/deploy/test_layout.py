"""The committed manifests are current, and the kustomize layout is what the docs say.

- Drift: ``deploy/kubernetes/`` and ``observability.yaml`` in the repository
  are byte-identical to a fresh render of the default kit (``python -m
  observability generate`` rewrites them, ``--check`` fails CI on a
  difference).
- Each kustomization lists exactly the objects in its directory; the default
  overlay is the base plus the components the kit turns on; the objects
  ``kubectl kustomize`` builds from the overlay are exactly the files listed
  (no generator or transformer changes anything).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from observability.deploy import DEFAULT_OVERLAY, ROOT
from observability.generate import KIT_FILE, drift
from observability.kit import DEFAULT_KIT
from tests.support.binaries import require_binary
from tests.unit.deploy.conftest import Manifest, is_manifest, manifests_of, written


def deploy_part(artifacts: dict[str, str]) -> dict[str, str]:
    return {path: text for path, text in artifacts.items() if path.startswith(f"{ROOT}/") or path == KIT_FILE}


def test_committed_manifests_and_kit_file_are_current(kit_artifacts: dict[str, str], repo_root: Path) -> None:
    mine = deploy_part(kit_artifacts)
    problems = [p for p in drift(repo_root, kit_artifacts) if p.split(": ", 1)[1] in mine
                or p.split(": ", 1)[1].startswith(f"{ROOT}/")]  # fmt: skip
    assert problems == [], "run `python -m observability generate`"


def kustomization(artifacts: dict[str, str], directory: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(artifacts[f"{ROOT}/{directory}/kustomization.yaml"])
    return document


def test_each_kustomization_lists_its_directory(kit_artifacts: dict[str, str]) -> None:
    directories = {path.removeprefix(f"{ROOT}/").rsplit("/", 1)[0] for path in kit_artifacts if is_manifest(path)}
    assert directories == {"base", "components/alerting", "components/autoscaling", "components/dashboards",
                           "components/local-model", "components/monitoring", "components/redis"}  # fmt: skip
    for directory in directories:
        document = kustomization(kit_artifacts, directory)
        assert document["kind"] == ("Kustomization" if directory == "base" else "Component")
        listed = {f"{ROOT}/{directory}/{name}" for name in document["resources"]}
        present = {p for p in kit_artifacts if is_manifest(p) and p.rsplit("/", 1)[0] == f"{ROOT}/{directory}"}
        assert listed == present, directory
        assert set(document) == {"apiVersion", "kind", "resources"}  # nothing rewrites the objects


def test_the_default_overlay_is_the_base_and_the_enabled_parts(kit_artifacts: dict[str, str]) -> None:
    overlay = kustomization(kit_artifacts, DEFAULT_OVERLAY)
    assert overlay["resources"] == ["../../base"]
    assert overlay["components"] == [f"../../components/{part}" for part in
                                     ("alerting", "autoscaling", "dashboards", "monitoring", "redis")]  # fmt: skip
    assert not DEFAULT_KIT.kubernetes.parts.local_model


def overlay_objects(artifacts: dict[str, str]) -> list[Manifest]:
    """What the default overlay consists of: the base's files and its components' files."""
    overlay = kustomization(artifacts, DEFAULT_OVERLAY)
    directories = ["base", *(c.removeprefix("../../") for c in overlay["components"])]
    manifests = manifests_of(artifacts)
    return [m for directory in directories for p, m in manifests.items() if p.startswith(f"{ROOT}/{directory}/")]


class _GoYamlLoader(yaml.SafeLoader):
    """kubectl prints ``matchType: =`` unquoted, which PyYAML (YAML 1.1) reads as the ``!!value`` tag."""


_GoYamlLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def _key(manifest: Manifest) -> tuple[str, str, str]:
    return manifest["apiVersion"], manifest["kind"], manifest["metadata"]["name"]


def test_kubectl_kustomize_builds_exactly_the_listed_objects(kit_artifacts: dict[str, str], tmp_path: Path) -> None:
    kubectl = require_binary("kubectl")
    root = written(tmp_path, kit_artifacts)
    built = subprocess.run([kubectl, "kustomize", str(root / ROOT / DEFAULT_OVERLAY)], capture_output=True,
                           text=True, timeout=120, check=False)  # fmt: skip
    assert built.returncode == 0, built.stderr
    objects = [d for d in yaml.load_all(built.stdout, Loader=_GoYamlLoader) if d]
    expected = overlay_objects(kit_artifacts)
    assert sorted(map(_key, objects)) == sorted(map(_key, expected))
    by_key = {_key(m): m for m in expected}
    for obj in objects:
        assert obj == by_key[_key(obj)], _key(obj)
