"""Grafana dashboards built with grafana-foundation-sdk from ``ObservabilityConfig``."""

from __future__ import annotations

from collections.abc import Mapping

from observability.config import ObservabilityConfig
from observability.dashboards import agents, bottlenecks, overview, routing, tools
from observability.dashboards.common import to_json

__all__ = ["render_dashboards"]


def render_dashboards(config: ObservabilityConfig) -> Mapping[str, str]:
    """Dashboard JSON by file name (``grafana/dashboards/<name>``)."""
    return {
        "overview.json": to_json(overview.build(config)),
        "routing.json": to_json(routing.build(config)),
        "tools.json": to_json(tools.build(config)),
        "bottlenecks.json": to_json(bottlenecks.build(config)),
        "agents.json": to_json(agents.build(config)),
    }
