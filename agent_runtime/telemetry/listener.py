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

from collections.abc import Iterable


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

    def routing_decided(self, agent: str, source: str, confidence: float) -> None:
        """The router chose ``agent`` from ``source`` (cache, similar, scored, fallback)."""

    def tool_called(self, tool: str, outcome: str, seconds: float) -> None:
        """A tool call ended with ``outcome`` after ``seconds`` in the pipeline."""

    def tool_retried(self, tool: str) -> None:
        """A retryable failure of ``tool`` is being retried."""

    def cache_looked_up(self, cache: str, layer: str, hit: bool) -> None:
        """A look-up in ``cache`` (tool, decision, analysis, llm) at ``layer``."""

    def cache_saved(self, cache: str, seconds: float) -> None:
        """A cache hit avoided ``seconds`` of work."""

    def breaker_changed(self, breaker: str, state: str) -> None:
        """A circuit breaker entered ``state`` (closed, half_open, open)."""

    def llm_called(
        self,
        *,
        operation: str,
        provider: str,
        model: str,
        seconds: float,
        input_tokens: int,
        output_tokens: int,
    ) -> None:
        """A GenAI client call finished (OpenTelemetry GenAI conventions)."""


class ListenerSet(RuntimeListener):
    """Fans every event out to a fixed list of listeners."""

    def __init__(self, listeners: Iterable[RuntimeListener] = ()) -> None:
        self._listeners = tuple(listeners)

    @property
    def listeners(self) -> tuple[RuntimeListener, ...]:
        """The listeners, in call order."""
        return self._listeners

    def with_listener(self, listener: RuntimeListener) -> ListenerSet:
        """A new set with ``listener`` appended."""
        return ListenerSet((*self._listeners, listener))

    def task_started(self) -> None:
        for listener in self._listeners:
            listener.task_started()

    def task_finished(self, agent: str, outcome: str, seconds: float) -> None:
        for listener in self._listeners:
            listener.task_finished(agent, outcome, seconds)

    def stage_timed(self, stage: str, seconds: float) -> None:
        for listener in self._listeners:
            listener.stage_timed(stage, seconds)

    def routing_decided(self, agent: str, source: str, confidence: float) -> None:
        for listener in self._listeners:
            listener.routing_decided(agent, source, confidence)

    def tool_called(self, tool: str, outcome: str, seconds: float) -> None:
        for listener in self._listeners:
            listener.tool_called(tool, outcome, seconds)

    def tool_retried(self, tool: str) -> None:
        for listener in self._listeners:
            listener.tool_retried(tool)

    def cache_looked_up(self, cache: str, layer: str, hit: bool) -> None:
        for listener in self._listeners:
            listener.cache_looked_up(cache, layer, hit)

    def cache_saved(self, cache: str, seconds: float) -> None:
        for listener in self._listeners:
            listener.cache_saved(cache, seconds)

    def breaker_changed(self, breaker: str, state: str) -> None:
        for listener in self._listeners:
            listener.breaker_changed(breaker, state)

    def llm_called(
        self,
        *,
        operation: str,
        provider: str,
        model: str,
        seconds: float,
        input_tokens: int,
        output_tokens: int,
    ) -> None:
        for listener in self._listeners:
            listener.llm_called(
                operation=operation,
                provider=provider,
                model=model,
                seconds=seconds,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
            )
