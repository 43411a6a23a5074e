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
from typing import Any, Final

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
        if not self.depends_on:
            # No step refs (a ref is always a dependency): plain copies, as _resolve makes.
            return {key: _copy(value) for key, value in self.args.items()}
        return {key: _resolve(value, results) for key, value in self.args.items()}


@dataclass(frozen=True)
class Plan:
    """A validated DAG of tool calls, in topological order."""

    calls: tuple[PlannedCall, ...]
    # Known in advance for plans made from a compiled template.
    sink_ids: tuple[str, ...] | None = field(default=None, compare=False, repr=False)

    def by_id(self) -> dict[str, PlannedCall]:
        """Calls keyed by step id."""
        return {call.id: call for call in self.calls}

    def sinks(self) -> tuple[str, ...]:
        """Steps no other step depends on: their results form the task output."""
        if self.sink_ids is not None:
            return self.sink_ids
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


def _copy(value: Any) -> Any:
    if isinstance(value, list):
        return [_copy(item) for item in value]
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    return value


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


# --- Plans compiled once per agent -------------------------------------------------------------

_TASK: Final = object()  # a template piece that stands for the task text
PLAN_MEMO_SIZE: Final = 128
"""Plans a template keeps by task text (context-free tasks): repeated tasks reuse theirs."""


class PlanTemplate:
    """An agent's steps validated once, ready to become a ``Plan`` per task.

    ``compile_plan`` does everything ``build_plan`` does that does not depend
    on the task (unknown tools, duplicate steps, missing dependencies,
    cycles, unsupported template fields, the topological order and the
    sinks); ``instantiate`` only fills ``{task}`` and ``{context[key]}``.
    The plan it returns equals ``build_plan``'s for the same task.

    Plans are immutable (the executor copies arguments before a tool sees
    them), so the plan of a task without context is kept by its text, up to
    ``PLAN_MEMO_SIZE`` (then forgotten all at once): a repeated task, the
    common case behind the decision and tool caches, skips filling.
    """

    def __init__(self, steps: Sequence[PlanStep], order: tuple[PlannedCall, ...]) -> None:
        by_id = {call.id: call for call in order}
        self._static = all(not _needs_fill(call.args) for call in order)
        self._plan = Plan(order)
        self._plan = Plan(order, self._plan.sinks())
        # In configuration order, as build_plan fills them (so a missing context key names the same step).
        self._fillers: tuple[tuple[PlannedCall, dict[str, Any], bool], ...] = tuple(
            (by_id[step.id], _compile_args(by_id[step.id].args), _needs_fill(by_id[step.id].args)) for step in steps
        )
        self._order = tuple(call.id for call in order)
        self._memo: dict[str, Plan] = {}

    def instantiate(self, task_text: str, context: Mapping[str, Any]) -> Plan:
        """The plan for one task (``PlanError`` when a template needs a context key the task lacks)."""
        if self._static:
            return self._plan
        if context:
            return self._fill(task_text, context)
        memo = self._memo
        plan = memo.get(task_text)
        if plan is None:
            plan = self._fill(task_text, context)
            if len(memo) >= PLAN_MEMO_SIZE:
                memo.clear()
            memo[task_text] = plan
        return plan

    def _fill(self, task_text: str, context: Mapping[str, Any]) -> Plan:
        filled: dict[str, PlannedCall] = {}
        for call, compiled, needs_fill in self._fillers:
            if needs_fill:
                args = {key: _fill_compiled(piece, call.id, task_text, context) for key, piece in compiled.items()}
                filled[call.id] = PlannedCall(call.id, call.tool, args, call.depends_on)
            else:
                filled[call.id] = call
        return Plan(tuple(filled[step] for step in self._order), self._plan.sink_ids)


def compile_plan(steps: Sequence[PlanStep], *, known_tools: Container[str]) -> PlanTemplate:
    """Validate ``steps`` once; raises ``PlanError`` as ``build_plan`` would for a task-independent fault."""
    order = build_plan(steps, task_text="", context=_AnyContext(), known_tools=known_tools).calls
    # ``order`` holds the filled args for an empty task; re-derive the raw templates per step.
    by_id = {step.id: step for step in steps}
    raw = tuple(PlannedCall(call.id, call.tool, _template_args(by_id[call.id]), call.depends_on) for call in order)
    return PlanTemplate(steps, raw)


class _AnyContext(dict[str, Any]):
    """A context that has every key (compile-time validation of ``{context[key]}`` fields)."""

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: str) -> str:
        return ""


def _template_args(step: PlanStep) -> dict[str, Any]:
    return {key: _mark_refs(value) for key, value in step.args.items()}


def _mark_refs(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(STEP_REF_PREFIX):
        return StepRef(value[len(STEP_REF_PREFIX) :])
    if isinstance(value, list):
        return [_mark_refs(item) for item in value]
    if isinstance(value, dict):
        return {key: _mark_refs(item) for key, item in value.items()}
    return value


def _needs_fill(value: Any) -> bool:
    if isinstance(value, str):
        return "{" in value
    if isinstance(value, list):
        return any(_needs_fill(item) for item in value)
    if isinstance(value, Mapping):
        return any(_needs_fill(item) for item in value.values())
    return False


@dataclass(frozen=True, slots=True)
class _Template:
    """A string template split once into literals, ``_TASK`` and context keys (``("ctx", key)``)."""

    pieces: tuple[Any, ...]


def _compile_args(args: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _compile_value(value) for key, value in args.items()}


def _compile_value(value: Any) -> Any:
    if isinstance(value, str):
        if "{" not in value:
            return value
        pieces: list[Any] = []
        for literal, name, _spec, _conv in _FORMATTER.parse(value):
            if literal:
                pieces.append(literal)
            if name is None:
                continue
            if name == "task":
                pieces.append(_TASK)
            else:  # compile_plan has checked it is context[key]
                pieces.append(("ctx", name[len("context[") : -1]))
        return _Template(tuple(pieces))
    if isinstance(value, list):
        return [_compile_value(item) for item in value]
    if isinstance(value, dict):
        return {key: _compile_value(item) for key, item in value.items()}
    return value


def _fill_compiled(value: Any, step: str, task_text: str, context: Mapping[str, Any]) -> Any:
    if isinstance(value, _Template):
        out: list[str] = []
        for piece in value.pieces:
            if piece is _TASK:
                out.append(task_text)
            elif isinstance(piece, tuple):
                key = piece[1]
                if key not in context:
                    raise PlanError(f"step {step!r} needs context key {key!r}, which the task did not provide")
                out.append(str(context[key]))
            else:
                out.append(piece)
        return "".join(out)
    if isinstance(value, list):
        return [_fill_compiled(item, step, task_text, context) for item in value]
    if isinstance(value, dict):
        return {key: _fill_compiled(item, step, task_text, context) for key, item in value.items()}
    return value
