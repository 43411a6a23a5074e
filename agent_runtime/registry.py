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

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from agent_runtime.config.models import AgentSpec, Specialty, ToolSpec
from agent_runtime.errors import ConfigError, UnknownToolError
from agent_runtime.vocabulary import AgentKind, CacheName

ToolFunc = Callable[..., Any]
F = TypeVar("F", bound=ToolFunc)


@dataclass(frozen=True)
class RegisteredTool:
    """A tool's settings and the callable that does the work (called with keyword args).

    The optional hooks are for tools that are more than a function call:
    ``cache_name`` counts its cache look-ups under another cache (``llm``
    for model calls); ``bypass_cache(args)`` keeps one call out of the cache
    (a model call with temperature > 0); ``cost_of(result)`` is the dollars a
    result cost, which a cache hit on it saves; ``parameters`` is the JSON
    schema of its arguments shown to models (derived from the signature when
    None).
    """

    spec: ToolSpec
    func: ToolFunc
    cache_name: str = CacheName.TOOL
    bypass_cache: Callable[[Mapping[str, Any]], bool] | None = None
    cost_of: Callable[[Any], float] | None = None
    parameters: Mapping[str, Any] | None = None


class ToolRegistry:
    """Name → tool. Config files give settings; Python code gives callables."""

    def __init__(self) -> None:
        self._tools: dict[str, RegisteredTool] = {}

    def register(
        self, spec: ToolSpec | RegisteredTool, func: ToolFunc | None = None, *, replace_existing: bool = False
    ) -> None:
        """Register ``func`` under ``spec.name`` (or a ready ``RegisteredTool``); refuses duplicates unless asked."""
        if isinstance(spec, RegisteredTool):
            tool = spec
        elif func is None:
            raise ConfigError(f"tools.{spec.name}", "register needs the tool's callable")
        else:
            tool = RegisteredTool(spec, func)
        name = tool.spec.name
        if not name:
            raise ConfigError("tools", "a tool needs a non-empty name")
        if name in self._tools and not replace_existing:
            raise ConfigError(f"tools.{name}", "registered twice; pass replace_existing=True")
        self._tools[name] = tool

    def wrap(self, wrapper: Callable[[str, ToolFunc], ToolFunc]) -> list[str]:
        """Replace each tool's callable with ``wrapper(name, func)``; the names whose callable changed.

        The tool's settings and hooks (cache name, cost, parameters) stay as they were.
        """
        wrapped: list[str] = []
        for registered in list(self._tools.values()):
            name = registered.spec.name
            func = wrapper(name, registered.func)
            if func is not registered.func:
                self._tools[name] = replace(registered, func=func)
                wrapped.append(name)
        return wrapped

    def copy(self) -> ToolRegistry:
        """A new registry with the same tools; configuring it leaves this one as it is."""
        clone = ToolRegistry()
        clone._tools = dict(self._tools)
        return clone

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


AgentFunc = Callable[..., Any]


class AgentRegistry:
    """Python agents: name → (routing spec, function), registered with ``@agents.agent(...)``.

    The function is called as ``func(task, ctx)`` with the ``Task`` and an
    ``AgentContext`` (``agent_runtime.agents.python_agent``) and returns the
    answer. A YAML agent with ``kind: python`` and the same name takes its
    routing settings from the file and its function from here.
    """

    def __init__(self) -> None:
        self._agents: dict[str, tuple[AgentSpec, AgentFunc]] = {}

    def agent(
        self,
        name: str | None = None,
        *,
        tools: Iterable[str] = (),
        keywords: Iterable[str] | Mapping[str, float] = (),
        domain: str | None = None,
        description: str | None = None,
        base_confidence: float = 0.5,
    ) -> Callable[[F], F]:
        """Decorator: register ``func`` as a Python agent that may call ``tools``.

        ``keywords`` (a list, or word → weight) make one routing specialty
        in ``domain`` (default: the agent's name).
        """

        def decorate(func: F) -> F:
            agent_name = name or func.__name__
            weights = dict(keywords) if isinstance(keywords, Mapping) else dict.fromkeys(keywords, 1.0)
            specialties = (Specialty(domain or agent_name, weights),) if weights else ()
            spec = AgentSpec(
                name=agent_name,
                description=description if description is not None else " ".join((func.__doc__ or "").split()),
                specialties=specialties,
                tools=tuple(tools),
                base_confidence=base_confidence,
                kind=AgentKind.PYTHON,
            )
            self.register(spec, func)
            return func

        return decorate

    def register(self, spec: AgentSpec, func: AgentFunc) -> None:
        """Add or replace the Python agent ``spec.name``."""
        if not spec.name:
            raise ConfigError("agents", "an agent needs a non-empty name")
        self._agents[spec.name] = (replace(spec, kind=AgentKind.PYTHON), func)

    def function(self, name: str) -> AgentFunc:
        """The function of Python agent ``name``; ``ConfigError`` when none is registered."""
        try:
            return self._agents[name][1]
        except KeyError:
            raise ConfigError(
                f"agents.{name}", "kind: python, but no function is registered under this name"
            ) from None

    def specs(self) -> tuple[AgentSpec, ...]:
        """The routing specs of every registered Python agent."""
        return tuple(spec for spec, _ in self._agents.values())

    def __contains__(self, name: object) -> bool:
        return name in self._agents

    def names(self) -> tuple[str, ...]:
        """Registered agent names, sorted."""
        return tuple(sorted(self._agents))
