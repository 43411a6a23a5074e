"""Run a plan: independent tool calls in parallel, dependents in order.

Calls that are ready together run concurrently on a shared, bounded thread
pool (the runtime-wide tool-call concurrency limit); a lone ready call runs
in the caller's thread, so sequential plans pay no hand-off. Of several
ready calls, those the tool cache can answer at once run in the caller's
thread too: a hand-off costs far more than a cache hit. Untraced, the
caller's ``call_cached`` answers such a call in one look-up; traced (the
call's span must be current while it is looked up), its ``peek`` picks
them and ``call`` runs them in their spans. A failed call fails only the steps that depend on it. The task
deadline bounds the wait; calls still running then are reported as timed
out.

Each call gets an ``execute_tool`` span, unless the task is not sampled
(``tracing.children_traced``): then no child span is made at all.

Example::

    >>> executor = PlanExecutor(caller, max_parallel=4)          # doctest: +SKIP
    >>> outcomes = executor.run(plan, timeout_seconds=5.0)       # doctest: +SKIP
"""

from __future__ import annotations

import contextvars
import itertools
import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Protocol

from agent_runtime.execution.plan import Plan, PlannedCall
from agent_runtime.results import ToolCallOutcome, assembled
from agent_runtime.telemetry import tracing
from agent_runtime.vocabulary import USABLE_TOOL_OUTCOMES, ToolOutcome


class CallReport(Protocol):
    """What a tool caller reports for one call (see ``tools.pipeline.CallReport``)."""

    @property
    def outcome(self) -> str: ...
    @property
    def result(self) -> Any: ...
    @property
    def error(self) -> BaseException | None: ...
    @property
    def cache_layer(self) -> str | None: ...
    @property
    def attempts(self) -> int: ...
    @property
    def duration_seconds(self) -> float: ...


class ToolCaller(Protocol):
    """Anything that calls a tool by name with arguments (the tool pipeline).

    A caller may also have ``peek(tool, args) -> bool``: True when the call
    would be answered from an in-process cache right now (nothing counted);
    and ``call_cached(tool, args)``: the call's report when that cache
    answers it now, else None with nothing counted.
    """

    def call(self, tool: str, args: Mapping[str, Any], deadline: float | None = None) -> CallReport: ...


_call_ids = itertools.count(1)
_CALL_PREFIX = os.urandom(4).hex()


def new_call_id() -> str:
    """A unique tool call id (cheap: a process prefix and a counter)."""
    return f"call_{_CALL_PREFIX}{next(_call_ids):x}"


