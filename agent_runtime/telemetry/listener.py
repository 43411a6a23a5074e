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

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final


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

    def stages_timed(self, timings: Iterable[tuple[str, float]]) -> None:
        """A task's stages took these ``(stage, seconds)``: ``stage_timed`` for each, unless overridden.

        The runtime reports a task's stages in one event, so a listener can
        take them in one go (the metrics listener counts them under one lock).
        """
        for stage, seconds in timings:
            self.stage_timed(stage, seconds)

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


EVENTS: Final = tuple(
    name for name, value in vars(RuntimeListener).items() if callable(value) and not name.startswith("_")
)
"""Every event of the interface, by method name (a recorder that overrides them all can iterate it)."""


def _handles(listener: object, event: str) -> bool:
    """Whether ``listener`` does anything on ``event`` (the base class's no-op does not count)."""
    if not isinstance(listener, RuntimeListener):
        return True
    own = getattr(listener, "__dict__", {})
    # A listener that overrides only stage_timed still sees stages_timed (through the default).
    for name in ("stages_timed", "stage_timed") if event == "stages_timed" else (event,):
        if name in own:
            return own[name] is not _ignore  # set on the instance (a nested set's event nobody handles is not)
        if getattr(type(listener), name) is not getattr(RuntimeListener, name):
            return True
    return False


def _dispatch(handlers: list[Callable[..., None]]) -> Callable[..., None]:
    """One callable that calls every handler in order: none, the handler itself, two calls, or a loop."""
    if not handlers:
        return _ignore
    if len(handlers) == 1:
        return handlers[0]
    if len(handlers) == 2:
        # The usual pair (metrics and span events): two calls, no loop.
        first, second = handlers

        def both(*args: Any, **kwargs: Any) -> None:
            first(*args, **kwargs)
            second(*args, **kwargs)

        return both
    fixed = tuple(handlers)

    def fan_out(*args: Any, **kwargs: Any) -> None:
        for handler in fixed:
            handler(*args, **kwargs)

    return fan_out


def _ignore(*args: Any, **kwargs: Any) -> None:
    """An event no listener of the set handles."""


class ListenerSet(RuntimeListener):
    """Fans every event out to a fixed list of listeners.

    Each event is bound once, when the listeners are set, to the listeners
    that override it: an event one listener handles is a direct call to it,
    and one nobody handles costs nothing but the call (events run several
    times per task on the hot path, and most listeners handle few of them).
    A subclass's own event methods are left in place.
    """

    def __init__(self, listeners: Iterable[RuntimeListener] = ()) -> None:
        self._bind(listeners)

    @property
    def listeners(self) -> tuple[RuntimeListener, ...]:
        """The listeners, in call order."""
        return self._members

    def _bind(self, listeners: Iterable[RuntimeListener]) -> None:
        """Set the listeners and bind every event to those that handle it (again, when they change)."""
        self._members = tuple(listeners)
        for event in EVENTS:
            if getattr(type(self), event) is not getattr(ListenerSet, event):
                continue
            handlers = [getattr(listener, event) for listener in self._members if _handles(listener, event)]
            setattr(self, event, _dispatch(handlers))
