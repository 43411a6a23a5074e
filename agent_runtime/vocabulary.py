"""The runtime's vocabularies: every fixed set of names, defined once.

Outcomes, stages, routing sources, agent kinds, stop reasons and the rest
are ``StrEnum``s, so code compares and passes members while telemetry,
OpenAPI and the label guard read the same values. The metric catalog
derives its label enums from here; nothing else spells these strings.

Example::

    >>> ToolOutcome.FALLBACK in ToolOutcome.usable()
    True
    >>> StopReason("max_steps").answered
    False
    >>> values(AgentKind)
    ('plan', 'llm', 'python')
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class TaskOutcome(StrEnum):
    """How a task ended."""

    SUCCESS = "success"
    ERROR = "error"
    TIMEOUT = "timeout"
    REJECTED = "rejected"


class ToolOutcome(StrEnum):
    """How one tool call through the pipeline ended."""

    SUCCESS = "success"
    ERROR = "error"
    TIMEOUT = "timeout"
    SHORT_CIRCUITED = "short_circuited"
    FALLBACK = "fallback"

    @staticmethod
    def usable() -> frozenset[ToolOutcome]:
        """The outcomes that produced a result (directly or by fallback): ``USABLE_TOOL_OUTCOMES``."""
        return USABLE_TOOL_OUTCOMES


USABLE_TOOL_OUTCOMES: Final = frozenset({ToolOutcome.SUCCESS, ToolOutcome.FALLBACK})
"""``ToolOutcome.usable()`` as a constant, for the hot path (a module constant costs less than the call)."""


class RoutingSource(StrEnum):
    """Where a routing decision came from."""

    CACHE = "cache"
    SIMILAR = "similar"
    SCORED = "scored"
    FALLBACK = "fallback"


class Stage(StrEnum):
    """Timed stages of the hot path (the profiler, the stage histogram, the bottleneck alert)."""

    ANALYSE = "analyse"
    SCORE = "score"
    ROUTE = "route"
    PLAN = "plan"
    EXECUTE = "execute"
    MODEL = "model"
    TOOL = "tool"
    CACHE = "cache"
    AGGREGATE = "aggregate"


class AgentKind(StrEnum):
    """How an agent decides what to do."""

    PLAN = "plan"
    LLM = "llm"
    PYTHON = "python"


class StopReason(StrEnum):
    """Why an agent stopped.

    ``forced_final`` is an answer the model gave in a last turn that allowed
    nothing else, because the run was about to end without one (a loop, its
    last step, or a token budget with room for one short answer left).
    """

    FINAL = "final"
    FORCED_FINAL = "forced_final"
    MAX_STEPS = "max_steps"
    LOOP = "loop"
    TOKEN_BUDGET = "token_budget"
    DEADLINE = "deadline"
    ERROR = "error"

    @property
    def answered(self) -> bool:
        """True when the agent produced its own final answer (forced or not)."""
        return self in _ANSWERED


_ANSWERED: Final = frozenset({StopReason.FINAL, StopReason.FORCED_FINAL})


class InvalidAction(StrEnum):
    """Kinds of bad model output, each sent back to the model and counted."""

    INVALID_JSON = "invalid_json"
    UNKNOWN_TOOL = "unknown_tool"
    BAD_ARGUMENTS = "bad_arguments"
    EMPTY = "empty"


class ToolCallMode(StrEnum):
    """How an LLM agent's model asks for tools."""

    NATIVE = "native"
    JSON_SCHEMA = "json_schema"
    AUTO = "auto"


class ModelError(StrEnum):
    """Why a model call failed (the ``error.type`` of GenAI spans and metrics): a fixed, low-cardinality set."""

    TIMEOUT = "timeout"
    CONNECTION = "connection_error"
    RATE_LIMITED = "rate_limited"
    SERVER = "server_error"
    BAD_REQUEST = "bad_request"
    AUTHENTICATION = "authentication"
    INVALID_RESPONSE = "invalid_response"


class CacheName(StrEnum):
    """The runtime's caches."""

    TOOL = "tool"
    DECISION = "decision"
    ANALYSIS = "analysis"
    LLM = "llm"


class CacheLayer(StrEnum):
    """Cache layers: the tool cache's three, the decision cache's two."""

    L0 = "l0"
    L1 = "l1"
    L2 = "l2"
    EXACT = "exact"
    SIMILAR = "similar"


class CacheResult(StrEnum):
    """A cache look-up's result."""

    HIT = "hit"
    MISS = "miss"


class BreakerState(StrEnum):
    """Circuit breaker states; the gauge value is the member's position."""

    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"

    @property
    def gauge_value(self) -> float:
        """0 closed, 1 half-open, 2 open."""
        return float(_BREAKER_ORDER.index(self))


_BREAKER_ORDER: Final = tuple(BreakerState)


class TelemetrySignal(StrEnum):
    """Telemetry signals that can fail to export."""

    TRACES = "traces"
    METRICS = "metrics"


class TokenType(StrEnum):
    """GenAI token types (OpenTelemetry ``gen_ai.token.type``)."""

    INPUT = "input"
    OUTPUT = "output"


class GenAiOperation(StrEnum):
    """GenAI operation names the runtime reports (OpenTelemetry ``gen_ai.operation.name``)."""

    CHAT = "chat"
    INVOKE_AGENT = "invoke_agent"
    EXECUTE_TOOL = "execute_tool"


# The tool every model call goes through (cache, breaker, retries, timeout), whoever makes it.
MODEL_TOOL: Final = "llm_chat"

UNROUTED_AGENT: Final = "none"
"""The ``agent`` label of a task no agent took: rejected at the in-flight limit, or refused before routing."""


def values(enum: type[StrEnum]) -> tuple[str, ...]:
    """The member values of ``enum``, in definition order."""
    return tuple(member.value for member in enum)


__all__ = [
    "MODEL_TOOL",
    "USABLE_TOOL_OUTCOMES",
    "AgentKind",
    "BreakerState",
    "CacheLayer",
    "CacheName",
    "CacheResult",
    "GenAiOperation",
    "InvalidAction",
    "ModelError",
    "RoutingSource",
    "Stage",
    "StopReason",
    "TaskOutcome",
    "TelemetrySignal",
    "TokenType",
    "ToolCallMode",
    "ToolOutcome",
    "values",
]
