"""The ``llm_chat`` response: the SDK's completion read into a result, its errors classified and redacted.

- A completion becomes ``{"content", "tool_calls": [{"id", "name",
  "arguments"}], "finish_reason", "model", "usage": {"input_tokens",
  "output_tokens"}, "cost_dollars"}``; ``arguments`` is the raw text the model
  sent, and counts a server got wrong are 0.
- An SDK error becomes a ``Failure``: the ``ToolError`` to raise and the
  ``error.type`` to report. Timeouts, connection failures, 408, 429 and 5xx
  are ``RetryableToolError``; 401/403 and malformed responses are
  ``DependencyError``; other 4xx are ``ModelRequestError``, whose
  ``tools_unsupported`` says the server refused the request's ``tools``.
- The server's message is redacted (``redact``) before it is shortened to
  ``MAX_ERROR_CHARS``, so an echoed API key never shows, whole or in part.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import openai
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.trace import Span

from agent_runtime.errors import DependencyError, ModelRequestError, RetryableToolError, ToolError
from agent_runtime.vocabulary import ModelError

__all__ = ["MAX_ERROR_CHARS", "REDACTED", "Failure", "classify_error", "cost_of", "parse_completion", "redact"]

REDACTED: Final = "[REDACTED]"
MAX_ERROR_CHARS: Final = 300
# A server that echoes only part of the key (it shortened its message) still must not show this much of it.
_MIN_KEY_FRAGMENT: Final = 6
_TOOLS_WORD = re.compile(r"\btools?\b|tool[_ ]?calls?|tool[_ ]?choice|function[_ ]?call", re.IGNORECASE)
_REFUSAL_WORD = re.compile(
    r"not supported|unsupported|does not support|doesn't support|not enabled|requires|not available", re.IGNORECASE
)


@dataclass(frozen=True)
class Failure:
    """A failed model call: the error to raise and the ``error.type`` its span and ``ModelCall`` report."""

    error: ToolError
    error_type: ModelError


def redact(text: str, secret: str | None, limit: int = MAX_ERROR_CHARS) -> str:
    """``text`` without ``secret``, whitespace collapsed, then shortened to ``limit`` characters.

    The secret is replaced before shortening, so a secret straddling the cut
    never leaves a visible half. A long enough start of the secret at the
    end of ``text`` (or end of it at the start), as a server that shortened
    its own message would leave, is replaced too.

    >>> redact("bad key sk-123456789 given", "sk-123456789")
    'bad key [REDACTED] given'
    >>> redact("x" * 10 + "sk-123456789", "sk-123456789", limit=14)
    'xxxxxxxxxx[RED'
    """
    if secret:
        text = " ".join(text.replace(secret, REDACTED).split())
        for size in range(len(secret) - 1, _MIN_KEY_FRAGMENT - 1, -1):
            if text.endswith(secret[:size]):
                text = text[:-size] + REDACTED
                break
        for size in range(len(secret) - 1, _MIN_KEY_FRAGMENT - 1, -1):
            if text.startswith(secret[-size:]):
                text = REDACTED + text[size:]
                break
    else:
        text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit]


def cost_of(result: Any) -> float:
    """The dollars an ``llm_chat`` result cost (what a cache hit on it saves)."""
    if isinstance(result, Mapping):
        cost = result.get("cost_dollars")
        if isinstance(cost, int | float) and not isinstance(cost, bool):
            return float(cost)
    return 0.0


def classify_error(
    error: openai.APIError, request: Mapping[str, Any], server: tuple[str, int], api_key: str | None
) -> Failure:
    """The failure an SDK error stands for, its message naming ``server`` (host, port) and never ``api_key``.

    ``request`` is the body that was sent: a refusal is ``tools_unsupported`` only if it carried tools.
    """
    host, port = server
    if isinstance(error, openai.APITimeoutError):
        return Failure(RetryableToolError(f"LLM request to {host}:{port} timed out"), ModelError.TIMEOUT)
    if isinstance(error, openai.APIConnectionError):
        # str(error) and its cause can repeat the URL: only the type of the cause is reported.
        cause = type(error.__cause__).__name__ if error.__cause__ is not None else "connection failed"
        return Failure(RetryableToolError(f"LLM request to {host}:{port} failed: {cause}"), ModelError.CONNECTION)
    if not isinstance(error, openai.APIStatusError) or error.status_code < 400:
        return Failure(
            DependencyError(f"LLM API returned an invalid response: {type(error).__name__}"),
            ModelError.INVALID_RESPONSE,
        )
    status = error.status_code
    message = f"LLM API returned HTTP {status}: {redact(_server_message(error), api_key)}"
    if status in (401, 403):
        return Failure(DependencyError(message), ModelError.AUTHENTICATION)
    if status == 429:
        return Failure(RetryableToolError(message), ModelError.RATE_LIMITED)
    if status == 408:
        return Failure(RetryableToolError(message), ModelError.TIMEOUT)
    if status >= 500:
        return Failure(RetryableToolError(message), ModelError.SERVER)
    unsupported = bool(request.get("tools")) and _tools_unsupported(message)
    refused = ModelRequestError(message, status=status, tools_unsupported=unsupported)
    return Failure(refused, ModelError.BAD_REQUEST)


def parse_completion(completion: Any, model: str, span: Span) -> dict[str, Any] | Failure:
    """The ``llm_chat`` result read from an SDK completion (``cost_dollars`` still 0.0), or the failure it is.

    ``model`` is the one requested, kept when the response names none; the response attributes
    (model, id, finish reason, token counts) are set on ``span``.
    """
    choices = getattr(completion, "choices", None)
    choice = choices[0] if isinstance(choices, list) and choices else None
    message = getattr(choice, "message", None)
    if message is None:
        return Failure(DependencyError("LLM API response has no choices[0].message"), ModelError.INVALID_RESPONSE)
    content = getattr(message, "content", None)
    finish_reason = getattr(choice, "finish_reason", None)
    response_model = getattr(completion, "model", None)
    usage = getattr(completion, "usage", None)
    result: dict[str, Any] = {
        "content": content if isinstance(content, str) else None,
        "tool_calls": _tool_calls(getattr(message, "tool_calls", None)),
        "finish_reason": str(finish_reason) if finish_reason is not None else None,
        "model": response_model if isinstance(response_model, str) and response_model else model,
        "usage": {
            "input_tokens": _count(getattr(usage, "prompt_tokens", 0)),
            "output_tokens": _count(getattr(usage, "completion_tokens", 0)),
        },
        "cost_dollars": 0.0,
    }
    span.set_attribute(gen_ai.GEN_AI_RESPONSE_MODEL, result["model"])
    response_id = getattr(completion, "id", None)
    if isinstance(response_id, str) and response_id:
        span.set_attribute(gen_ai.GEN_AI_RESPONSE_ID, response_id)
    if result["finish_reason"]:
        span.set_attribute(gen_ai.GEN_AI_RESPONSE_FINISH_REASONS, [result["finish_reason"]])
    span.set_attribute(gen_ai.GEN_AI_USAGE_INPUT_TOKENS, result["usage"]["input_tokens"])
    span.set_attribute(gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS, result["usage"]["output_tokens"])
    return result


def _tools_unsupported(message: str) -> bool:
    """True when a server's refusal says it cannot do tool calls at all."""
    if "jinja" in message.lower():
        return True
    return bool(_TOOLS_WORD.search(message)) and bool(_REFUSAL_WORD.search(message))


