"""agent_runtime: route tasks to agents and run their tools fast, with telemetry.

Example::

    >>> from agent_runtime import Runtime, ToolRegistry, parse_config
    >>> tools = ToolRegistry()
    >>> @tools.tool(ttl_seconds=60)
    ... def forecast(city: str) -> str:
    ...     return f"sunny in {city}"
    >>> config = parse_config({"agents": [{
    ...     "name": "weather", "tools": ["forecast"],
    ...     "specialties": [{"domain": "weather", "keywords": ["forecast", "rain", "sunny"]}],
    ...     "plan": [{"id": "f", "tool": "forecast", "args": {"city": "{context[city]}"}}]}]})
    >>> runtime = Runtime(config, tools=tools, metrics_registry=None)
    >>> result = runtime.handle(Task("will it rain?", context={"city": "Oslo"}))
    >>> result.agent, result.output
    ('weather', 'sunny in Oslo')
    >>> runtime.close()
"""

from agent_runtime._version import __version__
from agent_runtime.agents.python_agent import AgentContext, DeadlineExceededError, ToolCallFailedError
from agent_runtime.config.loader import load_config, parse_config
from agent_runtime.config.models import (
    AgentSpec,
    BreakerSettings,
    CacheSettings,
    ExecutionSettings,
    ModelPrice,
    PlanStep,
    RetryPolicy,
    RoutingSettings,
    RuntimeConfig,
    Specialty,
    ToolSpec,
)
from agent_runtime.errors import (
    AgentRuntimeError,
    CircuitOpenError,
    ConfigError,
    DependencyError,
    ModelRequestError,
    PlanError,
    RejectedError,
    RetryableToolError,
    TaskDeadlineError,
    ToolBusyError,
    ToolError,
    ToolTimeoutError,
    UnknownAgentError,
    UnknownToolError,
)
from agent_runtime.profiler import BottleneckReport, Profiler, StageStats
from agent_runtime.registry import AgentRegistry, RegisteredTool, ToolRegistry
from agent_runtime.results import (
    AgentScore,
    ModelTurn,
    RoutingDecision,
    Task,
    TaskResult,
    ToolCallOutcome,
)
from agent_runtime.runtime import Runtime
from agent_runtime.telemetry.listener import ListenerSet, ModelCall, RuntimeListener
from agent_runtime.vocabulary import AgentKind, InvalidAction, StopReason, TaskOutcome, ToolCallMode, ToolOutcome

__all__ = [
    "AgentContext",
    "AgentKind",
    "AgentRegistry",
    "AgentRuntimeError",
    "AgentScore",
    "AgentSpec",
    "BottleneckReport",
    "BreakerSettings",
    "CacheSettings",
    "CircuitOpenError",
    "ConfigError",
    "DeadlineExceededError",
    "DependencyError",
    "ExecutionSettings",
    "InvalidAction",
    "ListenerSet",
    "ModelCall",
    "ModelPrice",
    "ModelRequestError",
    "ModelTurn",
    "PlanError",
    "PlanStep",
    "Profiler",
    "RegisteredTool",
    "RejectedError",
    "RetryPolicy",
    "RetryableToolError",
    "RoutingDecision",
    "RoutingSettings",
    "Runtime",
    "RuntimeConfig",
    "RuntimeListener",
    "Specialty",
    "StageStats",
    "StopReason",
    "Task",
    "TaskDeadlineError",
    "TaskOutcome",
    "TaskResult",
    "ToolBusyError",
    "ToolCallFailedError",
    "ToolCallMode",
    "ToolCallOutcome",
    "ToolError",
    "ToolOutcome",
    "ToolRegistry",
    "ToolSpec",
    "ToolTimeoutError",
    "UnknownAgentError",
    "UnknownToolError",
    "__version__",
    "load_config",
    "parse_config",
]
