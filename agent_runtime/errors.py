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
    """A tool refused its input: bad arguments, a URL off the allow-list, a 4xx.

    The caller caused it, so it counts as ``outcome=error`` but never against
    the tool's circuit breaker (one client must not open a tool for
    everyone). Raise ``DependencyError`` or ``RetryableToolError`` when the
    dependency behind the tool failed. Any other exception a tool raises
    counts as a dependency failure.
    """

    retryable: bool = False
    trips_breaker: bool = False


class DependencyError(ToolError):
    """The dependency behind a tool failed in a way retrying will not fix (a malformed response)."""

    trips_breaker = True


class RetryableToolError(DependencyError):
    """A transient dependency failure (timeouts upstream, 5xx, 429, connection reset)."""

    retryable = True


class ToolTimeoutError(RetryableToolError):
    """A tool call exceeded its timeout."""


class ToolBusyError(RetryableToolError):
    """The tool already holds its share of the tool workers (its attempts run, or hang): not started.

    Retried after a back-off; not the tool's failure, so never against its breaker (its hung attempts'
    own timeouts are).
    """

    trips_breaker = False


class TaskDeadlineError(ToolTimeoutError):
    """The task ran out of time while a tool ran: not the tool's fault, so no retry and no breaker failure."""

    retryable = False
    trips_breaker = False


class ModelRequestError(ToolError):
    """The model server refused the request itself (a 4xx other than authentication or rate limits).

    ``tools_unsupported`` is True when the request carried native tool
    definitions and the server said its model cannot take them; an agent in
    ``tool_call_mode: auto`` then switches to the json_schema protocol.
    """

    def __init__(self, message: str, *, status: int, tools_unsupported: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.tools_unsupported = tools_unsupported


def trips_breaker(error: BaseException) -> bool:
    """True when ``error`` says the dependency failed (it counts against the breaker).

    >>> trips_breaker(ToolError("url not allowed")), trips_breaker(RetryableToolError("503"))
    (False, True)
    >>> trips_breaker(ConnectionError("reset"))
    True
    """
    return error.trips_breaker if isinstance(error, ToolError) else True


class CircuitOpenError(ToolError):
    """The tool's circuit breaker is open; the call was not attempted."""


def shorten(text: str, limit: int, *, squash_whitespace: bool = False) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis marking the cut: what a user or a model sent, bounded for
    a message that echoes it (``squash_whitespace``: runs of whitespace made one space first).

    >>> shorten("a" * 10, 5), shorten("a   b", 10, squash_whitespace=True)
    ('aaaa…', 'a b')
    """
    if squash_whitespace:
        text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
