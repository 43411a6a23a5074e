"""A runtime with LLM and Python agents whose model is the loopback OpenAI wire-format server.

The real ``openai`` SDK talks to ``ScriptedChatServer`` over HTTP; nothing is
patched. Tools are small in-process functions that count their calls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from opentelemetry import trace
from prometheus_client import CollectorRegistry

from agent_runtime import AgentRegistry, BreakerSettings, Runtime, ToolRegistry, parse_config
from agent_runtime.builtin_tools import BuiltinToolSettings, LlmSettings, register_builtin_tools
from agent_runtime.errors import RetryableToolError, ToolError
from agent_runtime.telemetry.listener import RuntimeListener
from agent_runtime.tools.services import ToolServices
from tests.support.openai_server import ScriptedChatServer

MODEL = "scripted-model"


class Events(RuntimeListener):
    """Records the agent events the runtime reports."""

    def __init__(self) -> None:
        self.finished: list[tuple[str, str, str, int, int]] = []
        self.invalid: list[tuple[str, str]] = []
        self.saved: list[tuple[str, float, float]] = []

    def agent_finished(self, agent: str, kind: str, reason: str, model_calls: int, tool_calls: int) -> None:
        self.finished.append((agent, kind, reason, model_calls, tool_calls))

    def invalid_action(self, agent: str, kind: str) -> None:
        self.invalid.append((agent, kind))

    def cache_saved(self, cache: str, seconds: float, dollars: float = 0.0) -> None:
        self.saved.append((cache, seconds, dollars))


@dataclass
class Calls:
    """How often each test tool ran, thread-safe (parallel calls)."""

    counts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hit(self, name: str) -> None:
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + 1


def tool_registry(calls: Calls) -> ToolRegistry:
    """``lookup(city)`` and ``slow_lookup(city)`` succeed, ``broken()`` fails like a dependency, ``nap(seconds)``."""
    tools = ToolRegistry()

    @tools.tool(ttl_seconds=60)
    def lookup(city: str) -> str:
        """Look up the weather in a city."""
        calls.hit("lookup")
        return f"sunny in {city}"

    @tools.tool(ttl_seconds=60)
    def population(city: str, year: int = 2024) -> int:
        """The population of a city."""
        calls.hit("population")
        return len(city) * 1000 + year

    @tools.tool(cacheable=False, breaker=BreakerSettings(consecutive_failures=2, minimum_calls=2, open_seconds=30.0))
    def broken() -> str:
        """Always fails."""
        calls.hit("broken")
        raise RetryableToolError("upstream 503")

    @tools.tool(cacheable=False, timeout_seconds=5.0)
    def nap(seconds: float) -> str:
        """Sleep a while."""
        calls.hit("nap")
        time.sleep(seconds)
        return "rested"

    @tools.tool(cacheable=False)
    def traced() -> str:
        """Opens a span of its own, as an instrumented library would."""
        with trace.get_tracer("a-tool-library").start_as_current_span("library work"):
            return "done"

    @tools.tool(cacheable=False)
    def refuse(text: str) -> str:
        """Refuses its input."""
        raise ToolError(f"cannot use {text!r}")

    return tools


@dataclass
class Harness:
    """A runtime over the scripted model server, its events, metrics registry and tool call counts."""

    server: ScriptedChatServer
    events: Events
    calls: Calls
    registry: CollectorRegistry
    build: Callable[..., Runtime]


@pytest.fixture()
def harness(openai_server: ScriptedChatServer) -> Iterator[Harness]:
    runtimes: list[Runtime] = []
    events = Events()
    calls = Calls()
    registry = CollectorRegistry()

    def build(
        agents: list[Mapping[str, Any]],
        *,
        python_agents: AgentRegistry | None = None,
        execution: Mapping[str, Any] | None = None,
        llm: Mapping[str, Any] | None = None,
    ) -> Runtime:
        tools = tool_registry(calls)
        services = ToolServices()
        settings = BuiltinToolSettings(
            corpus_paths=(),
            llm=LlmSettings(base_url=openai_server.base_url, model=MODEL, api_key="test-key", **(llm or {})),
        )
        register_builtin_tools(tools, settings, services)
        config = parse_config({"agents": list(agents), "execution": dict(execution or {})})
        runtime = Runtime(
            config, tools=tools, agents=python_agents, listeners=(events,), metrics_registry=registry, models=(MODEL,)
        )
        services.bind(runtime.listener, runtime.call_tool)
        runtimes.append(runtime)
        return runtime

    yield Harness(openai_server, events, calls, registry, build)
    for runtime in runtimes:
        runtime.close()


def llm_agent(name: str = "helper", **settings: Any) -> dict[str, Any]:
    """An llm agent over ``lookup`` and ``population`` (plus what ``settings`` overrides)."""
    return {
        "name": name,
        "kind": "llm",
        "instructions": "Answer weather questions.",
        "tools": ["lookup", "population"],
        "specialties": [{"domain": "weather", "keywords": ["weather", "sunny", "city"]}],
        **settings,
    }