def _server_message(error: openai.APIStatusError) -> str:
    """The message an OpenAI-compatible server put in its error body (not yet redacted)."""
    body = error.body
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping) and isinstance(inner.get("message"), str) and inner["message"].strip():
            return str(inner["message"])
        if isinstance(inner, str) and inner.strip():
            return inner
        if isinstance(body.get("detail"), str) and body["detail"].strip():
            return str(body["detail"])
        try:
            return json.dumps(body, ensure_ascii=False)
        except (TypeError, ValueError):
            return str(body)
    if isinstance(body, str) and body.strip():
        return body
    return error.response.reason_phrase or "no message"


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return 0
    return int(value)


def _tool_calls(calls: object) -> list[dict[str, str]]:
    """``[{"id", "name", "arguments"}]`` from the SDK's tool calls; ``arguments`` as the raw text sent."""
    if not isinstance(calls, list):
        return []
    found: list[dict[str, str]] = []
    for index, call in enumerate(calls):
        function = getattr(call, "function", None) or getattr(call, "custom", None)
        name = getattr(function, "name", None)
        if not isinstance(name, str):
            continue
        arguments = getattr(function, "arguments", None)
        if arguments is None:
            arguments = getattr(function, "input", None)
        if not isinstance(arguments, str):
            # A server that sent an object instead of JSON text: keep it as JSON text.
            arguments = "" if arguments is None else json.dumps(arguments, ensure_ascii=False, default=str)
        call_id = getattr(call, "id", None)
        found.append(
            {
                "id": call_id if isinstance(call_id, str) and call_id else f"call_{index}",
                "name": name,
                "arguments": arguments,
            }
        )
    return found
