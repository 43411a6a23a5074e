"""``llm_chat``: the one chat-completions client, on the official ``openai`` SDK.

It talks to any OpenAI-compatible endpoint (``base_url`` + ``model``, an
optional API key). Without a base URL and model the client is disabled
(``is_configured()`` is False) and ``register_builtin_tools`` leaves the tool
out, so agents plan without it.

Every model call goes through the tool pipeline (cache → breaker → retry →
timeout → tool), so this module keeps no cache of its own and the SDK's own
retries are off: the runtime's tool cache stores results under cache
``llm`` (deterministic calls only, see ``bypass_cache``) and counts what a
hit saved, in seconds and ``cost_dollars``.

- Arguments (keywords): exactly one of ``messages`` (OpenAI chat messages,
  including assistant ``tool_calls`` and ``role: "tool"`` results) or
  ``prompt``; optional ``system``, ``model``, ``temperature``, ``max_tokens``,
  ``tools``, ``tool_choice`` and ``response_format``.
- Result (JSON-serialisable, it is cached): ``{"content", "tool_calls": [{"id",
  "name", "arguments"}], "finish_reason", "model", "usage": {"input_tokens",
  "output_tokens"}, "cost_dollars"}``; ``arguments`` is the raw text the model
  sent.
- Errors, classified where raised: timeouts, connection failures, 408, 429
  and 5xx are ``RetryableToolError``; 401/403 and malformed responses are
  ``DependencyError``; other 4xx are ``agent_runtime.errors.ModelRequestError``
  (the caller's fault: it never trips the breaker) with the HTTP ``status``,
  whose ``tools_unsupported`` says the request carried ``tools`` and the
  server cannot do tool calls (llama.cpp without ``--jinja``, a chat template
  without tools): ask again without them, one ``json_schema`` action a turn.
- Telemetry per real call (cache hits never reach the tool): a ``chat
  {model}`` CLIENT span with the GenAI attributes (``error.type`` and ERROR
  status on failure) and one ``listener.llm_called(ModelCall(...))``, failed
  calls included.
- The API key goes into one request header and nowhere else: not in reprs,
  span attributes, log records or exception messages (server messages are
  redacted before they are shortened, and SDK exceptions are never chained).
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import openai
import requests
from opentelemetry import trace
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.semconv.attributes import error_attributes, server_attributes
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from agent_runtime._version import __version__
from agent_runtime.builtin_tools._args import coerce_float, coerce_int, require_text
from agent_runtime.builtin_tools.settings import LlmSettings, ModelPrice
from agent_runtime.errors import DependencyError, ModelRequestError, RetryableToolError, ToolError
from agent_runtime.telemetry.listener import ModelCall, RuntimeListener
from agent_runtime.vocabulary import GenAiOperation, ModelError

__all__ = [
    "LLM_CHAT_PARAMETERS",
    "MAX_ERROR_CHARS",
    "REDACTED",
    "LlmChat",
    "ModelRequestError",
    "build_messages",
    "cost_of",
    "redact",
]

REDACTED: Final = "[REDACTED]"
MAX_ERROR_CHARS: Final = 300
MAX_TOKENS_LIMIT: Final = 1_000_000
MAX_TEMPERATURE: Final = 2.0
# A server that echoes only part of the key (it shortened its message) still must not show this much of it.
_MIN_KEY_FRAGMENT: Final = 6
# The SDK insists on a key; with none configured the Authorization header is omitted from every request.
_NO_KEY: Final = "unused"
_ROLES: Final = ("system", "developer", "user", "assistant", "tool")
_TOOL_CHOICES: Final = ("none", "auto", "required")
_RESPONSE_FORMATS: Final = ("text", "json_object", "json_schema")
_TOOLS_WORD = re.compile(r"\btools?\b|tool[_ ]?calls?|tool[_ ]?choice|function[_ ]?call", re.IGNORECASE)
_REFUSAL_WORD = re.compile(
    r"not supported|unsupported|does not support|doesn't support|not enabled|requires|not available", re.IGNORECASE
)

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


@dataclass(frozen=True)
class _Failure:
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


class LlmChat:
    """The ``llm_chat`` tool: one shared SDK client for its endpoint, telemetry for every call.

    Thread-safe: the pipeline calls it from its worker threads. ``tracer`` and
    ``clock`` are injectable for tests (by default the global OpenTelemetry
    tracer and ``time.perf_counter``).
    """

    def __init__(
        self,
        settings: LlmSettings,
        listener: RuntimeListener,
        *,
        tracer: Tracer | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.settings = settings
        self._listener = listener
        self._tracer = tracer or trace.get_tracer(__name__, __version__)
        self._clock = clock
        self._base_url = (settings.base_url or "").rstrip("/")
        target = urlsplit(self._base_url)
        try:
            port = target.port
        except ValueError:
            port = None
        self._server = (target.hostname or "", port or (443 if target.scheme == "https" else 80))
        # No key configured: the SDK still needs one, so the header is dropped from each request instead.
        self._headers: dict[str, str | openai.Omit] = {} if settings.api_key else {"Authorization": openai.Omit()}
        self._client: openai.OpenAI | None = None
        self._client_lock = threading.Lock()
        # What the server said about native tool calls (None until it answered the probe).
        self._native_tools: bool | None = None

    def __repr__(self) -> str:
        return f"LlmChat(base_url={_without_userinfo(self._base_url)!r}, model={self.settings.model!r})"

    def is_configured(self) -> bool:
        """True when a base URL and a model are set; otherwise the tool is not registered."""
        return self.settings.is_configured

    def close(self) -> None:
        """Close the SDK client's pooled connections (a later call opens a new client)."""
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def client(self) -> openai.OpenAI:
        """The SDK client for this endpoint, built on first use and shared by every call and thread."""
        client = self._client
        if client is not None:
            return client
        with self._client_lock:
            if self._client is None:
                self._client = openai.OpenAI(
                    base_url=self._base_url,
                    # Never None: the SDK would fall back to $OPENAI_API_KEY and send it to this endpoint.
                    api_key=self.settings.api_key or _NO_KEY,
                    max_retries=0,  # the pipeline retries
                    timeout=openai.Timeout(
                        self.settings.read_timeout_seconds, connect=self.settings.connect_timeout_seconds
                    ),
                )
            return self._client

    def native_tools_supported(self) -> bool:
        """False when the server says its chat template cannot call tools; True otherwise.

        llama.cpp's server answers ``GET /props`` with ``chat_template_caps``;
        a model whose template has no tool calling accepts ``tools`` and
        silently ignores them, so an agent in ``auto`` mode must know before
        it asks. Other servers have no such endpoint: they are assumed able
        (and refuse ``tools`` with a 400 when they are not). The answer is
        asked once and kept; a server that cannot be reached is asked again
        next time.
        """
        known = self._native_tools
        if known is not None:
            return known
        root = self._base_url.removesuffix("/v1")
        headers = {"Authorization": f"Bearer {self.settings.api_key}"} if self.settings.api_key else {}
        try:
            response = requests.get(
                f"{root}/props", headers=headers, timeout=(self.settings.connect_timeout_seconds, 5.0)
            )
        except requests.RequestException:
            return True
        caps: Any = None
        if response.status_code == 200:
            try:
                body = response.json()
            except ValueError:
                body = None
            caps = body.get("chat_template_caps") if isinstance(body, dict) else None
        supported = not (isinstance(caps, dict) and caps.get("supports_tool_calls") is False)
        self._native_tools = supported
        return supported

    def effective_temperature(self, args: Mapping[str, Any]) -> float | None:
        """The temperature a call with ``args`` would use (None when it is not a valid number)."""
        value = args.get("temperature")
        try:
            return coerce_float("temperature", self.settings.temperature if value is None else value)
        except ToolError:
            return None

    def bypass_cache(self, args: Mapping[str, Any]) -> bool:
        """True when the call must not be cached: temperature > 0, unless ``cache_nondeterministic``."""
        if self.settings.cache_nondeterministic:
            return False
        temperature = self.effective_temperature(args)
        return temperature is None or temperature > 0

    def build_request(
        self,
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
        """The chat-completions request body for these arguments; ``ToolError`` naming a bad one."""
        if not self.is_configured():
            raise ToolError("llm_chat is not configured: set AGENT_RUNTIME_LLM_BASE_URL and AGENT_RUNTIME_LLM_MODEL")
        request: dict[str, Any] = {
            "model": str(self.settings.model) if model is None else require_text("model", model).strip(),
            "messages": build_messages(prompt, messages, system),
            "temperature": _temperature(self.settings.temperature if temperature is None else temperature),
        }
        limit = self.settings.max_tokens if max_tokens is None else max_tokens
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

    def __call__(self, **arguments: Any) -> dict[str, Any]:
        """Complete a chat with the configured model (or ``model`` on the same endpoint).

        The arguments are ``build_request``'s. Give ``prompt`` (one user message) or ``messages`` (OpenAI format), plus
        an optional ``system`` message. ``temperature`` and ``max_tokens``
        default to the configured ones (numbers or numeric strings, as plan
        templates render them); ``tools`` are OpenAI function tools,
        ``tool_choice`` and ``response_format`` are passed through. Returns
        ``{"content", "tool_calls", "finish_reason", "model", "usage",
        "cost_dollars"}``.
        """
        request = self.build_request(**arguments)
        if "tools" in request and not self.native_tools_supported():
            raise ModelRequestError(
                "the model's chat template cannot call tools (the server's /props says so): "
                "use tool_call_mode json_schema",
                status=400,
                tools_unsupported=True,
            )
        return self._complete(request)

    def _complete(self, request: dict[str, Any]) -> dict[str, Any]:
        model = request["model"]
        attributes: dict[str, str | int | float] = {
            gen_ai.GEN_AI_OPERATION_NAME: GenAiOperation.CHAT.value,
            gen_ai.GEN_AI_PROVIDER_NAME: self.settings.provider,
            gen_ai.GEN_AI_REQUEST_MODEL: model,
            gen_ai.GEN_AI_REQUEST_TEMPERATURE: request["temperature"],
            server_attributes.SERVER_ADDRESS: self._server[0],
            server_attributes.SERVER_PORT: self._server[1],
        }
        if "max_tokens" in request:
            attributes[gen_ai.GEN_AI_REQUEST_MAX_TOKENS] = request["max_tokens"]
        client = self.client()
        with self._tracer.start_as_current_span(
            f"{GenAiOperation.CHAT.value} {model}",
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,  # exception text is ours to control: it must never carry the key
            set_status_on_exception=False,
        ) as span:
            started = self._clock()
            failure: _Failure | None = None
            completion: Any = None
            try:
                completion = client.chat.completions.create(**request, extra_headers=self._headers)
            except openai.APIError as exc:
                failure = self._classify(exc, request)
            except Exception as exc:
                # Anything else the SDK raises (a body that is not JSON, ...): named by type only.
                failure = _Failure(
                    DependencyError(f"LLM API call failed: {type(exc).__name__}"), ModelError.INVALID_RESPONSE
                )
            seconds = self._clock() - started
            parsed = failure if failure is not None else self._parse(completion, model, span)
            if isinstance(parsed, _Failure):
                self._fail(span, parsed, model, seconds)
                # Raised outside the except blocks, so no SDK exception (holding the request headers) is chained.
                raise parsed.error
            result = parsed
            usage = result["usage"]
            price = self.settings.prices.get(model) or self.settings.prices.get(result["model"]) or ModelPrice()
            input_cost, output_cost = price.cost(usage["input_tokens"], usage["output_tokens"])
            result["cost_dollars"] = input_cost + output_cost
            # Reported while the span is current, so the metrics can carry its trace id as an exemplar.
            self._listener.llm_called(
                ModelCall(
                    operation=GenAiOperation.CHAT.value,
                    provider=self.settings.provider,
                    model=model,
                    seconds=seconds,
                    input_tokens=usage["input_tokens"],
                    output_tokens=usage["output_tokens"],
                    input_cost=input_cost,
                    output_cost=output_cost,
                )
            )
        return result

    def _classify(self, error: openai.APIError, request: Mapping[str, Any]) -> _Failure:
        host, port = self._server
        if isinstance(error, openai.APITimeoutError):
            return _Failure(RetryableToolError(f"LLM request to {host}:{port} timed out"), ModelError.TIMEOUT)
        if isinstance(error, openai.APIConnectionError):
            # str(error) and its cause can repeat the URL: only the type of the cause is reported.
            cause = type(error.__cause__).__name__ if error.__cause__ is not None else "connection failed"
            return _Failure(RetryableToolError(f"LLM request to {host}:{port} failed: {cause}"), ModelError.CONNECTION)
        if not isinstance(error, openai.APIStatusError) or error.status_code < 400:
            return _Failure(
                DependencyError(f"LLM API returned an invalid response: {type(error).__name__}"),
                ModelError.INVALID_RESPONSE,
            )
        status = error.status_code
        message = f"LLM API returned HTTP {status}: {redact(_server_message(error), self.settings.api_key)}"
        if status in (401, 403):
            return _Failure(DependencyError(message), ModelError.AUTHENTICATION)
        if status == 429:
            return _Failure(RetryableToolError(message), ModelError.RATE_LIMITED)
        if status == 408:
            return _Failure(RetryableToolError(message), ModelError.TIMEOUT)
        if status >= 500:
            return _Failure(RetryableToolError(message), ModelError.SERVER)
        unsupported = bool(request.get("tools")) and _tools_unsupported(message)
        refused = ModelRequestError(message, status=status, tools_unsupported=unsupported)
        return _Failure(refused, ModelError.BAD_REQUEST)

    def _parse(self, completion: Any, model: str, span: Span) -> dict[str, Any] | _Failure:
        choices = getattr(completion, "choices", None)
        choice = choices[0] if isinstance(choices, list) and choices else None
        message = getattr(choice, "message", None)
        if message is None:
            return _Failure(DependencyError("LLM API response has no choices[0].message"), ModelError.INVALID_RESPONSE)
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

    def _fail(self, span: Span, failure: _Failure, model: str, seconds: float) -> None:
        span.set_attribute(error_attributes.ERROR_TYPE, failure.error_type.value)
        span.set_status(Status(StatusCode.ERROR, str(failure.error)))
        self._listener.llm_called(
            ModelCall(
                operation=GenAiOperation.CHAT.value,
                provider=self.settings.provider,
                model=model,
                seconds=seconds,
                error_type=failure.error_type.value,
            )
        )


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


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{REDACTED}@{host}" + (f":{port}" if port else "")
    return parts._replace(netloc=netloc).geturl()
