"""``AgentRunner``: runs an agent of any kind, with its tool and model calls through the pipeline.

Every kind shares the same two doors to the outside world:

- ``call_tools``: tool calls, run as a plan of independent calls by the plan
  executor (several at once under the execution limits), each through the
  tool pipeline with an ``execute_tool`` span. A name that is an agent
  (agents as tools) runs that agent directly, no routing, in the same
  ``TaskRun`` one level deeper;
- ``chat``: one model call, made as a call of the ``llm_chat`` tool through
  the pipeline (so it is cached, broken, retried and timed out like any
  tool), recorded as a ``ModelTurn`` and timed as the ``model`` stage.

Example::

    >>> runner = AgentRunner(executor, pipeline, listener, agents=python_agents)  # doctest: +SKIP
    >>> run = TaskRun.starting(timeout_seconds=30, token_budget=8000, max_depth=3)  # doctest: +SKIP
    >>> outcome = runner.run(spec, task, run)  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agent_runtime.agents.actions import Action
from agent_runtime.agents.llm_agent import run_llm_agent
from agent_runtime.agents.python_agent import run_python_agent
from agent_runtime.agents.run import AgentOutcome, TaskRun
from agent_runtime.config.models import AgentSpec, RuntimeConfig
from agent_runtime.errors import PlanError, UnknownToolError
from agent_runtime.execution.executor import CallReport, PlanExecutor, ToolCaller
from agent_runtime.execution.plan import Plan, PlannedCall, PlanTemplate, build_plan, compile_plan
from agent_runtime.registry import AgentRegistry, ToolRegistry
from agent_runtime.results import ModelTurn, Task, ToolCallOutcome
from agent_runtime.telemetry import tracing
from agent_runtime.telemetry.listener import RuntimeListener
from agent_runtime.vocabulary import MODEL_TOOL, AgentKind, Stage, StopReason, ToolOutcome


@dataclass(frozen=True)
class _NestedReport:
    """A nested agent's run, reported to the executor like a tool call."""

    outcome: ToolOutcome
    result: Any
    error: BaseException | None
    duration_seconds: float
    cache_layer: str | None = None
    attempts: int = 1


class NestedAgentError(Exception):
    """A nested agent stopped without an answer, or could not be started."""


@dataclass(frozen=True)
class ChatReply:
    """A model call's result as the agent loop needs it (``value`` is the ``llm_chat`` result dict)."""

    report: CallReport
    turn: ModelTurn

    @property
    def ok(self) -> bool:
        """True when the model answered (directly or from cache)."""
        return self.report.outcome in ToolOutcome.usable()

    @property
    def value(self) -> Mapping[str, Any]:
        """The ``llm_chat`` result: content, tool_calls, usage, model, cost."""
        result = self.report.result
        return result if isinstance(result, Mapping) else {}


