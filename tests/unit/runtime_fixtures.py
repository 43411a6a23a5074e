"""A small runtime with deterministic in-process tools, shared by runtime tests."""

from __future__ import annotations

import time
from typing import Any

from agent_runtime.config.loader import parse_config
from agent_runtime.config.models import RuntimeConfig
from agent_runtime.errors import ToolError
from agent_runtime.registry import ToolRegistry

CONFIG: dict[str, Any] = {
    "tools": {
        "lookup": {"ttl_seconds": 60, "cache_tags": ["docs"]},
        "metrics": {"timeout_seconds": 2},
        "shout": {"cacheable": False},
        "broken": {"breaker": {"consecutive_failures": 2, "minimum_calls": 2}},
    },
    "agents": [
        {
            "name": "diagnostics",
            "tools": ["lookup", "metrics"],
            "base_confidence": 0.5,
            "specialties": [
                {"domain": "ops", "keywords": {"cache": 1.0, "latency": 1.0, "error": 0.8, "alert": 0.8}}
            ],
            "plan": [
                {"id": "docs", "tool": "lookup", "args": {"query": "{task}"}},
                {"id": "numbers", "tool": "metrics", "args": {"query": "{task}"}},
                {"id": "answer", "tool": "shout", "args": {"parts": ["$steps.docs", "$steps.numbers"]}},
            ],
        },
        {
            "name": "writer",
            "tools": ["shout"],
            "base_confidence": 0.4,
            "specialties": [{"domain": "writing", "keywords": {"write": 1.0, "summary": 1.0, "draft": 0.8}}],
            "plan": [{"id": "text", "tool": "shout", "args": {"parts": ["{task}"]}}],
        },
        {
            "name": "flaky",
            "tools": ["broken"],
            "base_confidence": 0.3,
            "specialties": [{"domain": "chaos", "keywords": {"explode": 1.0}}],
            "plan": [{"id": "boom", "tool": "broken", "args": {}}],
        },
    ],
    # Experience off: these tests assert exact cache behaviour, not its learning.
    "routing": {"fallback_chain": ["writer"], "min_confidence": 0.4, "experience_weight": 0.0},
    "execution": {"max_in_flight_tasks": 4, "max_parallel_tool_calls": 4, "task_timeout_seconds": 5},
    "stage_targets_seconds": {"route": 0.05, "tool": 0.5},
}


def make_tools() -> ToolRegistry:
    """Deterministic tools: lookup (cached), metrics, shout (never cached), broken (always fails)."""
    registry = ToolRegistry()
    @registry.tool()
    def lookup(query: str) -> str:
        time.sleep(0.02)
        return f"doc about {query}"

    @registry.tool()
    def metrics(query: str) -> float:
        time.sleep(0.02)
        return 0.42

    @registry.tool()
    def shout(parts: list[Any]) -> str:
        return " | ".join(str(p) for p in parts).upper()

    @registry.tool()
    def broken() -> None:
        raise ToolError("the dependency is down")

    return registry


def make_config(**overrides: Any) -> RuntimeConfig:
    """The test configuration, with top-level keys replaced by ``overrides``."""
    return parse_config({**CONFIG, **overrides}, source="test-config")
