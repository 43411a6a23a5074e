"""Value types that flow through the runtime: tasks, decisions and results."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from agent_runtime.vocabulary import USABLE_TOOL_OUTCOMES, AgentKind, RoutingSource, StopReason

_Frozen = TypeVar("_Frozen")


def assembled(cls: type[_Frozen], **fields: Any) -> _Frozen:
    """An instance of the frozen dataclass ``cls`` from every one of its fields, without its ``__init__``.

    For the hot path's own short-lived value objects (a tool call's outcome,
    its pipeline report, a task's result): a frozen dataclass's ``__init__``
    sets each field through ``object.__setattr__``, about 1 us for eleven
    fields, where filling the new instance's ``__dict__`` at once takes a
    third of that. Every field must be given (there are no defaults here);
    the result is equal to, and behaves as, ``cls(**fields)``. It holds a
    dictionary of its own, about twice the memory of an instance built by
    ``__init__`` (whose attributes share their keys with the class's other
    instances), so objects kept in caches (routing decisions) are built by
    ``__init__``.

        >>> assembled(Task, text="hello", context={}, agent=None) == Task("hello")
        True
    """
    instance = object.__new__(cls)
    instance.__dict__.update(fields)
    return instance


@dataclass(frozen=True)
class Task:
    """A unit of work: free text, optional context and an optional forced agent."""

    text: str
    context: Mapping[str, Any] = field(default_factory=dict)
    agent: str | None = None


@dataclass(frozen=True)
class AgentScore:
    """One agent's confidence for a task, with a short human explanation."""

    agent: str
    confidence: float
    explanation: str


@dataclass(frozen=True)
class RoutingDecision:
    """Which agent handles a task, how sure the router is and why.

    ``source`` is one of cache, similar, scored, fallback; ``fallback`` says
    whether the decision went to the fallback chain, wherever it was served
    from (a cached fallback keeps it). ``config_version``
    and ``health_version`` record what the decision was made under, so cached
    decisions can be dropped when either changes.
    """

    agent: str
    confidence: float
    source: RoutingSource
    explanation: str
    gated: bool = False
    fallback: bool = False
    config_version: str = ""
    health_version: int = 0
    candidates: tuple[AgentScore, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "agent": self.agent,
            "confidence": round(self.confidence, 4),
            "source": self.source,
            "explanation": self.explanation,
            "gated": self.gated,
            "fallback": self.fallback,
            "candidates": [
                {"agent": c.agent, "confidence": round(c.confidence, 4), "explanation": c.explanation}
                for c in self.candidates
            ],
        }


@dataclass(frozen=True)
class ToolCallOutcome:
    """What happened to one tool call of a plan.

    ``outcome`` is one of success, error, timeout, short_circuited, fallback;
    ``cache_layer`` names the layer that answered (l0, l1, l2) or is None.
    """

    step_id: str
    tool: str
    call_id: str
    outcome: str
    result: Any = None
    error: str | None = None
    error_type: str | None = None
    cache_layer: str | None = None
    attempts: int = 0
    duration_seconds: float = 0.0
    turn: int | None = None

    @property
    def ok(self) -> bool:
        """True when the call produced a usable result (directly or by fallback)."""
        return self.outcome in USABLE_TOOL_OUTCOMES

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "step": self.step_id,
            "turn": self.turn,
            "tool": self.tool,
            "call_id": self.call_id,
            "outcome": self.outcome,
            "result": self.result,
            "error": self.error,
            "error_type": self.error_type,
            "cache_layer": self.cache_layer,
            "attempts": self.attempts,
            "duration_seconds": round(self.duration_seconds, 6),
        }


@dataclass(frozen=True)
class ModelTurn:
    """One model call of an agent: what it cost and the actions it chose.

    Each action is a dict with ``type`` (``tool_call``, ``final`` or
    ``invalid``) and, by type, ``tool`` and ``arguments``, ``answer``, or
    ``kind`` and ``error``. ``cache_layer`` names the layer that answered
    the call from cache, if one did (then it cost no tokens).
    """

    index: int
    model: str
    input_tokens: int
    output_tokens: int
    duration_seconds: float
    actions: tuple[Mapping[str, Any], ...] = ()
    cache_layer: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "index": self.index,
            "model": self.model,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "duration_seconds": round(self.duration_seconds, 6),
            "cache_layer": self.cache_layer,
            "actions": [dict(action) for action in self.actions],
            "error": self.error,
        }


@dataclass(frozen=True)
class TaskResult:
    """The result of ``Runtime.handle``: decision, model turns, tool calls, timings, trace id.

    ``stop_reason`` says why the agent stopped (``final`` when it answered);
    ``turns`` holds every model call of ``llm`` and ``python`` agents.
    """

    task: str
    outcome: str
    decision: RoutingDecision | None
    tool_calls: tuple[ToolCallOutcome, ...]
    stage_seconds: Mapping[str, float]
    duration_seconds: float
    trace_id: str | None
    output: Any = None
    error: str | None = None
    kind: AgentKind | None = None
    stop_reason: StopReason | None = None
    turns: tuple[ModelTurn, ...] = ()

    @property
    def tokens(self) -> tuple[int, int]:
        """(input, output) tokens of every model turn that reached the model."""
        paid = [turn for turn in self.turns if turn.cache_layer is None]
        return sum(t.input_tokens for t in paid), sum(t.output_tokens for t in paid)

    @property
    def agent(self) -> str | None:
        """The agent that handled the task, if it was routed."""
        return self.decision.agent if self.decision else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view, as served by ``POST /v1/tasks``."""
        return {
            "task": self.task,
            "outcome": self.outcome,
            "agent": self.agent,
            "kind": self.kind,
            "stop_reason": self.stop_reason,
            "decision": self.decision.to_dict() if self.decision else None,
            "turns": [turn.to_dict() for turn in self.turns],
            "tool_calls": [call.to_dict() for call in self.tool_calls],
            "stage_seconds": {k: round(v, 6) for k, v in self.stage_seconds.items()},
            "duration_seconds": round(self.duration_seconds, 6),
            "trace_id": self.trace_id,
            "output": self.output,
            "error": self.error,
        }
