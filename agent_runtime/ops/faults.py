"""Fault injection for drills and end-to-end tests (an admin feature, off by default).

A ``FaultInjector`` wraps every registered tool function through the
runtime's own interface (``Runtime.wrap_tools``; it flushes through
``Runtime.invalidate`` and reads the tools' settings from
``Runtime.tool_specs``), so neither the registry nor the pipeline is
reached into. A bare ``ToolRegistry`` works too (drills on a registry
without a runtime, and the example below).

Fault kinds (``KINDS``): ``latency`` (wait ``seconds`` first; clearing the
fault, or closing the injector, wakes the calls waiting at once, so a cleared
fault never holds a worker's shutdown), ``error`` (raise
``RetryableToolError`` with probability ``rate``), ``hang``
(block past the tool's timeout until cleared), ``dependency_down`` (a
connection error from every tool carrying the cache tag ``dependency``, e.g.
``prometheus`` → ``promql_query``) and ``cache_flush`` (invalidate the tool
cache once, or every ``every_seconds`` while active). A fault may carry a
duration after which it clears itself; ``status()`` lists active faults and
``clear()`` removes one or all. What a fault is (``KINDS``, ``FaultRequest``,
``Fault``) and where the active ones are kept (this process, or a JSON file
that processes share) is in ``agent_runtime.ops.fault_store``.

A call of a tool with no fault costs one dict lookup more. Gunicorn workers
sharing a ``state_path`` see a fault injected through any of them within
``tick_seconds``.

Example::

    >>> from agent_runtime.registry import ToolRegistry
    >>> tools = ToolRegistry()
    >>> @tools.tool()
    ... def echo(text: str) -> str:
    ...     return text
    >>> injector = FaultInjector(tools, tick_seconds=0)
    >>> injector.inject(FaultRequest(kind="latency", tools=("echo",), seconds=0.01)).kind
    'latency'
    >>> injector.clear()
    1
    >>> tools.get("echo").func(text="hi")
    'hi'
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from agent_runtime.config.models import ToolSpec
from agent_runtime.errors import RetryableToolError
from agent_runtime.ops.fault_store import KINDS, Fault, FaultError, FaultRequest, FileFaultStore, MemoryFaultStore
from agent_runtime.registry import ToolFunc, ToolRegistry

__all__ = ["FaultInjector", "FaultSettings", "FaultTarget"]

logger = logging.getLogger(__name__)

# A hung call sleeps this much past its tool's timeout, so the pipeline always times it out first.
DEFAULT_HANG_MARGIN_SECONDS: Final = 1.0
MAX_ACTIVE_FAULTS: Final = 64
_WRAPPED_MARK: Final = "__agent_runtime_fault_wrapper__"
ENABLE_ENV: Final = "AGENT_RUNTIME_FAULTS"
STATE_ENV: Final = "AGENT_RUNTIME_FAULTS_STATE"
_TRUE: Final = frozenset({"1", "true", "yes", "on"})


@dataclass(frozen=True)
class FaultSettings:
    """Whether fault injection is on, and where worker processes share faults.

    ``from_env`` reads ``AGENT_RUNTIME_FAULTS`` (1/true/yes/on enables it) and
    ``AGENT_RUNTIME_FAULTS_STATE`` (a JSON file path; unset: per process).
    """

    enabled: bool = False
    state_path: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> FaultSettings:
        """Settings from the environment (``os.environ`` by default)."""
        env = os.environ if environ is None else environ
        enabled = (env.get(ENABLE_ENV) or "").strip().lower() in _TRUE
        return cls(enabled=enabled, state_path=(env.get(STATE_ENV) or "").strip() or None)


@dataclass(frozen=True)
class _Effect:
    """What the active faults do to one tool, combined (rebuilt on every change)."""

    # (seconds, released when that latency fault clears) per active latency fault, oldest first.
    latency: tuple[tuple[float, threading.Event], ...] = ()
    error_rate: float = 0.0
    error_id: str = ""
    hang_release: threading.Event | None = None
    down_message: str | None = None


class FaultTarget(Protocol):
    """What the injector needs of a runtime: the three methods ``Runtime`` offers for it."""

    def wrap_tools(self, wrapper: Callable[[str, ToolFunc], ToolFunc]) -> list[str]:
        """Replace each tool's callable with ``wrapper(name, func)``; the names whose callable changed."""
        ...

    def invalidate(self, tool: str | None = None, tag: str | None = None) -> int:
        """Flush cached results of ``tool`` (or ``tag``, or everything)."""
        ...

    def tool_specs(self) -> tuple[ToolSpec, ...]:
        """The settings of every registered tool."""
        ...


