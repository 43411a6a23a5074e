"""The ``llm_chat`` request: the caller's arguments checked and built into a chat-completions body.

Plan arguments are rendered templates and model-written tool calls, so each
argument is checked here and a bad one is a ``ToolError`` naming it, raised
before any request is sent (it never trips the breaker):

- exactly one of ``prompt`` (one user message) or ``messages`` (OpenAI chat
  messages, including assistant ``tool_calls`` and ``role: "tool"`` results,
  extra fields kept), with an optional ``system`` message put first;
- ``model``, ``temperature`` (0 to ``MAX_TEMPERATURE``) and ``max_tokens`` (1
  to ``MAX_TOKENS_LIMIT``), defaulting to the configured ones; numbers may be
  numeric strings, as plan templates render them;
- ``tools`` (OpenAI function tools), ``tool_choice`` (only with tools) and
  ``response_format`` (``text``, ``json_object`` or ``json_schema``), passed
  through once checked.

``LLM_CHAT_PARAMETERS`` is the smaller schema a model sees when an agent
offers it ``llm_chat`` as a tool.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from agent_runtime.builtin_tools._args import coerce_float, coerce_int, require_text
from agent_runtime.builtin_tools.settings import LlmSettings
from agent_runtime.errors import ToolError

__all__ = ["LLM_CHAT_PARAMETERS", "MAX_TEMPERATURE", "MAX_TOKENS_LIMIT", "build_messages", "build_request"]

MAX_TOKENS_LIMIT: Final = 1_000_000
MAX_TEMPERATURE: Final = 2.0
_ROLES: Final = ("system", "developer", "user", "assistant", "tool")
_TOOL_CHOICES: Final = ("none", "auto", "required")
_RESPONSE_FORMATS: Final = ("text", "json_object", "json_schema")

#: The arguments a model may pass when an agent offers it ``llm_chat`` as a tool.
LLM_CHAT_PARAMETERS: Final[Mapping[str, Any]] = {
    "type": "object",
    "properties": {
        "prompt": {"type": "string", "description": "the question or instruction for the model"},
        "system": {"type": "string", "description": "an optional system message"},
        "temperature": {"type": "number", "minimum": 0, "maximum": MAX_TEMPERATURE},
        "max_tokens": {"type": "integer", "minimum": 1, "maximum": MAX_TOKENS_LIMIT},
    },
    "required": ["prompt"],
    "additionalProperties": False,
}


def build_request(
    settings: LlmSettings,
    *,
    prompt: str | None = None,
    messages: Sequence[Mapping[str, Any]] | None = None,
    system: str | None = None,
    model: str | None = None,
    temperature: float | str | None = None,
    max_tokens: int | str | None = None,
    tools: Sequence[Mapping[str, Any]] | None = None,
    tool_choice: str | Mapping[str, Any] | None = None,
    response_format: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The chat-completions request body for these arguments; ``ToolError`` naming a bad one.

    Arguments left out (or None) take ``settings``' model, temperature and max_tokens.
    """
    if not settings.is_configured:
        raise ToolError("llm_chat is not configured: set AGENT_RUNTIME_LLM_BASE_URL and AGENT_RUNTIME_LLM_MODEL")
    request: dict[str, Any] = {
        "model": str(settings.model) if model is None else require_text("model", model).strip(),
        "messages": build_messages(prompt, messages, system),
        "temperature": _temperature(settings.temperature if temperature is None else temperature),
    }
    limit = settings.max_tokens if max_tokens is None else max_tokens
    if limit is not None:
        request["max_tokens"] = coerce_int("max_tokens", limit, 1, MAX_TOKENS_LIMIT)
    checked_tools = _tools(tools) if tools is not None else []
    if checked_tools:
        request["tools"] = checked_tools
    if tool_choice is not None:
        if not checked_tools:
            raise ToolError("tool_choice needs tools")
        request["tool_choice"] = _tool_choice(tool_choice)
    if response_format is not None:
        request["response_format"] = _response_format(response_format)
    try:
        json.dumps(request, allow_nan=False)
    except (TypeError, ValueError):
        raise ToolError("llm_chat arguments must be JSON-serialisable (strings, numbers, lists, objects)") from None
    return request


