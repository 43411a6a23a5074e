"""``Runtime``: the hot path from a task to its result.

    analyse ─► route (decision cache, else score) ─► plan ─► execute ─► aggregate

Each stage is timed into the result, the profiler and the stage histogram;
telemetry leaves through listeners (metrics, span events) and spans through
the OpenTelemetry API.

Example::

    >>> from agent_runtime import Runtime, ToolRegistry, parse_config
    >>> tools = ToolRegistry()
    >>> @tools.tool()
    ... def echo(text: str) -> str:
    ...     return text
    >>> config = parse_config({"agents": [{"name": "parrot", "tools": ["echo"],
    ...     "plan": [{"id": "say", "tool": "echo", "args": {"text": "{task}"}}]}]})
    >>> runtime = Runtime(config, tools=tools, metrics_registry=None)
    >>> runtime.handle("hello").output
    'hello'
    >>> runtime.close()
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, Final

from opentelemetry import context as otel_context
from prometheus_client import REGISTRY, CollectorRegistry

from agent_runtime.config.models import AgentSpec, RuntimeConfig
from agent_runtime.errors import ConfigError, PlanError, RejectedError, UnknownAgentError
from agent_runtime.execution.executor import PlanExecutor
from agent_runtime.execution.plan import Plan, build_plan
from agent_runtime.profiler import Profiler
from agent_runtime.registry import ToolRegistry
from agent_runtime.results import RoutingDecision, Task, TaskResult, ToolCallOutcome
from agent_runtime.routing.router import TaskRouter
from agent_runtime.telemetry import tracing
from agent_runtime.telemetry.labels import LabelGuard
from agent_runtime.telemetry.listener import ListenerSet, RuntimeListener
from agent_runtime.telemetry.metrics import PrometheusListener
from agent_runtime.tools.cache import ToolCache
from agent_runtime.tools.pipeline import ToolPipeline

# Agent label for tasks that ended before an agent was chosen.
UNROUTED: Final = "none"


class Runtime:
    """Routes tasks to agents and runs their plans through the tool pipeline.

    ``metrics_registry=None`` turns Prometheus metrics off (the listeners you
    pass still receive every event). Tools referenced by the configuration
    must be registered in ``tools`` first.
    """

    def __init__(
        self,
        config: RuntimeConfig,
        *,
        tools: ToolRegistry,
        listeners: Iterable[RuntimeListener] = (),
        metrics_registry: CollectorRegistry | None = REGISTRY,
    ) -> None:
        self._tools = tools
        _apply_tool_settings(config, tools)
        _check_agents(config, tools)
        self._config = config
        self.guard = LabelGuard(agents=(*(a.name for a in config.agents), UNROUTED), tools=tools.names())
        chain: list[RuntimeListener] = [tracing.SpanEventListener(), *listeners]
        self.metrics: PrometheusListener | None = None
        if metrics_registry is not None:
            self.metrics = PrometheusListener(
                self.guard, registry=metrics_registry, in_flight_limit=config.execution.max_in_flight_tasks
            )
            chain.insert(0, self.metrics)
        self.listener = ListenerSet(chain)
        self.cache = ToolCache(config.cache, self.listener)
        self.pipeline = ToolPipeline(tools, self.cache, self.listener)
        self.executor = PlanExecutor(self.pipeline, max_parallel=config.execution.max_parallel_tool_calls)
        self.profiler = Profiler(config.stage_targets_seconds)
        self.router = TaskRouter.from_config(
            config,
            tool_health=self.pipeline.is_healthy,
            health_version=lambda: self.pipeline.health_version,
            listener=self.listener,
        )
        self._admission = threading.BoundedSemaphore(config.execution.max_in_flight_tasks)
        self._reload_lock = threading.Lock()
        self._python_versions = itertools.count(1)
        self._in_flight = 0
        self._in_flight_lock = threading.Lock()

    @property
    def config(self) -> RuntimeConfig:
        """The configuration in force."""
        return self._config

    @property
    def tools(self) -> ToolRegistry:
        """The tool registry."""
        return self._tools

    def reload(self, config: RuntimeConfig) -> None:
        """Swap in a new configuration; cached routing decisions made under the old one are dropped."""
        _apply_tool_settings(config, self._tools)
        _check_agents(config, self._tools)
        with self._reload_lock:
            self.guard.extend("agent", (a.name for a in config.agents))
            self.profiler.set_targets(config.stage_targets_seconds)
            self._config = config
            self.router.reload(config)

    def register_agent(self, agent: AgentSpec) -> None:
        """Add (or replace) an agent defined in Python."""
        others = tuple(a for a in self._config.agents if a.name != agent.name)
        version = f"{self._config.version}+py{next(self._python_versions)}"
        self.reload(replace(self._config, agents=(*others, agent), version=version))

    def handle(self, task: Task | str, *, parent: otel_context.Context | None = None) -> TaskResult:
        """Route ``task``, run its agent's plan and return the result.

        Raises ``RejectedError`` when the runtime is at its in-flight limit and
        ``UnknownAgentError`` when the task names an agent that does not exist;
        both are counted with outcome ``rejected``. Tool failures never raise:
        they are reported in ``TaskResult.tool_calls``.
        """
        if isinstance(task, str):
            task = Task(task)
        started = time.perf_counter()
        if not self._admission.acquire(blocking=False):
            self.listener.task_started()
            self.listener.task_finished(UNROUTED, "rejected", 0.0)
            raise RejectedError(
                f"over the in-flight limit of {self._config.execution.max_in_flight_tasks} tasks; retry later"
            )
        self._count_in_flight(1)
        self.listener.task_started()
        agent = UNROUTED
        outcome = "error"
        # task_finished runs inside the task span so the duration gets its trace id as exemplar.
        with tracing.agent_span(parent) as span:
            try:
                result = self._run(task, span, started)
                agent = result.agent or UNROUTED
                outcome = result.outcome
                if outcome != "success":
                    tracing.mark_error(span, result.outcome, result.error or outcome)
                return result
            except (UnknownAgentError, PlanError) as exc:
                outcome = "rejected"
                tracing.mark_error(span, type(exc).__name__, str(exc))
                raise
            finally:
                self._admission.release()
                self._count_in_flight(-1)
                self.listener.task_finished(agent, outcome, time.perf_counter() - started)

    def _count_in_flight(self, delta: int) -> None:
        with self._in_flight_lock:
            self._in_flight += delta

    @property
    def in_flight(self) -> int:
        """Tasks being handled right now by this runtime."""
        return self._in_flight

    @property
    def in_flight_limit(self) -> int:
        """The most tasks handled at once; more are rejected."""
        return self._config.execution.max_in_flight_tasks

    def _run(self, task: Task, span: Any, started: float) -> TaskResult:
        stages: dict[str, float] = {}
        config = self._config
        clock = time.perf_counter

        mark = clock()
        analysis = self.router.analyse(task.text)
        stages["analyse"] = clock() - mark

        mark = clock()
        with tracing.route_span() as route_span:
            decision = self.router.route(task, analysis, stages)
            tracing.annotate_decision(route_span, decision, rename=False)
        stages["route"] = clock() - mark
        tracing.annotate_decision(span, decision)
        self.listener.routing_decided(decision.agent, decision.source, decision.confidence)

        mark = clock()
        agent = config.agent(decision.agent)
        assert agent is not None, "the router only returns configured agents"
        plan = build_plan(agent.plan, task_text=task.text, context=task.context, known_tools=self._tools)
        stages["plan"] = clock() - mark

        mark = clock()
        calls, timed_out = self.executor.run(plan, timeout_seconds=config.execution.task_timeout_seconds)
        stages["execute"] = clock() - mark
        for call in calls:
            key = f"tool:{call.tool}"
            stages[key] = stages.get(key, 0.0) + call.duration_seconds
            self.listener.stage_timed("tool", call.duration_seconds)

        mark = clock()
        output, error = _aggregate(plan, calls)
        stages["aggregate"] = clock() - mark

        outcome = "timeout" if timed_out else ("success" if error is None else "error")
        self.router.experience.record(decision.agent, outcome == "success")
        for stage in ("analyse", "score", "route", "plan", "execute", "aggregate"):
            if stage in stages:
                self.listener.stage_timed(stage, stages[stage])
        duration = time.perf_counter() - started
        self.profiler.record(stages, task_seconds=duration)
        return TaskResult(
            task=task.text,
            outcome=outcome,
            decision=decision,
            tool_calls=calls,
            stage_seconds=stages,
            duration_seconds=duration,
            trace_id=tracing.current_trace_id(),
            output=output,
            error=error,
        )

    def route(self, task: Task | str) -> RoutingDecision:
        """Only the routing decision for ``task`` (no tools run, nothing counted as a task)."""
        if isinstance(task, str):
            task = Task(task)
        return self.router.route(task, self.router.analyse(task.text))

    def close(self) -> None:
        """Release thread pools and cache handles."""
        self.executor.close()
        self.pipeline.close()
        self.cache.close()


def _aggregate(plan: Plan, calls: tuple[ToolCallOutcome, ...]) -> tuple[Any, str | None]:
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


def _apply_tool_settings(config: RuntimeConfig, tools: ToolRegistry) -> None:
    """Give registered tools the settings the configuration declares for them."""
    for spec in config.tools:
        if spec.name not in tools:
            raise ConfigError(
                f"tools.{spec.name}",
                f"no implementation is registered; registered tools: {', '.join(tools.names()) or 'none'}",
                source=config.source,
            )
        tools.configure(spec)
    for spec in config.tools:
        if spec.fallback is not None and spec.fallback not in tools:
            raise ConfigError(f"tools.{spec.name}.fallback", f"unknown tool {spec.fallback!r}", source=config.source)


def _check_agents(config: RuntimeConfig, tools: ToolRegistry) -> None:
    """Every tool an agent lists or plans with must be registered."""
    for agent in config.agents:
        for name in agent.tools:
            if name not in tools:
                raise ConfigError(f"agents.{agent.name}.tools", f"unknown tool {name!r}", source=config.source)
        for index, step in enumerate(agent.plan):
            if step.tool not in tools:
                raise ConfigError(
                    f"agents.{agent.name}.plan[{index}].tool", f"unknown tool {step.tool!r}", source=config.source
                )
