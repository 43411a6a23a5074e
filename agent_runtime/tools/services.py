"""``ToolServices``: a tool's way back into the runtime it is registered with.

Some tools need the runtime: ``llm_chat`` reports GenAI events to its
listeners, ``write_answer`` calls ``llm_chat`` through the tool pipeline (so
the model call gets the cache, breaker, retries, timeout and telemetry of
any tool call). Tools are registered before the runtime exists, because the
runtime validates its configuration against them, so the composition root
hands them this handle first and binds it to the runtime once it is built.
Events before binding are dropped; a tool call before binding is an error.

Example::

    >>> services = ToolServices()
    >>> services.call("echo", {})
    Traceback (most recent call last):
    ...
    agent_runtime.errors.ToolError: the runtime is not built yet: bind ToolServices to it first
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from agent_runtime.errors import ToolError
from agent_runtime.execution.executor import CallReport
from agent_runtime.telemetry.listener import ListenerSet, RuntimeListener

ToolCall = Callable[[str, Mapping[str, Any]], CallReport]


class ToolServices(ListenerSet):
    """Forwards events to the runtime's listener and tool calls to its pipeline, once bound."""

    def __init__(self) -> None:
        super().__init__()
        self._call: ToolCall | None = None

    def bind(self, listener: RuntimeListener, call: ToolCall) -> None:
        """Attach the runtime's listener and its pipeline's ``call`` (done once by the composition root)."""
        self._bind((listener,))
        self._call = call

    def call(self, tool: str, args: Mapping[str, Any]) -> CallReport:
        """Call ``tool`` through the runtime's pipeline; its report (never raises for a tool failure)."""
        if self._call is None:
            raise ToolError("the runtime is not built yet: bind ToolServices to it first")
        return self._call(tool, args)