def build_messages(
    prompt: str | None, messages: Sequence[Mapping[str, Any]] | None, system: str | None
) -> list[dict[str, Any]]:
    """The request's messages from ``messages`` or ``prompt``, with ``system`` first if given."""
    if (prompt is None) == (messages is None):
        raise ToolError("llm_chat needs exactly one of prompt or messages")
    if prompt is not None:
        result: list[dict[str, Any]] = [{"role": "user", "content": require_text("prompt", prompt)}]
    else:
        if not isinstance(messages, Sequence) or isinstance(messages, str | bytes) or not messages:
            raise ToolError("messages must be a non-empty list of OpenAI chat messages ({role, content} objects)")
        result = [_message(number, message) for number, message in enumerate(messages)]
    if system is not None:
        result.insert(0, {"role": "system", "content": require_text("system", system)})
    return result


def _message(number: int, message: object) -> dict[str, Any]:
    where = f"messages[{number}]"
    if not isinstance(message, Mapping):
        raise ToolError(f"{where} must be an object with a role, got {type(message).__name__}")
    role = message.get("role")
    if role not in _ROLES:
        raise ToolError(f"{where}.role must be one of {', '.join(_ROLES)}, got {role!r}")
    content = message.get("content")
    if content is not None and not isinstance(content, str | list):
        raise ToolError(f"{where}.content must be a string, a list of content parts or null")
    calls = message.get("tool_calls")
    if calls is not None:
        if role != "assistant":
            raise ToolError(f"{where}: only assistant messages carry tool_calls")
        _check_tool_calls(where, calls)
    if content is None and role != "assistant":
        raise ToolError(f"{where}.content is required for a {role} message")
    if role == "assistant" and content is None and not calls:
        raise ToolError(f"{where}: an assistant message needs content or tool_calls")
    if role == "tool":
        call_id = message.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id:
            raise ToolError(f"{where}.tool_call_id must be the id of the tool call this message answers")
    return dict(message)


def _check_tool_calls(where: str, calls: object) -> None:
    if not isinstance(calls, list):
        raise ToolError(f"{where}.tool_calls must be a list")
    for index, call in enumerate(calls):
        at = f"{where}.tool_calls[{index}]"
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(call, Mapping) or not isinstance(call.get("id"), str) or not isinstance(function, Mapping):
            raise ToolError(f"{at} must be {{id, type: function, function: {{name, arguments}}}}")
        if not isinstance(function.get("name"), str) or not isinstance(function.get("arguments"), str):
            raise ToolError(f"{at}.function needs a string name and string arguments (JSON text)")


def _tools(tools: object) -> list[dict[str, Any]]:
    if not isinstance(tools, Sequence) or isinstance(tools, str | bytes):
        raise ToolError("tools must be a list of OpenAI function tools ({type: function, function: {name, ...}})")
    checked: list[dict[str, Any]] = []
    for index, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if not isinstance(tool, Mapping) or tool.get("type") != "function" or not isinstance(function, Mapping):
            raise ToolError(f"tools[{index}] must be {{type: function, function: {{name, description, parameters}}}}")
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise ToolError(f"tools[{index}].function.name must be a non-empty string")
        parameters = function.get("parameters")
        if parameters is not None and not isinstance(parameters, Mapping):
            raise ToolError(f"tools[{index}].function.parameters must be a JSON schema object")
        checked.append(dict(tool))
    return checked


def _tool_choice(choice: object) -> str | dict[str, Any]:
    if isinstance(choice, str):
        if choice not in _TOOL_CHOICES:
            raise ToolError(f"tool_choice must be one of {', '.join(_TOOL_CHOICES)} or a function, got {choice!r}")
        return choice
    function = choice.get("function") if isinstance(choice, Mapping) else None
    named = isinstance(function, Mapping) and isinstance(function.get("name"), str)
    if not isinstance(choice, Mapping) or not named:
        raise ToolError('tool_choice must be "none", "auto", "required" or {type: function, function: {name}}')
    return dict(choice)


def _response_format(value: object) -> dict[str, Any]:
    kind = value.get("type") if isinstance(value, Mapping) else None
    if not isinstance(value, Mapping) or kind not in _RESPONSE_FORMATS:
        raise ToolError(f"response_format must be an object whose type is one of {', '.join(_RESPONSE_FORMATS)}")
    if kind == "json_schema" and not isinstance(value.get("json_schema"), Mapping):
        raise ToolError("response_format of type json_schema needs a json_schema object ({name, schema})")
    return dict(value)


def _temperature(value: object) -> float:
    number = coerce_float("temperature", value)
    if not 0 <= number <= MAX_TEMPERATURE:
        raise ToolError(f"temperature must be between 0 and {MAX_TEMPERATURE:g}, got {number:g}")
    return number
