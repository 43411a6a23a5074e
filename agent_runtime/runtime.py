"""``Runtime``: the hot path from a task to its result, and the operations the edges need.

    analyse ─► route (decision cache, else score) ─► run the agent by its kind ─► result

Agents are ``plan`` (a fixed tool DAG), ``llm`` (a model picks the tools) or
``python`` (a function calls them); routing and the tool pipeline are the same
for all three. Each stage is timed into the result, the profiler and the
stage histogram; telemetry leaves through listeners (metrics, span events)
and spans through the OpenTelemetry API. The runtime works on its own copy
of the tool registry it is given and keeps its components private: the
service and CLI use its public operations (invalidate, warm, reset a
breaker, snapshots and stats).

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

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any, Final

from opentelemetry import context as otel_context
from prometheus_client import REGISTRY, CollectorRegistry

from agent_runtime.agents.run import AgentOutcome, TaskRun
from agent_runtime.agents.runner import AgentRunner
from agent_runtime.config.models import AgentSpec, RuntimeConfig, ToolSpec
from agent_runtime.errors import ConfigError, PlanError, RejectedError, UnknownAgentError
from agent_runtime.execution.executor import CallReport, PlanExecutor
from agent_runtime.profiler import BottleneckReport, Profiler
from agent_runtime.registry import AgentRegistry, ToolFunc, ToolRegistry
from agent_runtime.results import RoutingDecision, Task, TaskResult, assembled
from agent_runtime.routing.router import TaskRouter
from agent_runtime.telemetry import tracing
from agent_runtime.telemetry.labels import LabelGuard
from agent_runtime.telemetry.listener import ListenerSet, RuntimeListener
from agent_runtime.telemetry.metrics import PrometheusListener
from agent_runtime.tools.cache import ToolCache
from agent_runtime.tools.pipeline import ToolPipeline
from agent_runtime.vocabulary import MODEL_TOOL, UNROUTED_AGENT, AgentKind, Stage, StopReason, TaskOutcome

_TIMED_STAGES: Final = (Stage.ANALYSE, Stage.SCORE, Stage.ROUTE, Stage.PLAN, Stage.EXECUTE, Stage.AGGREGATE)
# Enum members read per task, as module constants: an attribute of an Enum class costs a descriptor call.
_ANALYSE: Final = Stage.ANALYSE
_ROUTE: Final = Stage.ROUTE
_PLAN: Final = Stage.PLAN
_EXECUTE: Final = Stage.EXECUTE
_TOOL: Final = Stage.TOOL
_MODEL: Final = Stage.MODEL
_SUCCESS: Final = TaskOutcome.SUCCESS
_ERROR: Final = TaskOutcome.ERROR
_REJECTED: Final = TaskOutcome.REJECTED
# Profiler stage names per tool ("tool:<name>"), built once per tool name.
_TOOL_STAGE: dict[str, str] = {}


def _tool_stage(tool: str) -> str:
    key = f"tool:{tool}"
    if len(_TOOL_STAGE) < 4096:  # tool names are configured ones; the bound is a safety net
        _TOOL_STAGE[tool] = key
    return key


class Runtime:
    """Routes tasks to agents and runs them, every tool call through the tool pipeline.

    ``tools`` is copied: the configuration's tool settings apply to the
    runtime's copy, never to the caller's registry. ``agents`` adds Python
    agents (``AgentRegistry``). ``metrics_registry=None`` turns Prometheus
    metrics off (the listeners you pass still receive every event).
    ``models`` and ``providers`` are the GenAI model and provider names the
    metrics may carry besides those the configuration names.
    """

    def __init__(
        self,
        config: RuntimeConfig,
        *,
        tools: ToolRegistry,
        agents: AgentRegistry | None = None,
        listeners: Iterable[RuntimeListener] = (),
        metrics_registry: CollectorRegistry | None = REGISTRY,
        models: Iterable[str] = (),
        providers: Iterable[str] = (),
    ) -> None:
        self._tools = tools.copy()
        self._python_agents = agents or AgentRegistry()
        config = _with_python_agents(config, self._python_agents)
        _apply_tool_settings(config, self._tools)
        _check_agents(config, self._tools, self._python_agents)
        self._config = config
        self._guard = LabelGuard(
            agents=(*(a.name for a in config.agents), UNROUTED_AGENT),
            tools=self._tools.names(),
            models=(*models, *(a.model for a in config.agents if a.model)),
            providers=providers,
        )
        chain: list[RuntimeListener] = [tracing.SpanEventListener(), *listeners]
        self._metrics: PrometheusListener | None = None
        if metrics_registry is not None:
            self._metrics = PrometheusListener(
                self._guard, registry=metrics_registry, in_flight_limit=config.execution.max_in_flight_tasks
            )
            chain.insert(0, self._metrics)
        self._listener = ListenerSet(chain)
        self._cache = ToolCache(config.cache, self._listener)
        self._pipeline = ToolPipeline(self._tools, self._cache, self._listener)
        self._executor = PlanExecutor(self._pipeline, max_parallel=config.execution.max_parallel_tool_calls)
        self._runner = AgentRunner(
            self._executor,
            self._pipeline,
            self._listener,
            tools=lambda: self._tools,
            config=lambda: self._config,
            agents=self._python_agents,
        )
        self._profiler = Profiler(config.stage_targets_seconds)
        self._router = TaskRouter.from_config(
            config,
            tool_health=self._pipeline.is_healthy,
            health_version=lambda: self._pipeline.health_version,
            listener=self._listener,
        )
        self._admission = _Admission(config.execution.max_in_flight_tasks)
        self._reload_lock = threading.Lock()
        self._listener.agents_configured({a.name: a.kind for a in config.agents})

    @property
    def config(self) -> RuntimeConfig:
        """The configuration in force."""
        return self._config

    @property
    def metrics(self) -> PrometheusListener | None:
        """The Prometheus listener (exporters attach span-drop counting to it), or None when metrics are off."""
        return self._metrics

    @property
    def listener(self) -> RuntimeListener:
        """The listener set every component reports to (for tools that report events of their own)."""
        return self._listener

    def reload(self, config: RuntimeConfig) -> None:
        """Swap in a new configuration; cached routing decisions made under the old one are dropped."""
        config = _with_python_agents(config, self._python_agents)
        _apply_tool_settings(config, self._tools)
        _check_agents(config, self._tools, self._python_agents)
        with self._reload_lock:
            self._guard.extend("agent", (a.name for a in config.agents))
            self._guard.extend("gen_ai_request_model", (a.model for a in config.agents if a.model))
            self._profiler.set_targets(config.stage_targets_seconds)
            self._config = config
            self._router.reload(config)
        self._listener.agents_configured({a.name: a.kind for a in config.agents})

    def register_agent(self, agent: AgentSpec) -> None:
        """Add (or replace) an agent defined in Python; its routing decisions start afresh."""
        others = tuple(a for a in self._config.agents if a.name != agent.name)
        self.reload(replace(self._config, agents=(*others, agent), version=f"{self._config.version}+{agent.name}"))

    def handle(self, task: Task | str, *, parent: otel_context.Context | None = None) -> TaskResult:
        """Route ``task``, run its agent and return the result.

        Raises ``RejectedError`` when the runtime is at its in-flight limit and
        ``UnknownAgentError`` when the task names an agent that does not exist;
        both are counted with outcome ``rejected``. Tool and model failures
        never raise: they are reported in the result.
        """
        if isinstance(task, str):
            task = Task(task)
        started = time.perf_counter()
        if not self._admission.acquire(blocking=False):
            self._listener.task_started()
            self._listener.task_finished(UNROUTED_AGENT, TaskOutcome.REJECTED, 0.0)
            raise RejectedError(
                f"over the in-flight limit of {self._config.execution.max_in_flight_tasks} tasks; retry later"
            )
        self._listener.task_started()
        agent = UNROUTED_AGENT
        outcome = _ERROR
        # task_finished runs inside the task span so the duration gets its trace id as exemplar.
        span, token = tracing.start_agent_span(parent)
        try:
            result = self._run(task, span, started)
            agent = result.agent or UNROUTED_AGENT
            ended = result.outcome
            outcome = ended if isinstance(ended, TaskOutcome) else TaskOutcome(ended)
            if outcome is not _SUCCESS:
                tracing.mark_error(span, result.outcome, result.error or outcome)
            return result
        except (UnknownAgentError, PlanError) as exc:
            outcome = _REJECTED
            tracing.mark_error(span, type(exc).__name__, str(exc))
            raise
        finally:
            self._admission.release()
            self._listener.task_finished(agent, outcome, time.perf_counter() - started)
            tracing.end_agent_span(span, token)

    @property
    def in_flight(self) -> int:
        """Tasks being handled right now by this runtime."""
        return self._admission.count

    @property
    def in_flight_limit(self) -> int:
        """The most tasks handled at once; more are rejected."""
        return self._config.execution.max_in_flight_tasks

    def _run(self, task: Task, span: Any, started: float) -> TaskResult:
        stages: dict[str, float] = {}
        config = self._config
        clock = time.perf_counter
        listener = self._listener
        # Sampling was decided by the task span: an unsampled task gets no child spans.
        traced = span.is_recording()

        mark = clock()
        analysis = self._router.analyse(task.text)
        route_mark = clock()
        stages[_ANALYSE] = route_mark - mark

        if traced:
            route_span, route_token = tracing.start_child_span("route")
            try:
                decision = self._router.route(task, analysis, stages)
                tracing.annotate_decision(route_span, decision, rename=False)
            finally:
                tracing.end_child_span(route_span, route_token)
        else:
            decision = self._router.route(task, analysis, stages)
        mark = clock()
        stages[_ROUTE] = mark - route_mark
        spec = config.agent(decision.agent)
        assert spec is not None, "the router only returns configured agents"
        if traced:
            tracing.annotate_decision(span, decision, kind=spec.kind)
        listener.routing_decided(decision.agent, decision.source, decision.confidence, decision.fallback)

        run = TaskRun.starting(
            timeout_seconds=config.execution.task_timeout_seconds,
            token_budget=spec.token_budget,
            max_depth=config.execution.max_agent_depth,
        )
        mark = clock()
        agent_run = self._runner.run(spec, task, run)
        run_stages = agent_run.stages
        stages[_EXECUTE] = clock() - mark - run_stages.get(_PLAN, 0.0)
        stages.update(run_stages)
        tool_stage = _TOOL_STAGE
        # The stage metric's observations of this task, reported in one event.
        timed: list[tuple[str, float]] = []
        for call in agent_run.calls:
            key = tool_stage.get(call.tool) or _tool_stage(call.tool)
            seconds = call.duration_seconds
            stages[key] = stages.get(key, 0.0) + seconds
            timed.append((_TOOL, seconds))
        if agent_run.turns:
            stages[_MODEL] = sum(turn.duration_seconds for turn in agent_run.turns)

        outcome = _task_outcome(agent_run)
        if traced:
            tracing.annotate_stop(span, agent_run.stop_reason)
        self._router.experience.record(decision.agent, outcome is _SUCCESS)
        for stage in _TIMED_STAGES:
            if stage in stages:
                timed.append((stage, stages[stage]))
        listener.stages_timed(timed)
        duration = clock() - started
        self._profiler.record(stages, task_seconds=duration)
        return assembled(
            TaskResult,
            task=task.text,
            outcome=outcome,
            decision=decision,
            tool_calls=tuple(agent_run.calls),
            stage_seconds=stages,
            duration_seconds=duration,
            trace_id=tracing.trace_id_of(span),
            output=agent_run.output,
            error=agent_run.error,
            kind=spec.kind,
            stop_reason=agent_run.stop_reason,
            turns=tuple(agent_run.turns),
        )

    def route(self, task: Task | str) -> RoutingDecision:
        """Only the routing decision for ``task`` (no tools run, nothing counted as a task)."""
        if isinstance(task, str):
            task = Task(task)
        return self._router.route(task, self._router.analyse(task.text))

    def call_tool(self, tool: str, args: Mapping[str, Any]) -> CallReport:
        """One call of ``tool`` through the pipeline (cache, breaker, retry, timeout).

        Raises only for an unknown tool; failures are in the report.
        """
        return self._pipeline.call(tool, args)

    def tool_specs(self) -> tuple[ToolSpec, ...]:
        """The settings of every registered tool, by name."""
        return tuple(self._tools.get(name).spec for name in self._tools.names())

    def cache_tags(self) -> tuple[str, ...]:
        """Every cache tag a registered tool uses, sorted."""
        return tuple(sorted({tag for tool in self._tools for tag in tool.spec.cache_tags}))

    def invalidate(self, tool: str | None = None, tag: str | None = None) -> int:
        """Drop cached results of one tool, one tag, or (neither given) all; entries dropped here."""
        return self._pipeline.invalidate(tool=tool, tag=tag)

    def warm(self, top_n: int | None = None) -> int:
        """Re-run the most popular recorded calls that are not cached; how many were stored."""
        return self._pipeline.warm(top_n)

    def reset_breaker(self, tool: str) -> dict[str, Any]:
        """Close ``tool``'s circuit breaker and clear its window; its snapshot after. ``UnknownToolError`` if none."""
        breaker = self._pipeline.breaker(tool)
        breaker.reset()
        return breaker.snapshot()

    def breaker_snapshots(self) -> dict[str, dict[str, Any]]:
        """Every tool's breaker state and recent figures."""
        return {name: breaker.snapshot() for name, breaker in self._pipeline.breakers().items()}

    def cache_stats(self) -> dict[str, Any]:
        """Tool cache figures per layer: hits, misses, entries, time and cost saved."""
        return self._cache.stats()

    def bottlenecks(self) -> BottleneckReport:
        """Stages ranked by share of task time, and those over their p95 target."""
        return self._profiler.report()

    def wrap_tools(self, wrapper: Callable[[str, ToolFunc], ToolFunc]) -> list[str]:
        """Replace each tool's callable with ``wrapper(name, func)`` in this runtime (fault injection).

        Returns the names whose callable changed; the caller's registry is untouched.
        """
        return self._tools.wrap(wrapper)

    def close(self) -> None:
        """Release thread pools and cache handles."""
        self._executor.close()
        self._pipeline.close()
        self._cache.close()


