"""Register your own tools and agents from Python.

Example::

    >>> registry = ToolRegistry()
    >>> @registry.tool(timeout_seconds=2.0, ttl_seconds=60, cache_tags=("weather",))
    ... def forecast(city: str) -> str:
    ...     return f"sunny in {city}"
    >>> registry.get("forecast").spec.ttl_seconds
    60
    >>> registry.get("forecast").func(city="Oslo")
    'sunny in Oslo'
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from agent_runtime.config.models import AgentSpec, ToolSpec
from agent_runtime.errors import ConfigError, UnknownToolError

ToolFunc = Callable[..., Any]
F = TypeVar("F", bound=ToolFunc)


@dataclass(frozen=True)
class RegisteredTool:
    """A tool's settings and the callable that does the work (called with keyword args)."""

    spec: ToolSpec
    func: ToolFunc


class ToolRegistry:
    """Name → tool. Config files give settings; Python code gives callables."""

    def __init__(self) -> None:
        self._tools: dict[str, RegisteredTool] = {}

    def register(self, spec: ToolSpec, func: ToolFunc, *, replace_existing: bool = False) -> None:
        """Register ``func`` under ``spec.name``; refuses duplicates unless asked."""
        if not spec.name:
            raise ConfigError("tools", "a tool needs a non-empty name")
        if spec.name in self._tools and not replace_existing:
            raise ConfigError(f"tools.{spec.name}", "registered twice; pass replace_existing=True")
        self._tools[spec.name] = RegisteredTool(spec, func)

    def tool(self, name: str | None = None, **settings: Any) -> Callable[[F], F]:
        """Decorator form of ``register``; keyword settings are ``ToolSpec`` fields."""

        def decorate(func: F) -> F:
            tool_name = name or func.__name__
            try:
                spec = ToolSpec(name=tool_name, description=(func.__doc__ or "").strip(), **settings)
            except TypeError as exc:
                raise ConfigError(f"tools.{tool_name}", f"unknown setting: {exc}") from None
            self.register(spec, func)
            return func

        return decorate

    def configure(self, spec: ToolSpec) -> None:
        """Replace the settings of an already registered tool (keeps its callable)."""
        current = self._tools.get(spec.name)
        if current is None:
            raise UnknownToolError(f"no tool named {spec.name!r} is registered")
        self._tools[spec.name] = replace(current, spec=spec)

    def get(self, name: str) -> RegisteredTool:
        """The tool called ``name``; raises ``UnknownToolError`` naming the known tools."""
        try:
            return self._tools[name]
        except KeyError:
            known = ", ".join(sorted(self._tools)) or "none"
            raise UnknownToolError(f"no tool named {name!r}; registered tools: {known}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[RegisteredTool]:
        return iter(self._tools.values())

    def names(self) -> tuple[str, ...]:
        """Registered tool names, sorted."""
        return tuple(sorted(self._tools))


class AgentRegistry:
    """Name → agent specification, for agents defined in Python."""

    def __init__(self) -> None:
        self._agents: dict[str, AgentSpec] = {}

    def register(self, spec: AgentSpec) -> None:
        """Add or replace an agent."""
        if not spec.name:
            raise ConfigError("agents", "an agent needs a non-empty name")
        self._agents[spec.name] = spec

    def get(self, name: str) -> AgentSpec | None:
        """The agent called ``name``, or None."""
        return self._agents.get(name)

    def __iter__(self) -> Iterator[AgentSpec]:
        return iter(self._agents.values())

    def names(self) -> tuple[str, ...]:
        """Registered agent names, sorted."""
        return tuple(sorted(self._agents))
