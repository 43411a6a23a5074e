"""What every request handler shares: the runtime and the settings.

``create_app`` stores one ``ServiceState`` in ``app.extensions``; blueprints
reach it through ``current_state()``. Handlers use the runtime only through
``ServiceRuntime``, the public operations of ``Runtime`` the service needs;
the in-flight count is the runtime's own (its admission), not a second one.
"""

from __future__ import annotations

from typing import Any, Final, Protocol

from flask import current_app
from opentelemetry import context as otel_context

from agent_runtime.config.models import RuntimeConfig, ToolSpec
from agent_runtime.profiler import BottleneckReport
from agent_runtime.results import Task, TaskResult
from agent_runtime.service.settings import ServiceSettings
from agent_runtime.telemetry.metrics import PrometheusListener

EXTENSION_KEY: Final = "agent_runtime"


class ServiceRuntime(Protocol):
    """The operations of ``Runtime`` the HTTP service uses, and nothing else."""

    @property
    def config(self) -> RuntimeConfig: ...

    @property
    def metrics(self) -> PrometheusListener | None: ...

    @property
    def in_flight(self) -> int: ...

    @property
    def in_flight_limit(self) -> int: ...

    def handle(self, task: Task | str, *, parent: otel_context.Context | None = None) -> TaskResult: ...

    def tool_specs(self) -> tuple[ToolSpec, ...]: ...

    def cache_tags(self) -> tuple[str, ...]: ...

    def invalidate(self, tool: str | None = None, tag: str | None = None) -> int: ...

    def warm(self, top_n: int | None = None) -> int: ...

    def reset_breaker(self, tool: str) -> dict[str, Any]: ...

    def breaker_snapshots(self) -> dict[str, dict[str, Any]]: ...

    def cache_stats(self) -> dict[str, Any]: ...

    def bottlenecks(self) -> BottleneckReport: ...


class ServiceState:
    """The runtime behind an app and its settings."""

    def __init__(self, runtime: ServiceRuntime, settings: ServiceSettings) -> None:
        self.runtime = runtime
        self.settings = settings
        self._agent_names: tuple[RuntimeConfig, frozenset[str]] | None = None

    def agent_names(self) -> frozenset[str]:
        """The configured agents' names, computed once per configuration (a reload swaps it)."""
        config = self.runtime.config
        known = self._agent_names
        if known is None or known[0] is not config:
            # One tuple, replaced whole: a thread reading it concurrently sees the old pair or the new one.
            known = (config, frozenset(agent.name for agent in config.agents))
            self._agent_names = known
        return known[1]

    @property
    def at_capacity(self) -> bool:
        """True when a new task would be refused by the runtime's in-flight limit."""
        return self.runtime.in_flight >= self.runtime.in_flight_limit


def current_state() -> ServiceState:
    """The ``ServiceState`` of the app handling the current request."""
    state = current_app.extensions[EXTENSION_KEY]
    assert isinstance(state, ServiceState)
    return state
