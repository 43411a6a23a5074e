"""A process-wide TracerProvider that forwards to whichever SDK provider is active.

The OpenTelemetry API lets a process set its global ``TracerProvider`` only
once. That is fine for a long-running server, but not for gunicorn workers
(each worker needs its own export thread after ``fork``), for a handle that
shuts tracing down and later configures it again, or for tests that run
several tracing scenarios in one process. So ``exporters`` installs this
switch as the global provider once and swaps SDK providers behind it.

While no SDK provider is active the switch hands out the API's no-op tracers.
Tracers it returns follow later switches too, so code that caches a tracer
keeps working.

Example::

    >>> from opentelemetry.sdk.trace import TracerProvider
    >>> switch = install()
    >>> provider = TracerProvider()
    >>> activate(provider)
    >>> active() is provider
    True
    >>> deactivate(provider)
    >>> active() is None
    True
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.util import types

_log = logging.getLogger(__name__)
_NOOP = trace.NoOpTracerProvider()


class RootDecider(Protocol):
    """Answers root spans its sampler drops without the SDK (``exporters.root_sampling.RootSampling``)."""

    def start(self, context: Context | None) -> trace.Span | None:
        """The dropped root span, or None when the provider's tracer must start the span."""


_State = tuple[int, trace.TracerProvider, RootDecider | None]


class _SwitchTracer(trace.Tracer):
    """A tracer that resolves the active provider's tracer on use (cached per switch)."""

    def __init__(self, switch: SwitchableTracerProvider, args: tuple[Any, ...]) -> None:
        self._switch = switch
        self._args = args
        # (generation, tracer, roots) as one tuple so readers on other threads never
        # see a tracer from one generation paired with another's number.
        self._resolved: tuple[int, trace.Tracer, RootDecider | None] = (-1, trace.NoOpTracer(), None)

    def _resolve(self) -> tuple[int, trace.Tracer, RootDecider | None]:
        generation, provider, roots = self._switch.state
        resolved = self._resolved
        if resolved[0] != generation:
            resolved = (generation, provider.get_tracer(*self._args), roots)
            self._resolved = resolved
        return resolved

    def start_span(  # noqa: PLR0917 - the API's Tracer.start_span signature
        self,
        name: str,
        context: Context | None = None,
        kind: trace.SpanKind = trace.SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[trace.Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace.Span:
        _, tracer, roots = self._resolve()
        if roots is not None and not links:
            span = roots.start(context)
            if span is not None:
                return span
        return tracer.start_span(
            name,
            context,
            kind,
            attributes,
            links,
            start_time,
            record_exception=record_exception,
            set_status_on_exception=set_status_on_exception,
        )

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        return self._resolve()[1].start_as_current_span(*args, **kwargs)


class SwitchableTracerProvider(trace.TracerProvider):
    """Forwards ``get_tracer`` to the active SDK provider, or to no-op."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: _State = (0, _NOOP, None)
        self._tracers: dict[tuple[Any, ...], _SwitchTracer] = {}

    @property
    def state(self) -> _State:
        """(generation, provider, root decider): the generation changes on every switch."""
        return self._state

    @property
    def active(self) -> trace.TracerProvider | None:
        """The active SDK provider, or None while tracing is off."""
        provider = self._state[1]
        return None if provider is _NOOP else provider

    def switch_to(self, provider: trace.TracerProvider | None, roots: RootDecider | None = None) -> None:
        """Make ``provider`` (None: no-op) the one every tracer forwards to; ``roots`` answers its dropped roots."""
        with self._lock:
            if provider is None:
                self._state = (self._state[0] + 1, _NOOP, None)
            else:
                self._state = (self._state[0] + 1, provider, roots)

    def reset_after_fork(self) -> None:
        """Back to no-op with a fresh lock (the old one may be held by a thread that did not fork)."""
        self._lock = threading.Lock()
        self._state = (self._state[0] + 1, _NOOP, None)

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: types.Attributes = None,
    ) -> trace.Tracer:
        args = (instrumenting_module_name, instrumenting_library_version, schema_url, attributes)
        if attributes:
            # Attribute mappings are not hashable: such tracers are not shared.
            return _SwitchTracer(self, args)
        key = args[:3]
        tracer = self._tracers.get(key)
        if tracer is None:
            with self._lock:
                tracer = self._tracers.setdefault(key, _SwitchTracer(self, args))
        return tracer


_install_lock = threading.Lock()
_switch: SwitchableTracerProvider | None = None


def install() -> SwitchableTracerProvider | None:
    """Install the switch as the global provider (once); None if another provider owns it."""
    global _switch  # noqa: PLW0603 - one switch per process, like the API's own global
    with _install_lock:
        if _switch is None:
            candidate = SwitchableTracerProvider()
            trace.set_tracer_provider(candidate)
            if trace.get_tracer_provider() is not candidate:
                _log.warning(
                    "a global TracerProvider was installed by other code; agent_runtime traces are not exported"
                )
                return None
            _switch = candidate
        return _switch


def activate(provider: trace.TracerProvider, roots: RootDecider | None = None) -> None:
    """Route every tracer to ``provider``; raises if the global provider is someone else's.

    ``roots`` (``exporters.root_sampling.RootSampling.of(provider)``) answers the root spans
    ``provider``'s sampler drops, without its span machinery.
    """
    switch = install()
    if switch is None:
        raise RuntimeError("the global TracerProvider is not the exporters switch")
    switch.switch_to(provider, roots)


def deactivate(provider: trace.TracerProvider) -> None:
    """Back to no-op tracing, if ``provider`` is still the active one."""
    if _switch is not None and _switch.active is provider:
        _switch.switch_to(None)


def active() -> trace.TracerProvider | None:
    """The SDK provider tracers currently forward to, if any."""
    return _switch.active if _switch is not None else None


def reset_after_fork() -> None:
    """In a forked child: no-op tracing, without touching locks a parent thread may have held."""
    global _install_lock  # noqa: PLW0603 - per-process state
    _install_lock = threading.Lock()
    if _switch is not None:
        _switch.reset_after_fork()


@contextmanager
def using(provider: trace.TracerProvider) -> Iterator[trace.TracerProvider]:
    """Activate ``provider`` for the duration of a ``with`` block (tests)."""
    previous = active()
    activate(provider)
    try:
        yield provider
    finally:
        deactivate(provider)
        if previous is not None:
            activate(previous)
