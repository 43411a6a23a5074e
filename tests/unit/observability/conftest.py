"""Fixtures for the observability tests: the default config and its rendered artifacts."""

from __future__ import annotations

from typing import Any

import pytest

from observability.config import DEFAULT_CONFIG, ObservabilityConfig
from observability.generate import render_all
from observability.rules import all_alerts
from observability.rules.model import Alert
from tests.unit.observability.helpers import load_json


@pytest.fixture(scope="session")
def config() -> ObservabilityConfig:
    """The configuration the committed artifacts are generated from."""
    return DEFAULT_CONFIG


@pytest.fixture(scope="session")
def artifacts(config: ObservabilityConfig) -> dict[str, str]:
    """Every generated file by repository-relative path."""
    return render_all(config)


@pytest.fixture(scope="session")
def alerts(config: ObservabilityConfig) -> tuple[Alert, ...]:
    """Every alert definition."""
    return all_alerts(config)


@pytest.fixture(scope="session")
def dashboards(artifacts: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The generated dashboards, parsed, by file name."""
    return {
        path.rsplit("/", 1)[1]: load_json(text)
        for path, text in artifacts.items()
        if path.startswith("grafana/dashboards/")
    }