class PlanExecutor:
    """Executes plans against a ``ToolCaller`` under a concurrency limit."""

    def __init__(self, caller: ToolCaller, *, max_parallel: int) -> None:
        self._caller = caller
        self._pool = ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="agent-tool")

    def close(self) -> None:
        """Stop the worker threads (running calls finish first)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def run(
        self,
        plan: Plan,
        *,
        timeout_seconds: float,
        turn: int | None = None,
        caller: ToolCaller | None = None,
    ) -> tuple[tuple[ToolCallOutcome, ...], bool]:
        """Run every call of ``plan``; returns the outcomes in plan order and whether it timed out.

        ``turn`` is the index of the model turn that asked for these calls
        (LLM agents): it goes on each call's span and outcome. ``caller``
        replaces the executor's own for this run (an agent that may call
        other agents as tools).
        """
        caller = caller or self._caller
        deadline = time.monotonic() + timeout_seconds
        traced = tracing.children_traced()
        calls = plan.calls
        if len(calls) == 1 and not calls[0].depends_on:
            # The common lone call: no scheduling at all.
            only = calls[0]
            outcome = _execute(caller, only, only.resolve_args({}), turn, deadline, traced=traced)
            return (outcome,), _cut_by_deadline(outcome)
        return self._run_many(plan, caller, turn, deadline, traced)

    def _run_many(
        self, plan: Plan, caller: ToolCaller, turn: int | None, deadline: float, traced: bool
    ) -> tuple[tuple[ToolCallOutcome, ...], bool]:
        calls = plan.calls
        peek: Callable[[str, Mapping[str, Any]], bool] | None = getattr(caller, "peek", None)
        # Untraced, a cache hit needs no span around it: one look-up answers it (traced, the
        # execute_tool span must be current during the look-up, so peek first, then call in the span).
        call_cached: Callable[[str, Mapping[str, Any]], CallReport | None] | None = (
            None if traced else getattr(caller, "call_cached", None)
        )
        results: dict[str, Any] = {}
        outcomes: dict[str, ToolCallOutcome] = {}
        running: dict[Future[ToolCallOutcome], str] = {}
        pending = list(calls)
        timed_out = False
        while pending or running:
            ready, blocked = self._ready(pending, outcomes)
            pending = blocked
            runnable: list[PlannedCall] = []
            for call, failed_dep in ready:
                if failed_dep is not None:
                    outcomes[call.id] = _skipped(call, failed_dep)
                else:
                    runnable.append(call)
            lone = len(runnable) == 1 and not running
            now, later = _place(runnable, results, outcomes, turn, lone=lone, peek=peek, call_cached=call_cached)
            if len(later) == 1 and not running:
                now.append(later.pop())  # a lone call runs in this thread
            for call, args in later:
                context = contextvars.copy_context()
                future = self._pool.submit(context.run, _execute, caller, call, args, turn, deadline, traced=traced)
                running[future] = call.id
            for call, args in now:
                outcome = outcomes[call.id] = _execute(caller, call, args, turn, deadline, traced=traced)
                if outcome.ok:
                    results[call.id] = outcome.result
            if not running:
                continue
            remaining = deadline - time.monotonic()
            done, _ = wait(running, timeout=max(remaining, 0.0), return_when=FIRST_COMPLETED)
            if not done:
                timed_out = True
                by_id = plan.by_id()
                for future, step_id in running.items():
                    future.cancel()
                    outcomes[step_id] = _deadline(by_id[step_id], turn)
                for call in pending:
                    outcomes[call.id] = _deadline(call, turn)
                break
            for future in done:
                step_id = running.pop(future)
                outcomes[step_id] = future.result()
                if outcomes[step_id].ok:
                    results[step_id] = outcomes[step_id].result
        # A call run inline is cut short by the deadline if it passed meanwhile.
        timed_out = timed_out or any(_cut_by_deadline(o) for o in outcomes.values())
        return tuple(outcomes[call.id] for call in calls), timed_out

    @staticmethod
    def _ready(
        pending: list[PlannedCall], outcomes: Mapping[str, ToolCallOutcome]
    ) -> tuple[list[tuple[PlannedCall, str | None]], list[PlannedCall]]:
        """Split pending calls into ready ones (with a failed dependency, if any) and blocked ones."""
        ready: list[tuple[PlannedCall, str | None]] = []
        blocked: list[PlannedCall] = []
        done = outcomes.keys()
        for call in pending:
            depends_on = call.depends_on
            if not depends_on:
                ready.append((call, None))
                continue
            if not depends_on <= done:
                blocked.append(call)
                continue
            if all(outcomes[dep].ok for dep in depends_on):
                ready.append((call, None))
                continue
            # Sorted only when one failed, so the step named as the cause is the same every run.
            failed = next((dep for dep in sorted(call.depends_on) if not outcomes[dep].ok), None)
            ready.append((call, failed))
        return ready, blocked


_Placed = list[tuple[PlannedCall, dict[str, Any]]]


def _place(
    runnable: list[PlannedCall],
    results: dict[str, Any],
    outcomes: dict[str, ToolCallOutcome],
    turn: int | None,
    *,
    lone: bool,
    peek: Callable[[str, Mapping[str, Any]], bool] | None,
    call_cached: Callable[[str, Mapping[str, Any]], CallReport | None] | None,
) -> tuple[_Placed, _Placed]:
    """Calls (with their arguments) to run in this thread and to hand to the pool; hits ``call_cached`` answers
    are done here (their outcomes and results recorded)."""
    now: _Placed = []
    later: _Placed = []
    for call in runnable:
        args = call.resolve_args(results)
        if lone:
            now.append((call, args))  # a lone call: cheaper than any hand-off
        elif call_cached is not None:
            report = call_cached(call.tool, args)
            if report is None:
                later.append((call, args))
                continue
            outcome = outcomes[call.id] = _outcome(call, call.call_id or new_call_id(), report, turn)
            if outcome.ok:
                results[call.id] = outcome.result
        elif peek is not None and peek(call.tool, args):
            now.append((call, args))  # a cache hit: cheaper than any hand-off
        else:
            later.append((call, args))
    return now, later


def _execute(
    caller: ToolCaller,
    call: PlannedCall,
    args: dict[str, Any],
    turn: int | None,
    deadline: float,
    *,
    traced: bool = True,
) -> ToolCallOutcome:
    call_id = call.call_id or new_call_id()
    if traced:
        span, token = tracing.start_child_span(
            f"{tracing.EXECUTE_TOOL} {call.tool}", tracing.tool_span_attributes(call.tool, call_id, turn)
        )
        try:
            report = caller.call(call.tool, args, deadline)
            error = report.error
            if span.is_recording():
                attributes: dict[str, str | int] = {
                    "agent_runtime.tool.attempts": report.attempts,
                    "agent_runtime.tool.outcome": report.outcome,
                }
                if report.cache_layer:
                    attributes["agent_runtime.cache.layer"] = report.cache_layer
                span.set_attributes(attributes)
            if error is not None and report.outcome not in USABLE_TOOL_OUTCOMES:
                tracing.mark_error(span, type(error).__name__, str(error))
        finally:
            tracing.end_child_span(span, token)
    else:
        report = caller.call(call.tool, args, deadline)
    return _outcome(call, call_id, report, turn)


def _cut_by_deadline(outcome: ToolCallOutcome) -> bool:
    """The task deadline stopped this call with nothing usable (a fallback's answer is usable)."""
    return outcome.error_type == "TaskDeadlineError" and not outcome.ok


def _outcome(call: PlannedCall, call_id: str, report: CallReport, turn: int | None) -> ToolCallOutcome:
    error = report.error
    error_type = type(error).__name__ if error is not None else None
    usable = report.outcome in USABLE_TOOL_OUTCOMES
    return assembled(
        ToolCallOutcome,
        step_id=call.id,
        tool=call.tool,
        call_id=call_id,
        outcome=report.outcome,
        result=report.result if usable else None,
        error=str(error) if error is not None else None,
        error_type=error_type,
        cache_layer=report.cache_layer,
        attempts=report.attempts,
        duration_seconds=report.duration_seconds,
        turn=turn,
    )


def _skipped(call: PlannedCall, failed_dep: str) -> ToolCallOutcome:
    return ToolCallOutcome(
        step_id=call.id,
        tool=call.tool,
        call_id="",
        outcome=ToolOutcome.ERROR,
        error=f"not run: dependency {failed_dep!r} failed",
        error_type="DependencyFailed",
    )


def _deadline(call: PlannedCall, turn: int | None) -> ToolCallOutcome:
    return ToolCallOutcome(
        step_id=call.id,
        tool=call.tool,
        call_id=call.call_id or "",
        outcome=ToolOutcome.TIMEOUT,
        error="the task deadline passed before this call finished",
        error_type="TaskTimeout",
        turn=turn,
    )
