"""A small runtime with instant in-process tools, for telemetry tests and the benchmark.

Agents: ``echoer`` (one ``echo`` call), ``pair`` (two parallel ``echo`` calls
and a dependent ``join``) and ``failer`` (one ``fail`` call, which always
raises; its breaker opens after two failures). Tools take microseconds, so
any latency a test measures is the runtime's and its telemetry's.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry

from agent_runtime.config.loader import parse_config
from agent_runtime.errors import DependencyError
from agent_runtime.registry import ToolRegistry
from agent_runtime.results import Task
from agent_runtime.runtime import Runtime

AGENTS = ("echoer", "pair", "failer")

CONFIG: dict[str, Any] = {
    "tools": {
        "echo": {"cacheable": False},
        "join": {"cacheable": False},
        "fail": {"cacheable": False, "breaker": {"consecutive_failures": 2, "minimum_calls": 2, "open_seconds": 60}},
    },
    "agents": [
        {
            "name": "echoer",
            "tools": ["echo"],
            "specialties": [{"domain": "echo", "keywords": {"echo": 1.0, "repeat": 1.0}}],
            "plan": [{"id": "say", "tool": "echo", "args": {"text": "{task}"}}],
        },
        {
            "name": "pair",
            "tools": ["echo", "join"],
            "specialties": [{"domain": "pairs", "keywords": {"pair": 1.0, "both": 1.0}}],
            "plan": [
                {"id": "left", "tool": "echo", "args": {"text": "left {task}"}},
                {"id": "right", "tool": "echo", "args": {"text": "right {task}"}},
                {"id": "both", "tool": "join", "args": {"parts": ["$steps.left", "$steps.right"]}},
            ],
        },
        {
            "name": "failer",
            "tools": ["fail"],
            "specialties": [{"domain": "chaos", "keywords": {"explode": 1.0, "fail": 1.0}}],
            "plan": [{"id": "boom", "tool": "fail", "args": {}}],
        },
    ],
    "routing": {"fallback_chain": ["echoer"], "min_confidence": 0.1},
    "execution": {"max_in_flight_tasks": 64, "max_parallel_tool_calls": 8, "task_timeout_seconds": 5},
}


def make_tools() -> ToolRegistry:
    """``echo`` and ``join`` answer at once; ``fail`` always raises a (non-retryable) ``ToolError``."""
    tools = ToolRegistry()

    @tools.tool()
    def echo(text: str) -> str:
        return text

    @tools.tool()
    def join(parts: list[Any]) -> str:
        return " + ".join(str(part) for part in parts)

    @tools.tool()
    def fail() -> None:
        raise DependencyError("the backend is down")

    return tools


def make_runtime(registry: CollectorRegistry | None) -> Runtime:
    """The test runtime; ``registry=None`` turns metrics off."""
    return Runtime(parse_config(CONFIG, source="telemetry-test"), tools=make_tools(), metrics_registry=registry)


def task(agent: str, text: str = "echo this please") -> Task:
    """A task forced to ``agent`` (deterministic routing)."""
    return Task(text, agent=agent)