class _Admission:
    """The in-flight limit: a counter under one lock (a ``BoundedSemaphore`` costs a condition and two locks)."""

    __slots__ = ("_limit", "_lock", "count")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self.count = 0

    def acquire(self, blocking: bool = False) -> bool:
        """Take a slot if one is free (never waits: over the limit a task is rejected)."""
        with self._lock:
            if self.count >= self._limit:
                return False
            self.count += 1
            return True

    def release(self) -> None:
        """Give a slot back."""
        with self._lock:
            self.count -= 1


def _task_outcome(run: AgentOutcome) -> TaskOutcome:
    """Answered: success. Out of time: timeout. Failed: error.

    An agent that stopped for another reason (max_steps, loop, token_budget)
    hands back what its tools found: a partial answer, counted as success
    when there is one. Those stops have their own counter and alert.
    """
    if run.answered:
        return TaskOutcome.SUCCESS
    if run.stop_reason is StopReason.DEADLINE:
        return TaskOutcome.TIMEOUT
    if run.stop_reason is not StopReason.ERROR and run.found():
        return TaskOutcome.SUCCESS
    return TaskOutcome.ERROR


def _with_python_agents(config: RuntimeConfig, agents: AgentRegistry) -> RuntimeConfig:
    """``config`` plus the Python agents it does not define itself."""
    defined = {a.name for a in config.agents}
    extra = tuple(spec for spec in agents.specs() if spec.name not in defined)
    return replace(config, agents=(*config.agents, *extra)) if extra else config


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


