"""One attempt of a tool call: inline, or on the worker pool within the tool's timeout and the task's deadline.

An attempt that outlives its timeout cannot be stopped (Python threads are
not killable): it is abandoned and keeps its worker until the tool returns.
A dependency that hangs would so take every worker of the shared pool, and
the healthy tools' calls would then queue, time out and open their breakers
too. So one tool may hold at most ``max_per_tool`` workers at once, its
attempts running or hanging (a bulkhead; three quarters of the pool by
default): past that an attempt is not started and fails at once with a
``ToolBusyError``, which is retried after a back-off and never counts
against a breaker (the hung attempts' own timeouts do). The rest of the
pool stays with the other tools.

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

    def __init__(self, max_workers: int, max_per_tool: int | None = None) -> None:
        self._max_workers = max_workers
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="tool-attempt")
        self._max_per_tool = max_per_tool if max_per_tool is not None else max(1, max_workers * 3 // 4)
        self._holding: dict[str, int] = {}
        self._lock = threading.Lock()

    def holding(self, tool: str) -> int:
        """Workers ``tool``'s attempts hold now (queued, running, or abandoned at their timeout and still running)."""
        with self._lock:
            return self._holding.get(tool, 0)

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
        if registered.spec.inline:
            if deadline is not None and deadline <= time.monotonic():
                raise TaskDeadlineError(f"the task deadline passed before tool {name!r} ran")
            return registered.func(**args)
        timeout = registered.spec.timeout_seconds
        left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        if left == 0.0:
            # Not even handed to the pool: a worker might still start it after the call was reported as not run.
            raise TaskDeadlineError(f"the task deadline passed before tool {name!r} ran")
        cut_by_deadline = left is not None and (timeout <= 0 or left < timeout)
        wait = left if cut_by_deadline else (timeout if timeout > 0 else None)
        # The caller's context (its current span) travels with the call, so a tool's own spans nest under it.
        context = contextvars.copy_context()
        future = self._submit(name, functools.partial(context.run, functools.partial(registered.func, **args)))
        try:
            return future.result(timeout=wait)
        except TimeoutError:
            if future.done():
                # The tool raised TimeoutError itself, or finished right at the deadline.
                return future.result()
            future.cancel()  # a queued attempt never starts; a running one keeps its worker until it returns
            if cut_by_deadline:
                raise TaskDeadlineError(f"the task deadline passed while tool {name!r} ran") from None
            raise ToolTimeoutError(f"tool {name!r} did not finish within {timeout:g}s") from None

    def _submit(self, tool: str, work: Callable[[], Any]) -> Future[Any]:
        """``work`` on the pool, counted against ``tool``'s share until it returns (or is cancelled)."""
        with self._lock:
            holding = self._holding.get(tool, 0)
            if holding >= self._max_per_tool:
                raise ToolBusyError(
                    f"tool {tool!r} already holds {holding} of the {self._max_workers} tool workers (its share); "
                    "not started"
                )
            self._holding[tool] = holding + 1

        def returned(_: Future[Any]) -> None:
            with self._lock:
                left = self._holding[tool] - 1
                if left:
                    self._holding[tool] = left
                else:
                    del self._holding[tool]

        try:
            future = self._executor.submit(work)
        except BaseException:
            returned(Future())
            raise
        future.add_done_callback(returned)
        return future


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
