"""Python agents: a function that decides, calling tools and the model through a context.

A Python agent is registered like a tool (``AgentRegistry.agent``) and is
routed like any agent. It receives the task and an ``AgentContext``; every
tool call it makes goes through the tool pipeline and nests in the task's
trace, every model call is a recorded turn, and the deadline is the task's.
What it returns is the answer; an exception it raises ends the run with
stop reason ``error`` (never a 500).

Example::

    >>> from agent_runtime import AgentRegistry, Runtime, ToolRegistry, parse_config
    >>> tools, agents = ToolRegistry(), AgentRegistry()
    >>> @tools.tool()
    ... def forecast(city: str) -> str:
    ...     return f"sunny in {city}"
    >>> @agents.agent(tools=("forecast",), keywords=("weather", "rain"))
    ... def weather(task, ctx):
    ...     cities = ctx.call_parallel([("forecast", {"city": c}) for c in ("Oslo", "Rome")])
    ...     return "; ".join(call.result for call in cities)
    >>> runtime = Runtime(parse_config({}), tools=tools, agents=agents, metrics_registry=None)
    >>> runtime.handle("weather today?").output
    'sunny in Oslo; sunny in Rome'
    >>> runtime.close()
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agent_runtime.agents.actions import Action
from agent_runtime.agents.run import AgentOutcome, TaskRun
from agent_runtime.config.models import AgentSpec
from agent_runtime.errors import ToolError
from agent_runtime.results import Task, ToolCallOutcome
from agent_runtime.vocabulary import StopReason

if TYPE_CHECKING:
    from agent_runtime.agents.runner import AgentRunner


class ToolCallFailedError(ToolError):
    """A tool call made through ``AgentContext.call`` did not produce a result; ``outcome`` says how."""

    def __init__(self, outcome: ToolCallOutcome) -> None:
        super().__init__(f"{outcome.tool} failed ({outcome.outcome}): {outcome.error}")
        self.outcome = outcome


class DeadlineExceededError(ToolError):
    """The task's deadline passed; a Python agent should stop and return what it has."""


class AgentContext:
    """What a Python agent works with: its tools, the model, the deadline and the budget."""

    def __init__(self, runner: AgentRunner, spec: AgentSpec, task: Task, run: TaskRun, outcome: AgentOutcome) -> None:
        self._runner = runner
        self._spec = spec
        self._run = run
        self._outcome = outcome
        self.task = task

    @property
    def agent(self) -> str:
        """The name of the agent running."""
        return self._spec.name

    @property
    def remaining_seconds(self) -> float:
        """Seconds left before the task's deadline."""
        return self._run.remaining_seconds

    @property
    def tokens_left(self) -> int:
        """Model tokens the task may still spend."""
        return self._run.tokens_left

    def call(self, tool: str, /, **args: Any) -> Any:
        """Call ``tool`` (or an agent listed as a tool, with ``task=...``); its result, else ``ToolCallFailedError``."""
        outcome = self.try_call(tool, **args)
        if not outcome.ok:
            raise ToolCallFailedError(outcome)
        return outcome.result

    def try_call(self, tool: str, /, **args: Any) -> ToolCallOutcome:
        """Call ``tool`` and return its outcome, whatever happened."""
        return self.call_parallel([(tool, args)])[0]

    def call_parallel(self, calls: Sequence[tuple[str, Mapping[str, Any]]]) -> list[ToolCallOutcome]:
        """Run independent calls at once (under the execution limits); outcomes in the same order."""
        for tool, _ in calls:
            if tool not in self._spec.tools:
                listed = ", ".join(self._spec.tools) or "none"
                raise ToolError(f"agent {self._spec.name!r} does not list tool {tool!r}; it lists: {listed}")
        if self._run.expired:
            raise DeadlineExceededError("the task deadline passed")
        actions = [Action(tool=tool, arguments=dict(args)) for tool, args in calls]
        turn = len(self._outcome.turns) - 1 if self._outcome.turns else None
        outcomes, timed_out = self._runner.call_tools(self._spec, actions, self._run, turn=turn)
        self._outcome.calls.extend(outcomes)
        if timed_out:
            raise DeadlineExceededError("the task deadline passed during tool calls")
        return list(outcomes)

    def chat(self, **arguments: Any) -> Mapping[str, Any]:
        """One model call (``llm_chat`` arguments: ``prompt`` or ``messages``, ``system``, ...); its result.

        Raises ``ToolCallFailedError``-like ``ToolError`` when the model could not
        answer, and ``DeadlineExceededError`` past the deadline.
        """
        if self._run.expired:
            raise DeadlineExceededError("the task deadline passed")
        reply = self._runner.chat(self._spec, len(self._outcome.turns), arguments, self._run)
        self._outcome.turns.append(reply.turn)
        if reply.turn.cache_layer is None:
            self._run.spend(reply.turn.input_tokens + reply.turn.output_tokens)
        if not reply.ok:
            raise ToolError(f"the model call failed: {reply.turn.error}")
        return reply.value


def run_python_agent(runner: AgentRunner, spec: AgentSpec, task: Task, run: TaskRun) -> AgentOutcome:
    """Call the function registered for ``spec`` and turn what it does into an ``AgentOutcome``."""
    outcome = AgentOutcome(StopReason.FINAL)
    function = runner.python_agents.function(spec.name)
    context = AgentContext(runner, spec, task, run, outcome)
    try:
        outcome.output = function(task, context)
    except DeadlineExceededError as exc:
        return _stopped(outcome, StopReason.DEADLINE, str(exc))
    except Exception as exc:
        # The agent's own code failed: the task reports it, the service stays up.
        return _stopped(outcome, StopReason.ERROR, f"{type(exc).__name__}: {exc}")
    return outcome


def _stopped(outcome: AgentOutcome, reason: StopReason, error: str) -> AgentOutcome:
    outcome.stop_reason = reason
    outcome.error = error
    outcome.output = outcome.found() or None
    return outcome