class _RegistryTarget:
    """A bare ``ToolRegistry`` as a ``FaultTarget`` (no cache: ``invalidate`` flushes nothing)."""

    def __init__(self, tools: ToolRegistry) -> None:
        self._tools = tools

    def wrap_tools(self, wrapper: Callable[[str, ToolFunc], ToolFunc]) -> list[str]:
        return self._tools.wrap(wrapper)

    def invalidate(self, tool: str | None = None, tag: str | None = None) -> int:
        return 0

    def tool_specs(self) -> tuple[ToolSpec, ...]:
        return tuple(self._tools.get(name).spec for name in self._tools.names())


class FaultInjector:
    """Injects faults into the tools of a runtime (a ``FaultTarget``) or of a bare ``ToolRegistry``.

    ``invalidate(tool)`` flushes one tool's cache (``cache_flush``; default:
    the target's ``invalidate``, which for a bare registry flushes nothing);
    ``state_path`` shares faults between processes through a JSON file;
    ``clock`` is wall-clock seconds (faults expire by it, across processes);
    ``tick_seconds`` is how often a background thread expires faults, picks
    up other processes' changes and repeats flushes (0: no thread; call
    ``refresh()`` yourself).
    """

    def __init__(
        self,
        target: FaultTarget | ToolRegistry,
        *,
        invalidate: Callable[[str], object] | None = None,
        state_path: str | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        tick_seconds: float = 0.2,
        hang_margin_seconds: float = DEFAULT_HANG_MARGIN_SECONDS,
    ) -> None:
        self._target: FaultTarget = _RegistryTarget(target) if isinstance(target, ToolRegistry) else target
        if invalidate is None and not isinstance(target, ToolRegistry):
            runtime = target
            invalidate = lambda tool: runtime.invalidate(tool=tool)  # noqa: E731 - a one-line adapter
        self._invalidate = invalidate
        self._store: MemoryFaultStore | FileFaultStore = (
            FileFaultStore(state_path) if state_path else MemoryFaultStore()
        )
        self._clock = clock
        self._rng = rng or random.Random()
        self._tick = tick_seconds
        self._hang_margin = hang_margin_seconds
        self._lock = threading.Lock()
        self._faults: dict[str, Fault] = {}
        # Read on every tool call: replaced whole, never mutated, so no lock is needed to read it.
        self._effects: dict[str, _Effect] = {}
        # One event per active latency or hang fault: set when the fault clears, waking the calls it holds.
        self._release_events: dict[str, threading.Event] = {}
        self._flushed_at: dict[str, float] = {}
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self.install()
        self._start_ticker()
        ref = weakref.ref(self)
        # gunicorn may fork after the app is built: the child needs its own ticker thread.
        os.register_at_fork(after_in_child=lambda: _restart_after_fork(ref))

    @classmethod
    def for_runtime(cls, runtime: FaultTarget, settings: FaultSettings | None = None) -> FaultInjector:
        """An injector over ``runtime``'s tools (``wrap_tools``) that flushes through ``runtime.invalidate``."""
        settings = settings or FaultSettings.from_env()
        return cls(runtime, state_path=settings.state_path)

    def install(self) -> list[str]:
        """Wrap every registered tool not wrapped yet (tools registered since, too); the names wrapped now."""
        return self._target.wrap_tools(self._wrap_once)

    def dependencies(self) -> dict[str, list[str]]:
        """Dependency name (a cache tag) → the tools that use it."""
        found: dict[str, list[str]] = {}
        for spec in self._target.tool_specs():
            for tag in spec.cache_tags:
                found.setdefault(tag, []).append(spec.name)
        return {tag: sorted(names) for tag, names in sorted(found.items())}

    def inject(self, request: FaultRequest) -> Fault:
        """Start a fault; raises ``FaultError`` naming what is wrong with ``request``."""
        self.install()
        tools = self._resolve_tools(request)
        now = self._clock()
        fault = Fault(
            id=f"{request.kind}-{uuid.uuid4().hex[:8]}",
            kind=request.kind,
            tools=tools,
            seconds=request.seconds,
            rate=request.rate,
            dependency=request.dependency,
            every_seconds=request.every_seconds,
            started_at=now,
            expires_at=None if request.duration_seconds is None else now + request.duration_seconds,
        )

        def add(faults: dict[str, Fault]) -> None:
            active = [f for f in faults.values() if not f.expired(now)]
            if len(active) >= MAX_ACTIVE_FAULTS:
                raise FaultError(f"{MAX_ACTIVE_FAULTS} faults are active already; clear some first")
            faults[fault.id] = fault

        self._store.update(add, now)
        self.refresh()
        logger.warning("fault injected: %s on %s", fault.id, ", ".join(fault.tools))
        return fault

    def clear(self, fault_id: str | None = None) -> int:
        """Clear one fault (by id) or, with no id, all of them; how many were cleared."""
        now = self._clock()
        cleared = 0

        def remove(faults: dict[str, Fault]) -> None:
            nonlocal cleared
            ids = list(faults) if fault_id is None else [fault_id] if fault_id in faults else []
            for key in ids:
                if not faults.pop(key).expired(now):
                    cleared += 1

        self._store.update(remove, now)
        self.refresh()
        if cleared:
            logger.warning("faults cleared: %s", fault_id or "all")
        return cleared

    def active(self) -> list[Fault]:
        """The active faults, oldest first."""
        self.refresh()
        with self._lock:
            return sorted(self._faults.values(), key=lambda f: (f.started_at, f.id))

    def status(self) -> dict[str, Any]:
        """Active faults (with seconds remaining), the fault kinds and the dependencies (JSON-ready)."""
        now = self._clock()
        return {
            "enabled": True,
            "faults": [fault.to_dict(now) for fault in self.active()],
            "kinds": dict(KINDS),
            "dependencies": self.dependencies(),
        }

    def refresh(self) -> None:
        """Expire faults, pick up changes from other processes and run due cache flushes."""
        now = self._clock()
        faults = {key: f for key, f in self._store.load().items() if not f.expired(now)}
        with self._lock:
            for gone in set(self._release_events) - set(faults):
                self._release_events.pop(gone).set()  # wakes calls slowed or hung by a cleared fault
            self._faults = faults
            self._effects = self._combine(faults)
            due = [f for f in faults.values() if f.kind == "cache_flush" and self._flush_due(f, now)]
            for fault in due:
                self._flushed_at[fault.id] = now
            for gone in set(self._flushed_at) - set(faults):
                del self._flushed_at[gone]
        for fault in due:
            self._flush(fault)

    def close(self) -> None:
        """Stop the background thread and release slowed and hung calls. Wrapped tools stay wrapped."""
        self._stop.set()
        with self._lock:
            for event in self._release_events.values():
                event.set()
        if self._ticker is not None and self._ticker is not threading.current_thread():
            self._ticker.join(timeout=2)

    def _resolve_tools(self, request: FaultRequest) -> tuple[str, ...]:
        known = tuple(sorted(spec.name for spec in self._target.tool_specs()))
        if request.kind == "dependency_down" and not request.tools:
            users = self.dependencies().get(request.dependency or "", [])
            if not users:
                raise FaultError(
                    f"no tool depends on {request.dependency!r}; dependencies: {', '.join(self.dependencies())}"
                )
            return tuple(users)
        if request.tools == ("*",) or (request.kind == "cache_flush" and not request.tools):
            return known
        if not request.tools:
            raise FaultError(f'name the tools to fault in "tools" (or "*"); registered tools: {", ".join(known)}')
        unknown = [name for name in request.tools if name not in known]
        if "*" in unknown:
            raise FaultError('"*" (every tool) must be the only name in "tools"; send ["*"] or name the tools')
        if unknown:
            raise FaultError(f"unknown tool {unknown[0]!r}; registered tools: {', '.join(known)}")
        return tuple(sorted(set(request.tools)))

    def _combine(self, faults: Mapping[str, Fault]) -> dict[str, _Effect]:
        """Fold the active faults into one effect per tool (called with the lock held)."""
        fields: dict[str, dict[str, Any]] = {}
        for fault in sorted(faults.values(), key=lambda f: f.started_at):
            for tool in fault.tools:
                effect = fields.setdefault(tool, {})
                if fault.kind == "latency":
                    release = self._release_events.setdefault(fault.id, threading.Event())
                    effect["latency"] = (*effect.get("latency", ()), (fault.seconds, release))
                elif fault.kind == "error" and fault.rate >= effect.get("error_rate", 0.0):
                    effect["error_rate"], effect["error_id"] = fault.rate, fault.id
                elif fault.kind == "hang":
                    effect["hang_release"] = self._release_events.setdefault(fault.id, threading.Event())
                elif fault.kind == "dependency_down":
                    effect["down_message"] = (
                        f"cannot connect to {fault.dependency or tool}: [Errno 111] Connection refused "
                        f"(injected fault {fault.id})"
                    )
        return {tool: _Effect(**values) for tool, values in fields.items() if values}

    def _flush_due(self, fault: Fault, now: float) -> bool:
        last = self._flushed_at.get(fault.id)
        return last is None or (fault.every_seconds is not None and now - last >= fault.every_seconds)

    def _flush(self, fault: Fault) -> None:
        if self._invalidate is None:
            return
        for tool in fault.tools:
            try:
                self._invalidate(tool)
            except Exception:  # a flush is best effort; the fault stays listed
                logger.exception("fault %s: flushing the cache of %s failed", fault.id, tool)

    def _wrap_once(self, name: str, func: ToolFunc) -> ToolFunc:
        """The wrapper ``wrap_tools`` applies: a tool already wrapped is returned as it is."""
        return func if getattr(func, _WRAPPED_MARK, False) else self._wrap(name, func)

    def _timeout_of(self, name: str) -> float:
        for spec in self._target.tool_specs():
            if spec.name == name:
                return spec.timeout_seconds
        return ToolSpec(name=name).timeout_seconds

    def _wrap(self, name: str, func: ToolFunc) -> ToolFunc:
        effects = self  # read self._effects through the instance: it is replaced on every change

        def with_faults(**kwargs: Any) -> Any:
            effect = effects._effects.get(name)
            if effect is None:
                return func(**kwargs)
            return effects._apply(name, effect, func, kwargs)

        # Not functools.wraps: tools may be callable objects whose __dict__ must not be copied.
        with_faults.__doc__ = func.__doc__
        with_faults.__wrapped__ = func  # type: ignore[attr-defined]
        setattr(with_faults, _WRAPPED_MARK, True)
        return with_faults

    def _apply(self, name: str, effect: _Effect, func: ToolFunc, kwargs: dict[str, Any]) -> Any:
        if effect.down_message is not None:
            raise RetryableToolError(effect.down_message)
        # Each latency fault's delay is a wait on its release event, so clearing it (or closing
        # the injector on shutdown) wakes the call at once instead of leaving the thread asleep.
        for seconds, release in effect.latency:
            release.wait(seconds)
        if effect.hang_release is not None:
            timeout = self._timeout_of(name)
            if not effect.hang_release.wait(timeout + self._hang_margin):
                raise RetryableToolError(f"{name} hung for {timeout + self._hang_margin:g}s (injected fault)")
        if effect.error_rate > 0 and self._rng.random() < effect.error_rate:
            raise RetryableToolError(f"injected fault {effect.error_id}: {name} failed")
        return func(**kwargs)

    def _after_fork(self) -> None:
        # Another thread may have held the lock at fork time; the child's copy would stay locked.
        self._lock = threading.Lock()
        if self._ticker is not None and not self._stop.is_set():
            self._start_ticker()

    def _start_ticker(self) -> None:
        if self._tick <= 0:
            return
        self._stop.clear()
        self._ticker = threading.Thread(target=self._run_ticker, name="fault-injector", daemon=True)
        self._ticker.start()

    def _run_ticker(self) -> None:
        while not self._stop.wait(self._next_tick()):
            try:
                self.refresh()
            except Exception:  # keep ticking: a bad state file must not end fault expiry
                logger.exception("fault injector refresh failed")

    def _next_tick(self) -> float:
        with self._lock:
            periods = [f.every_seconds for f in self._faults.values() if f.every_seconds is not None]
        return min([self._tick, *periods])


def _restart_after_fork(ref: weakref.ref[FaultInjector]) -> None:
    injector = ref()
    if injector is not None:
        injector._after_fork()
