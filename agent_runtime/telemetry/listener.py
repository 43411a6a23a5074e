"""Runtime events and the listeners that turn them into telemetry.

The engine never talks to Prometheus directly: each component reports what
happened to a ``RuntimeListener``. Metrics, span events and tests are
listeners. The base class ignores every event, so a listener overrides only
what it needs, and ``ListenerSet`` fans one event out to several listeners.

Example::

    >>> class Count(RuntimeListener):
    ...     def __init__(self) -> None:
    ...         self.tasks = 0
    ...     def task_finished(self, agent: str, outcome: str, seconds: float) -> None:
    ...         self.tasks += 1
    >>> counter = Count()
    >>> counter.task_finished("writer", "success", 0.1)
    >>> counter.tasks
    1
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class ModelCall:
    """One finished GenAI client call, as the listeners see it.

    ``error_type`` is a ``vocabulary.ModelError`` value for a failed call and
    empty for a successful one; failed calls are reported too, so error
    rates and latency include them. Costs are in dollars, from the
    configured price table (0 when the model has no price).
    """

    operation: str
    provider: str
    model: str
    seconds: float
    input_tokens: int = 0
    output_tokens: int = 0
    input_cost: float = 0.0
    output_cost: float = 0.0
    error_type: str = ""


class RuntimeListener:
    """Receives runtime events. Every method is a no-op unless overridden.

    Listeners are called on the hot path and from worker threads: keep them
    cheap and thread-safe, and never raise.
    """

    def task_started(self) -> None:
        """A task was admitted."""

    def task_finished(self, agent: str, outcome: str, seconds: float) -> None:
        """A task ended with ``outcome`` (success, error, timeout, rejected)."""

    def stage_timed(self, stage: str, seconds: float) -> None:
        """A pipeline stage (analyse, score, route, plan, ...) took ``seconds``."""

    def routing_decided(self, agent: str, source: str, confidence: float, fallback: bool = False) -> None:
        """The router chose ``agent`` from ``source`` (cache, similar, scored, fallback).

        ``fallback`` is True when the decision went to the fallback chain,
        also when it was served from the decision cache.
        """

    def tool_called(self, tool: str, outcome: str, seconds: float) -> None:
        """A tool call ended with ``outcome`` after ``seconds`` in the pipeline."""

    def tool_retried(self, tool: str) -> None:
        """A retryable failure of ``tool`` is being retried."""

    def cache_looked_up(self, cache: str, layer: str, hit: bool) -> None:
        """A look-up in ``cache`` (tool, decision, analysis, llm) at ``layer``."""

    def cache_saved(self, cache: str, seconds: float, dollars: float = 0.0) -> None:
        """A cache hit avoided ``seconds`` of work and ``dollars`` of model cost."""

    def breaker_changed(self, breaker: str, state: str) -> None:
        """A circuit breaker entered ``state`` (closed, half_open, open)."""

    def llm_called(self, call: ModelCall) -> None:
        """A GenAI client call finished, successfully or not (OpenTelemetry GenAI conventions)."""

    def agents_configured(self, kinds: Mapping[str, str]) -> None:
        """The configured agents and their kinds (at start and on every reload)."""

    def agent_finished(self, agent: str, kind: str, reason: str, model_calls: int, tool_calls: int) -> None:
        """An agent run ended with stop ``reason`` after ``model_calls`` turns and ``tool_calls`` tool calls."""

    def invalid_action(self, agent: str, kind: str) -> None:
        """A model's output for ``agent`` was unusable (``kind``: invalid_json, unknown_tool, ...)."""

    def cache_layer_changed(self, cache: str, layer: str, up: bool) -> None:
        """A cache layer went down (degraded) or came back up."""


class ListenerSet(RuntimeListener):
    """Fans every event out to a fixed list of listeners."""

    def __init__(self, listeners: Iterable[RuntimeListener] = ()) -> None:
        self._listeners = tuple(listeners)

    @property
    def listeners(self) -> tuple[RuntimeListener, ...]:
        """The listeners, in call order."""
        return self._listeners

    def task_started(self) -> None:
        for listener in self._listeners:
            listener.task_started()

    def task_finished(self, agent: str, outcome: str, seconds: float) -> None:
        for listener in self._listeners:
            listener.task_finished(agent, outcome, seconds)

    def stage_timed(self, stage: str, seconds: float) -> None:
        for listener in self._listeners:
            listener.stage_timed(stage, seconds)

    def routing_decided(self, agent: str, source: str, confidence: float, fallback: bool = False) -> None:
        for listener in self._listeners:
            listener.routing_decided(agent, source, confidence, fallback)

    def tool_called(self, tool: str, outcome: str, seconds: float) -> None:
        for listener in self._listeners:
            listener.tool_called(tool, outcome, seconds)

    def tool_retried(self, tool: str) -> None:
        for listener in self._listeners:
            listener.tool_retried(tool)

    def cache_looked_up(self, cache: str, layer: str, hit: bool) -> None:
        for listener in self._listeners:
            listener.cache_looked_up(cache, layer, hit)

    def cache_saved(self, cache: str, seconds: float, dollars: float = 0.0) -> None:
        for listener in self._listeners:
            listener.cache_saved(cache, seconds, dollars)

    def breaker_changed(self, breaker: str, state: str) -> None:
        for listener in self._listeners:
            listener.breaker_changed(breaker, state)

    def llm_called(self, call: ModelCall) -> None:
        for listener in self._listeners:
            listener.llm_called(call)

    def agents_configured(self, kinds: Mapping[str, str]) -> None:
        for listener in self._listeners:
            listener.agents_configured(kinds)

    def agent_finished(self, agent: str, kind: str, reason: str, model_calls: int, tool_calls: int) -> None:
        for listener in self._listeners:
            listener.agent_finished(agent, kind, reason, model_calls, tool_calls)

    def invalid_action(self, agent: str, kind: str) -> None:
        for listener in self._listeners:
            listener.invalid_action(agent, kind)

    def cache_layer_changed(self, cache: str, layer: str, up: bool) -> None:
        for listener in self._listeners:
            listener.cache_layer_changed(cache, layer, up)
