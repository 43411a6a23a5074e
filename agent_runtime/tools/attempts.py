"""One attempt of a tool call: inline, or on the worker pool within the tool's timeout and the task's deadline.

An attempt that outlives its timeout cannot be stopped (Python threads are
not killable): it is abandoned and keeps its worker until the tool returns.
A dependency that hangs would so take every worker of the shared pool, and
the healthy tools' calls would then queue, time out and open their breakers
too. Two bounds keep the pool for the tools that work (a bulkhead):

- one tool holds at most its share of the workers at once (three quarters
  of the pool), its attempts running or hanging;
- the tools with abandoned attempts together hold at most that share of
  abandoned ones, however many of them hang. A tool is known to hang by its
  first timeout: the attempts it started before that (at most its share)
  are not refused, so several tools starting to hang at the same moment can
  still fill the pool until their attempts return.

An attempt past either bound is not started. Refused for a tool whose
attempts hang, it is that tool's ``ToolTimeoutError``, which counts against
its breaker as the timeouts did, so the breaker opens; refused for a tool
that is only busy, a ``ToolBusyError``: retried after a back-off, never
against its breaker.

Example::

    >>> from agent_runtime.config.models import ToolSpec
    >>> from agent_runtime.registry import RegisteredTool
    >>> attempts = AttemptRunner(max_workers=4)
    >>> attempts.run(RegisteredTool(ToolSpec(name="add"), lambda a, b: a + b), {"a": 1, "b": 2}, deadline=None)
    3
    >>> attempts.close()
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from agent_runtime.errors import TaskDeadlineError, ToolBusyError, ToolError, ToolTimeoutError
from agent_runtime.registry import RegisteredTool

__all__ = ["AttemptRunner"]


class AttemptRunner:
    """Runs tool attempts on a bounded pool; see the module docstring for timeouts and the per-tool share."""

    def __init__(self, max_workers: int) -> None:
        self._max_workers = max_workers
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="tool-attempt")
        self._max_share = max(1, max_workers * 3 // 4)
        self._holding: dict[str, int] = {}
        self._abandoned: dict[str, int] = {}
        self._lock = threading.Lock()

    def holding(self, tool: str) -> int:
        """Workers ``tool``'s attempts hold now (queued, running, or abandoned at their timeout and still running)."""
        with self._lock:
            return self._holding.get(tool, 0)

    def abandoned(self, tool: str | None = None) -> int:
        """Attempts of ``tool`` (of every tool: None) abandoned at their timeout and still running."""
        with self._lock:
            return self._abandoned.get(tool, 0) if tool is not None else sum(self._abandoned.values())

    def run(self, registered: RegisteredTool, args: Mapping[str, Any], deadline: float | None) -> Any:
        """One attempt of ``registered`` with ``args``; raises what the tool raised, or why it was not let finish.

        Arguments the tool's function does not take are the caller's ``ToolError`` (never the dependency's
        failure, never retried).
        """
        try:
            return self._attempt(registered, args, deadline)
        except TypeError as exc:
            problem = _binding_problem(registered, args)
            if problem is None:
                raise  # raised inside the tool: its own failure
            raise ToolError(f"bad arguments for tool {registered.spec.name!r}: {problem}") from exc

    def close(self) -> None:
        """Stop the worker threads; attempts still running are abandoned, queued ones cancelled."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _attempt(self, registered: RegisteredTool, args: Mapping[str, Any], deadline: float | None) -> Any:
        name = registered.spec.name
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0.0:
            # Not even started (nor handed to the pool, where a worker might still start it after the
            # call was reported as not run).
            raise TaskDeadlineError(f"the task deadline passed before tool {name!r} ran")
        if registered.spec.inline:
            return registered.func(**args)
        timeout = registered.spec.timeout_seconds
        cut_by_deadline = left is not None and (timeout <= 0 or left < timeout)
        wait = left if cut_by_deadline else (timeout if timeout > 0 else None)
        # The caller's context (its current span) travels with the call, so a tool's own spans nest under it.
        context = contextvars.copy_context()
        future = self._submit(name, functools.partial(context.run, registered.func, **args))
        try:
            return future.result(timeout=wait)
        except TimeoutError:
            if future.done():
                # The tool raised TimeoutError itself, or finished right at the deadline.
                return future.result()
            if not future.cancel():  # a queued attempt never starts; a running one keeps its worker
                self._abandon(name, future)
            if cut_by_deadline:
                raise TaskDeadlineError(f"the task deadline passed while tool {name!r} ran") from None
            raise ToolTimeoutError(f"tool {name!r} did not finish within {timeout:g}s") from None

    def _submit(self, tool: str, work: Callable[[], Any]) -> Future[Any]:
        """``work`` on the pool, counted against ``tool``'s share until it returns (or is cancelled)."""
        with self._lock:
            holding = self._holding.get(tool, 0)
            hanging = self._abandoned.get(tool, 0)
            if hanging and (holding >= self._max_share or sum(self._abandoned.values()) >= self._max_share):
                raise ToolTimeoutError(
                    f"tool {tool!r} still runs {hanging} attempts abandoned at their timeout; no new one starts "
                    f"until they return (tools that hang may hold {self._max_share} of the "
                    f"{self._max_workers} tool workers)"
                )
            if holding >= self._max_share:
                raise ToolBusyError(
                    f"tool {tool!r} already holds {holding} of the {self._max_workers} tool workers (its share); "
                    "not started"
                )
            self._holding[tool] = holding + 1
        try:
            future = self._executor.submit(work)
        except BaseException:
            self._release(self._holding, tool)
            raise
        future.add_done_callback(lambda _: self._release(self._holding, tool))
        return future

    def _abandon(self, tool: str, future: Future[Any]) -> None:
        """Count ``future`` as one of ``tool``'s abandoned attempts until it returns."""
        with self._lock:
            self._abandoned[tool] = self._abandoned.get(tool, 0) + 1
        future.add_done_callback(lambda _: self._release(self._abandoned, tool))

    def _release(self, counts: dict[str, int], tool: str) -> None:
        with self._lock:
            left = counts[tool] - 1
            if left:
                counts[tool] = left
            else:
                del counts[tool]


def _binding_problem(registered: RegisteredTool, args: Mapping[str, Any]) -> str | None:
    """Why ``args`` cannot be passed to the tool's function, or None when they can (asked only after a TypeError)."""
    try:
        signature = inspect.signature(registered.func)
    except (TypeError, ValueError):  # a callable without an introspectable signature
        return None
    try:
        signature.bind(**args)
    except TypeError as exc:
        return str(exc)
    return None
