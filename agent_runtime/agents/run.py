"""What one task's agents share while they run, and what an agent run produced.

``TaskRun`` is created once per task and handed down to nested agents (an
agent listed as another agent's tool): they share its deadline and token
budget, and its depth bounds the nesting. ``AgentOutcome`` is what every
agent kind returns to the runtime.

Example::

    >>> run = TaskRun.starting(timeout_seconds=30, token_budget=100, max_depth=3)
    >>> run.spend(60); run.tokens_left
    40
    >>> run.nested().depth
    1
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent_runtime.results import ModelTurn, ToolCallOutcome
from agent_runtime.vocabulary import StopReason


class _Tokens:
    """A thread-safe token counter shared by a task and its nested agents."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0
        self._lock = threading.Lock()

    def spend(self, tokens: int) -> None:
        with self._lock:
            self.used += tokens


@dataclass(frozen=True)
class TaskRun:
    """A task's deadline (monotonic seconds), shared token budget and nesting depth."""

    deadline: float
    max_depth: int
    depth: int = 0
    _tokens: _Tokens = field(default_factory=lambda: _Tokens(0), repr=False)
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def starting(
        cls,
        *,
        timeout_seconds: float,
        token_budget: int,
        max_depth: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> TaskRun:
        """A fresh run for a task that may take ``timeout_seconds`` and ``token_budget`` tokens."""
        return cls(clock() + timeout_seconds, max_depth, 0, _Tokens(token_budget), clock)

    def nested(self) -> TaskRun:
        """The run of an agent called as a tool: same deadline and budget, one level deeper."""
        return TaskRun(self.deadline, self.max_depth, self.depth + 1, self._tokens, self.clock)

    @property
    def remaining_seconds(self) -> float:
        """Seconds left before the task's deadline (0 once it has passed)."""
        return max(self.deadline - self.clock(), 0.0)

    @property
    def expired(self) -> bool:
        """True once the deadline has passed."""
        return self.clock() >= self.deadline

    @property
    def tokens_left(self) -> int:
        """Tokens the task may still spend (0 when the budget is spent)."""
        return max(self._tokens.budget - self._tokens.used, 0)

    @property
    def token_budget(self) -> int:
        """The tokens the task (with its nested agents) may spend in all."""
        return self._tokens.budget

    @property
    def tokens_used(self) -> int:
        """Tokens spent so far by the task and its nested agents."""
        return self._tokens.used

    def spend(self, tokens: int) -> None:
        """Charge ``tokens`` to the task's budget."""
        self._tokens.spend(tokens)


@dataclass
class AgentOutcome:
    """What one agent run produced: the answer (or what its tools found), its calls and turns, and why it stopped.

    ``answered`` is True when the agent gave its own answer; otherwise
    ``output`` holds the results its tools produced and ``error`` says why
    it stopped.
    """

    stop_reason: StopReason
    output: Any = None
    error: str | None = None
    calls: list[ToolCallOutcome] = field(default_factory=list)
    turns: list[ModelTurn] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)

    @property
    def answered(self) -> bool:
        """True when the agent stopped with its own final answer."""
        return self.stop_reason.answered

    def found(self) -> list[dict[str, Any]]:
        """The results of the tool calls that produced one: the partial answer of a run that did not finish."""
        return [{"tool": call.tool, "result": call.result} for call in self.calls if call.ok]
