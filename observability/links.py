"""Stable identities of the generated dashboards, shared by dashboards and runbooks.

Runbooks name a dashboard and a panel to open; the dashboards are built with
these UIDs and titles, and a test checks that every referenced panel exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class DashboardId:
    """A dashboard's UID (its URL path) and title."""

    uid: str
    title: str

    def url(self, grafana_url: str) -> str:
        """The dashboard's address under ``grafana_url``."""
        return f"{grafana_url.rstrip('/')}/d/{self.uid}"


DASHBOARDS: Final[dict[str, DashboardId]] = {
    "overview": DashboardId("agent-runtime-overview", "Agent runtime / Overview"),
    "routing": DashboardId("agent-runtime-routing", "Agent runtime / Routing and scoring"),
    "tools": DashboardId("agent-runtime-tools", "Agent runtime / Tools, cache and breakers"),
    "bottlenecks": DashboardId("agent-runtime-bottlenecks", "Agent runtime / Bottlenecks"),
    "agents": DashboardId("agent-runtime-agents", "Agent runtime / Agents and models"),
}
# Tag shared by all generated dashboards; the dashboards link to each other through it.
DASHBOARD_TAG: Final = "agent-runtime"
