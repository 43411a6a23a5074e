"""Exceptions the runtime raises or expects tools to raise."""

from __future__ import annotations


class AgentRuntimeError(Exception):
    """Base class for every error raised by agent_runtime."""


class ConfigError(AgentRuntimeError):
    """A configuration file or object is invalid.

    The message names the file (when there is one), the key path and what is
    wrong, e.g. ``agents.yaml: tools.promql_query.timeout_seconds: must be > 0,
    got -1``.
    """

    def __init__(self, key: str, problem: str, *, source: str | None = None) -> None:
        self.key = key
        self.problem = problem
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{key}: {problem}")


class UnknownAgentError(AgentRuntimeError):
    """A task asked for an agent that is not configured."""


class UnknownToolError(AgentRuntimeError):
    """A plan or request named a tool that is not registered."""


class PlanError(AgentRuntimeError):
    """A plan is malformed: a cycle, a missing dependency or a duplicate id."""


class RejectedError(AgentRuntimeError):
    """The runtime refused a task (over its in-flight limit, or bad input)."""


class ToolError(AgentRuntimeError):
    """A tool failed. Raise ``RetryableToolError`` for failures worth retrying."""

    retryable: bool = False


class RetryableToolError(ToolError):
    """A transient tool failure (timeouts upstream, 5xx, connection reset)."""

    retryable = True


class ToolTimeoutError(ToolError):
    """A tool call exceeded its timeout."""

    retryable = True


class CircuitOpenError(ToolError):
    """The tool's circuit breaker is open; the call was not attempted."""
