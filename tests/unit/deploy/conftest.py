"""Fixtures for the Kubernetes packaging tests: the default kit's artifacts and the manifests, parsed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from observability.deploy import ADAPTER_RULES_FILE, ROOT
from observability.generate import render_kit
from observability.kit import DEFAULT_KIT

Manifest = dict[str, Any]


def is_manifest(path: str) -> bool:
    """A file under deploy/kubernetes that holds one Kubernetes object (not a kustomization, not adapter rules)."""
    return (path.startswith(f"{ROOT}/") and path.endswith(".yaml") and not path.endswith("/kustomization.yaml")
            and path != f"{ROOT}/{ADAPTER_RULES_FILE}")  # fmt: skip


def manifests_of(artifacts: dict[str, str]) -> dict[str, Manifest]:
    """Every manifest of ``artifacts``, parsed, by path."""
    return {path: yaml.safe_load(text) for path, text in artifacts.items() if is_manifest(path)}


@pytest.fixture(scope="session")
def kit_artifacts() -> dict[str, str]:
    """Every file the default kit generates, by repository-relative path."""
    return render_kit(DEFAULT_KIT)


@pytest.fixture(scope="session")
def manifests(kit_artifacts: dict[str, str]) -> dict[str, Manifest]:
    """The default kit's Kubernetes objects by path."""
    return manifests_of(kit_artifacts)


def by_kind(manifests: dict[str, Manifest], kind: str) -> list[Manifest]:
    """The manifests of one kind."""
    return [m for m in manifests.values() if m["kind"] == kind]


def written(tmp_path: Path, artifacts: dict[str, str]) -> Path:
    """``artifacts`` written under ``tmp_path``; returns it."""
    for relative, text in artifacts.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path
