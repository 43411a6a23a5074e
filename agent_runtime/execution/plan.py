"""Plans: an agent's tool calls as a validated DAG.

An agent's configured steps become a ``Plan`` for one task: argument
templates are filled from the task, ``$steps.<id>`` references become
dependencies, and the graph is checked for unknown tools, missing
dependencies and cycles before anything runs.

Example::

    >>> from agent_runtime.config.models import PlanStep
    >>> plan = build_plan(
    ...     (PlanStep("find", "search", {"query": "{task}"}),
    ...      PlanStep("sum", "summarise", {"passages": "$steps.find"})),
    ...     task_text="cache misses", context={}, known_tools={"search", "summarise"})
    >>> [level for level in plan.levels()]
    [('find',), ('sum',)]
"""

from __future__ import annotations

import string
from collections.abc import Container, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent_runtime.config.models import PlanStep
from agent_runtime.errors import PlanError

STEP_REF_PREFIX = "$steps."
_FORMATTER = string.Formatter()


@dataclass(frozen=True)
class StepRef:
    """A placeholder for the result of another step, resolved at run time."""

    step_id: str


@dataclass(frozen=True)
class PlannedCall:
    """One tool call of a plan with its filled-in arguments and dependencies."""

    id: str
    tool: str
    args: Mapping[str, Any]
    depends_on: frozenset[str] = field(default_factory=frozenset)
    call_id: str | None = None

    def resolve_args(self, results: Mapping[str, Any]) -> dict[str, Any]:
        """Arguments with every ``StepRef`` replaced by that step's result."""
        return {key: _resolve(value, results) for key, value in self.args.items()}


@dataclass(frozen=True)
class Plan:
    """A validated DAG of tool calls, in topological order."""

    calls: tuple[PlannedCall, ...]

    def by_id(self) -> dict[str, PlannedCall]:
        """Calls keyed by step id."""
        return {call.id: call for call in self.calls}

    def sinks(self) -> tuple[str, ...]:
        """Steps no other step depends on: their results form the task output."""
        needed = {dep for call in self.calls for dep in call.depends_on}
        return tuple(call.id for call in self.calls if call.id not in needed)

    def levels(self) -> Iterator[tuple[str, ...]]:
        """Groups of step ids that can run together, in dependency order."""
        done: set[str] = set()
        remaining = list(self.calls)
        while remaining:
            ready = tuple(call.id for call in remaining if call.depends_on <= done)
            yield ready
            done.update(ready)
            remaining = [call for call in remaining if call.id not in done]


def _resolve(value: Any, results: Mapping[str, Any]) -> Any:
    if isinstance(value, StepRef):
        return results.get(value.step_id)
    if isinstance(value, list):
        return [_resolve(item, results) for item in value]
    if isinstance(value, dict):
        return {key: _resolve(item, results) for key, item in value.items()}
    return value


def _fill(value: Any, step: str, task_text: str, context: Mapping[str, Any], refs: set[str]) -> Any:
    """Fill ``{task}`` / ``{context[key]}`` templates and collect ``$steps.`` refs."""
    if isinstance(value, str):
        if value.startswith(STEP_REF_PREFIX):
            ref = value[len(STEP_REF_PREFIX) :]
            refs.add(ref)
            return StepRef(ref)
        if "{" not in value:
            return value
        return _format(value, step, task_text, context)
    if isinstance(value, list):
        return [_fill(item, step, task_text, context, refs) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, step, task_text, context, refs) for key, item in value.items()}
    return value


def _format(template: str, step: str, task_text: str, context: Mapping[str, Any]) -> str:
    # Only {task} and {context[key]} are allowed: no attribute access on user data.
    out: list[str] = []
    for literal, name, _spec, _conv in _FORMATTER.parse(template):
        out.append(literal)
        if name is None:
            continue
        if name == "task":
            out.append(task_text)
        elif name.startswith("context[") and name.endswith("]"):
            key = name[len("context[") : -1]
            if key not in context:
                raise PlanError(f"step {step!r} needs context key {key!r}, which the task did not provide")
            out.append(str(context[key]))
        else:
            raise PlanError(f"step {step!r}: unsupported template field {{{name}}}; use {{task}} or {{context[key]}}")
    return "".join(out)


def build_plan(
    steps: Sequence[PlanStep],
    *,
    task_text: str,
    context: Mapping[str, Any],
    known_tools: Container[str],
) -> Plan:
    """Fill templates, derive dependencies and validate the DAG.

    Raises ``PlanError`` for an unknown tool, a duplicate step, a dependency on
    a step that does not exist, or a cycle (naming the steps in it).
    """
    calls: dict[str, PlannedCall] = {}
    for step in steps:
        if step.id in calls:
            raise PlanError(f"step id {step.id!r} is used twice")
        if step.tool not in known_tools:
            raise PlanError(f"step {step.id!r} uses unknown tool {step.tool!r}")
        refs: set[str] = set()
        args = {key: _fill(value, step.id, task_text, context, refs) for key, value in step.args.items()}
        calls[step.id] = PlannedCall(step.id, step.tool, args, frozenset(refs | set(step.depends_on)))
    for call in calls.values():
        missing = sorted(call.depends_on - calls.keys())
        if missing:
            raise PlanError(f"step {call.id!r} depends on unknown step {missing[0]!r}")
    return Plan(_topological(calls))


def _topological(calls: Mapping[str, PlannedCall]) -> tuple[PlannedCall, ...]:
    """Kahn's algorithm; what is left over when no step is ready is a cycle."""
    order: list[PlannedCall] = []
    done: set[str] = set()
    pending = dict(calls)
    while pending:
        ready = [call for call in pending.values() if call.depends_on <= done]
        if not ready:
            cycle = " -> ".join(sorted(pending))
            raise PlanError(f"plan has a dependency cycle among steps: {cycle}")
        for call in ready:
            order.append(call)
            done.add(call.id)
            del pending[call.id]
    return tuple(order)