class AgentRunner:
    """Runs agents by kind; the runtime hands it a routed agent and a ``TaskRun``."""

    def __init__(
        self,
        executor: PlanExecutor,
        pipeline: ToolCaller,
        listener: RuntimeListener,
        *,
        tools: Callable[[], ToolRegistry],
        config: Callable[[], RuntimeConfig],
        agents: AgentRegistry,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._executor = executor
        self.pipeline = pipeline
        self._listener = listener
        self._tools = tools
        self._config = config
        self._agents = agents
        self._clock = clock
        # Endpoints found to refuse native tool calls (auto mode falls back to json_schema once per model).
        self.native_refused: set[str] = set()
        # Plans compiled once per agent spec and tool registry: id(spec) -> (spec, tools, template or None).
        # None marks steps with a task-independent fault: build_plan then raises it, task by task, as before.
        self._templates: dict[int, tuple[AgentSpec, ToolRegistry, PlanTemplate | None]] = {}

    @property
    def python_agents(self) -> AgentRegistry:
        """The Python agent functions, by agent name."""
        return self._agents

    @property
    def listener(self) -> RuntimeListener:
        """Where agent events go."""
        return self._listener

    def tools(self) -> ToolRegistry:
        """The tool registry in force."""
        return self._tools()

    def agent(self, name: str) -> AgentSpec | None:
        """The configured agent called ``name``, or None."""
        return self._config().agent(name)

    def run(self, spec: AgentSpec, task: Task, run: TaskRun) -> AgentOutcome:
        """Run ``spec`` on ``task`` within ``run``; never raises for what tools or models do."""
        if spec.kind is AgentKind.LLM:
            outcome = run_llm_agent(self, spec, task, run)
        elif spec.kind is AgentKind.PYTHON:
            outcome = run_python_agent(self, spec, task, run)
        else:
            outcome = self._run_plan(spec, task, run)
        self._listener.agent_finished(spec.name, spec.kind, outcome.stop_reason, len(outcome.turns), len(outcome.calls))
        return outcome

    def _run_plan(self, spec: AgentSpec, task: Task, run: TaskRun) -> AgentOutcome:
        started = self._clock()
        template = self._template(spec)
        if template is None:
            plan = build_plan(spec.plan, task_text=task.text, context=task.context, known_tools=self._tools())
        else:
            plan = template.instantiate(task.text, task.context)
        planned = self._clock() - started
        calls, timed_out = self._executor.run(plan, timeout_seconds=run.remaining_seconds)
        mark = self._clock()
        output, error = aggregate(plan, calls)
        stages: dict[str, float] = {Stage.PLAN: planned, Stage.AGGREGATE: self._clock() - mark}
        reason = StopReason.DEADLINE if timed_out else (StopReason.FINAL if error is None else StopReason.ERROR)
        return AgentOutcome(reason, output, error, list(calls), stages=stages)

    def _template(self, spec: AgentSpec) -> PlanTemplate | None:
        """``spec``'s compiled plan (None when its steps are invalid whatever the task)."""
        tools = self._tools()
        entry = self._templates.get(id(spec))
        if entry is not None and entry[0] is spec and entry[1] is tools:
            return entry[2]
        try:
            template: PlanTemplate | None = compile_plan(spec.plan, known_tools=tools)
        except PlanError:
            template = None
        if len(self._templates) >= 256:  # specs are replaced on reload: forget the old ones
            self._templates.clear()
        self._templates[id(spec)] = (spec, tools, template)
        return template

    def call_tools(
        self,
        spec: AgentSpec,
        requests: Sequence[Action],
        run: TaskRun,
        *,
        turn: int | None,
    ) -> tuple[tuple[ToolCallOutcome, ...], bool]:
        """Run the tool calls in ``requests`` (in parallel when several); their outcomes and whether time ran out."""
        calls = tuple(
            PlannedCall(
                id=f"{turn if turn is not None else 'call'}.{number}",
                tool=str(action.tool),
                args=dict(action.arguments),
                call_id=action.call_id or None,
            )
            for number, action in enumerate(requests)
        )
        caller = _AgentToolCaller(self, run)
        return self._executor.run(Plan(calls), timeout_seconds=run.remaining_seconds, turn=turn, caller=caller)

    def chat(self, spec: AgentSpec, index: int, arguments: Mapping[str, Any], run: TaskRun) -> ChatReply:
        """One model call for ``spec`` through the pipeline, as turn ``index``."""
        args = dict(arguments)
        if spec.model:
            args["model"] = spec.model
        started = self._clock()
        report = self.pipeline.call(MODEL_TOOL, args, run.deadline)
        seconds = self._clock() - started
        self._listener.stage_timed(Stage.MODEL, seconds)
        value = report.result if isinstance(report.result, Mapping) else {}
        usage = value.get("usage") if isinstance(value.get("usage"), Mapping) else {}
        turn = ModelTurn(
            index=index,
            model=str(value.get("model") or spec.model or "default"),
            input_tokens=int(usage.get("input_tokens", 0)) if usage else 0,
            output_tokens=int(usage.get("output_tokens", 0)) if usage else 0,
            duration_seconds=seconds,
            cache_layer=report.cache_layer,
            error=None if report.outcome in ToolOutcome.usable() else _describe(report.error),
        )
        return ChatReply(report, turn)

    def run_nested(self, name: str, text: str, run: TaskRun) -> _NestedReport:
        """Run agent ``name`` on ``text`` as a tool call of another agent (no routing)."""
        started = self._clock()
        spec = self._config().agent(name)
        if spec is None:
            return _NestedReport(ToolOutcome.ERROR, None, UnknownToolError(f"no agent named {name!r}"), 0.0)
        if run.depth + 1 > run.max_depth:
            error = NestedAgentError(
                f"agent {name!r} not started: nesting depth limit of {run.max_depth} reached "
                "(execution.max_agent_depth)"
            )
            return _NestedReport(ToolOutcome.ERROR, None, error, self._clock() - started)
        with tracing.nested_agent_span(name, spec.kind) as span:
            try:
                outcome = self.run(spec, Task(text), run.nested())
            except PlanError as exc:
                tracing.mark_error(span, type(exc).__name__, str(exc))
                return _NestedReport(ToolOutcome.ERROR, None, exc, self._clock() - started)
            if not outcome.answered:
                tracing.mark_error(span, outcome.stop_reason, outcome.error or outcome.stop_reason)
        seconds = self._clock() - started
        if outcome.answered:
            return _NestedReport(ToolOutcome.SUCCESS, outcome.output, None, seconds)
        message = f"agent {name!r} stopped ({outcome.stop_reason}) without an answer: {outcome.error or ''}".strip()
        return _NestedReport(ToolOutcome.ERROR, None, NestedAgentError(message), seconds)


class _AgentToolCaller:
    """The executor's caller for one agent run: agents named as tools run nested, the rest go to the pipeline."""

    def __init__(self, runner: AgentRunner, run: TaskRun) -> None:
        self._runner = runner
        self._run = run

    def call(self, tool: str, args: Mapping[str, Any], deadline: float | None = None) -> CallReport:
        runner = self._runner
        if tool not in runner.tools() and runner.agent(tool) is not None:
            text = args.get("task")
            return runner.run_nested(tool, text if isinstance(text, str) else str(text), self._run)
        return runner.pipeline.call(tool, args, deadline)

    def peek(self, tool: str, args: Mapping[str, Any]) -> bool:
        runner = self._runner
        peek = getattr(runner.pipeline, "peek", None)
        return peek is not None and tool in runner.tools() and bool(peek(tool, args))


def aggregate(plan: Plan, calls: Sequence[ToolCallOutcome]) -> tuple[Any, str | None]:
    """The task output from the plan's sink steps.

    One sink: its result. Several: ``{step: result}`` of those that succeeded,
    so a partial answer (runbook passages while Prometheus is down) still
    reaches the user; the failed calls stay visible in ``tool_calls``. The
    task fails only when no sink produced a result.
    """
    by_id = {call.step_id: call for call in calls}
    sinks = plan.sinks()
    usable = [by_id[s] for s in sinks if by_id[s].ok]
    if sinks and not usable:
        first = by_id[sinks[0]]
        return None, f"step {first.step_id!r} ({first.tool}) failed: {first.error}"
    if len(sinks) == 1:
        return usable[0].result, None
    return {call.step_id: call.result for call in usable}, None


def _describe(error: BaseException | None) -> str | None:
    return f"{type(error).__name__}: {error}" if error is not None else None