def _check_agents(config: RuntimeConfig, tools: ToolRegistry, python_agents: AgentRegistry) -> None:
    """Every tool an agent lists must exist; llm agents need a model, python agents a function."""
    names = {a.name for a in config.agents}
    for agent in config.agents:
        for name in agent.tools:
            as_agent = agent.kind is not AgentKind.PLAN and name in names
            if name not in tools and not as_agent:
                hint = " (only llm and python agents may list other agents)" if name in names else ""
                raise ConfigError(f"agents.{agent.name}.tools", f"unknown tool {name!r}{hint}", source=config.source)
        for index, step in enumerate(agent.plan):
            if step.tool not in tools:
                raise ConfigError(
                    f"agents.{agent.name}.plan[{index}].tool", f"unknown tool {step.tool!r}", source=config.source
                )
        if agent.kind is AgentKind.LLM and MODEL_TOOL not in tools:
            raise ConfigError(
                f"agents.{agent.name}.kind",
                "an llm agent needs a model: set AGENT_RUNTIME_LLM_BASE_URL and AGENT_RUNTIME_LLM_MODEL "
                f"(or register a {MODEL_TOOL!r} tool)",
                source=config.source,
            )
        if agent.kind is AgentKind.PYTHON and agent.name not in python_agents:
            raise ConfigError(
                f"agents.{agent.name}.kind",
                "kind: python, but no function is registered under this name (AgentRegistry.agent)",
                source=config.source,
            )
