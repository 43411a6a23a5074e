"""Crafted agents, a fake clock and a recording listener for the scoring and routing tests."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from agent_runtime.config.models import AgentSpec, RoutingSettings, RuntimeConfig, Specialty
from agent_runtime.telemetry.listener import RuntimeListener

CACHE = AgentSpec(
    "cache-expert",
    specialties=(
        Specialty(
            "cache",
            {"cache": 1.0, "hit rate": 0.9, "eviction": 0.9, "ttl": 0.8, "redis": 0.7, "miss": 0.7},
        ),
    ),
    tools=("cache_stats", "redis_info"),
)
DATABASE = AgentSpec(
    "db-expert",
    specialties=(Specialty("database", {"database": 1.0, "sql": 1.0, "query": 0.9, "index": 0.8, "postgres": 0.9}),),
    tools=("sql_query",),
)
WRITER = AgentSpec(
    "writer",
    specialties=(Specialty("writing", {"write": 1.0, "report": 0.9, "summary": 0.9, "draft": 0.8, "email": 0.7}),),
    tools=("docs_search",),
)
ALERTING = AgentSpec(
    "alerting",
    specialties=(Specialty("alerts", {"alert": 1.0, "incident": 0.8, "prometheus": 0.9, "page": 0.7, "rule": 0.6}),),
    tools=("promql_query", "alert_list"),
)
PLANNER = AgentSpec(
    "planner",
    specialties=(Specialty("planning", {"plan": 1.0, "coordinate": 0.8, "step": 0.6}),),
    base_confidence=0.4,
)
GENERALIST = AgentSpec("generalist", base_confidence=0.5)

AGENTS: tuple[AgentSpec, ...] = (CACHE, DATABASE, WRITER, ALERTING, PLANNER, GENERALIST)

ROUTING = RoutingSettings(
    min_confidence=0.3,
    fallback_chain=("not-configured", "generalist"),
    planning_agent="planner",
    planning_complexity=0.8,
    planning_confidence=0.45,
    similarity_threshold=0.9,
    decision_cache_size=1024,
    analysis_cache_size=1024,
    experience_weight=0.15,
    experience_half_life_seconds=60.0,
)


def make_config(version: str = "v1", **routing: Any) -> RuntimeConfig:
    """The crafted agents under ``ROUTING``, with any routing setting overridden."""
    return RuntimeConfig(agents=AGENTS, routing=replace(ROUTING, **routing), version=version)


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingListener(RuntimeListener):
    """Keeps every cache look-up as ``(cache, layer, hit)``."""

    def __init__(self) -> None:
        self.lookups: list[tuple[str, str, bool]] = []

    def cache_looked_up(self, cache: str, layer: str, hit: bool) -> None:
        self.lookups.append((cache, layer, hit))
