"""``llm_chat``: an OpenAI-compatible chat-completions client with a response cache.

``POST {base_url}/chat/completions`` with the configured model. Without a
base URL and model the client is disabled (``is_configured()`` is False) and
``register_builtin_tools`` leaves the tool out, so agents plan without it.

- Cache: responses are kept in an in-process LRU with a TTL, keyed by the
  canonical request (model, messages, temperature, max_tokens, tools). Every
  look-up is reported as ``cache_looked_up("llm", "l0", hit)``, and a hit as
  ``cache_saved("llm", seconds the original call took)``.
- Telemetry: each real call is a ``chat {model}`` CLIENT span (OpenTelemetry
  API only) with the GenAI attributes, ``error.type`` on failure, and on
  success a ``listener.llm_called(operation="chat", ...)`` event carrying the
  token usage, from which the GenAI metrics are made.
- Errors: 408, 429, 5xx, timeouts and connection failures are
  ``RetryableToolError``; other 4xx are ``ToolError`` with the server's own
  message.
- The API key goes into one request header and nowhere else: not in reprs,
  span attributes, log records or exception messages (server messages are
  scrubbed of it, and exceptions from ``requests`` are reduced to their type).
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import urlsplit

import requests
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from agent_runtime import __version__
from agent_runtime.builtin_tools._args import coerce_float, coerce_int, require_text
from agent_runtime.builtin_tools.settings import LlmSettings
from agent_runtime.errors import RetryableToolError, ToolError
from agent_runtime.telemetry.listener import RuntimeListener

REDACTED = "[REDACTED]"
MAX_ERROR_CHARS = 300
MAX_TOKENS_LIMIT = 1_000_000
_RETRYABLE_STATUSES = frozenset({408, 429})


@dataclass(frozen=True)
class _Entry:
    expires: float
    value: dict[str, Any]
    seconds: float


class ResponseCache:
    """A thread-safe LRU of responses, each valid for ``ttl_seconds``."""

    def __init__(self, max_entries: int, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[dict[str, Any], float] | None:
        """The cached response and the seconds its call took, or None (missing or expired)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.expires <= self._clock():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry.value, entry.seconds

    def put(self, key: str, value: dict[str, Any], seconds: float) -> None:
        """Store ``value``, evicting the least recently used entry when full."""
        with self._lock:
            self._entries[key] = _Entry(self._clock() + self.ttl_seconds, value, seconds)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def canonical_key(request: Mapping[str, Any]) -> str:
    """A stable digest of a request: same model, messages and options → same key."""
    text = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def build_messages(
    prompt: str | None, messages: Sequence[Mapping[str, Any]] | None, system: str | None
) -> list[dict[str, Any]]:
    """The request's messages from ``messages`` or ``prompt``, with ``system`` first if given."""
    if (prompt is None) == (messages is None):
        raise ToolError("llm_chat needs exactly one of prompt or messages")
    if prompt is not None:
        result: list[dict[str, Any]] = [{"role": "user", "content": require_text("prompt", prompt)}]
    else:
        if not isinstance(messages, Sequence) or isinstance(messages, str) or not messages:
            raise ToolError("messages must be a non-empty list of {role, content} objects")
        result = []
        for number, message in enumerate(messages):
            if not isinstance(message, Mapping) or not isinstance(message.get("role"), str):
                raise ToolError(f"messages[{number}] must be an object with a string role")
            result.append(dict(message))
    if system is not None:
        result.insert(0, {"role": "system", "content": require_text("system", system)})
    return result


class LlmChat:
    """The ``llm_chat`` tool: one pooled session, one cache, telemetry for every call."""

    def __init__(
        self,
        settings: LlmSettings,
        listener: RuntimeListener,
        *,
        tracer: Tracer | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._listener = listener
        self._tracer = tracer or trace.get_tracer(__name__, __version__)
        self._clock = clock
        self.cache = ResponseCache(settings.cache_max_entries, settings.cache_ttl_seconds, clock)
        self._url = (settings.base_url or "").rstrip("/") + "/chat/completions"
        target = urlsplit(self._url)
        self._server = (target.hostname or "", target.port or (443 if target.scheme == "https" else 80))
        self._session = requests.Session()

    def __repr__(self) -> str:
        return f"LlmChat(url={_without_userinfo(self._url)!r}, model={self.settings.model!r})"

    def is_configured(self) -> bool:
        """True when a base URL and a model are set; otherwise the tool is not registered."""
        return self.settings.is_configured

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()

    def __call__(
        self,
        prompt: str | None = None,
        *,
        messages: Sequence[Mapping[str, Any]] | None = None,
        system: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Complete a chat; ``{"content", "model", "finish_reason", "tool_calls", "usage", "cached"}``.

        Give ``prompt`` (one user message) or ``messages`` (OpenAI format), plus
        an optional ``system`` message. ``temperature`` and ``max_tokens``
        default to the configured ones; ``tools`` are OpenAI function tools.
        ``usage`` is ``{"input_tokens", "output_tokens"}`` and ``cached`` says
        whether the response came from the cache.
        """
        if not self.is_configured():
            raise ToolError("llm_chat is not configured: set AGENT_RUNTIME_LLM_BASE_URL and AGENT_RUNTIME_LLM_MODEL")
        request: dict[str, Any] = {
            "model": self.settings.model,
            "messages": build_messages(prompt, messages, system),
            "temperature": coerce_float(
                "temperature", self.settings.temperature if temperature is None else temperature
            ),
        }
        limit = self.settings.max_tokens if max_tokens is None else max_tokens
        if limit is not None:
            request["max_tokens"] = coerce_int("max_tokens", limit, 1, MAX_TOKENS_LIMIT)
        if tools:
            request["tools"] = [dict(tool) for tool in tools]
        try:
            key = canonical_key(request)
        except (TypeError, ValueError):
            raise ToolError("llm_chat arguments must be JSON-serialisable") from None
        cached = self.cache.get(key)
        self._listener.cache_looked_up("llm", "l0", cached is not None)
        if cached is not None:
            value, seconds = cached
            self._listener.cache_saved("llm", seconds)
            # A copy: a caller editing its result must not edit the cached one.
            return {**copy.deepcopy(value), "cached": True}
        value, seconds = self._complete(request)
        self.cache.put(key, copy.deepcopy(value), seconds)
        return {**value, "cached": False}

    def _complete(self, request: dict[str, Any]) -> tuple[dict[str, Any], float]:
        model = str(self.settings.model)
        attributes: dict[str, str | int | float] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": self.settings.provider,
            "gen_ai.request.model": model,
            "gen_ai.request.temperature": request["temperature"],
            "server.address": self._server[0],
            "server.port": self._server[1],
        }
        if "max_tokens" in request:
            attributes["gen_ai.request.max_tokens"] = request["max_tokens"]
        with self._tracer.start_as_current_span(
            f"chat {model}",
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,  # exception text is ours to control: it must never carry the key
            set_status_on_exception=False,
        ) as span:
            started = self._clock()
            body = self._post(request, span)
            seconds = self._clock() - started
            value = self._parse(body, span)
            usage = value["usage"]
            span.set_attribute("gen_ai.usage.input_tokens", usage["input_tokens"])
            span.set_attribute("gen_ai.usage.output_tokens", usage["output_tokens"])
        self._listener.llm_called(
            operation="chat",
            provider=self.settings.provider,
            model=model,
            seconds=seconds,
            input_tokens=usage["input_tokens"],
            output_tokens=usage["output_tokens"],
        )
        return value, seconds

    def _post(self, request: dict[str, Any], span: Span) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if self.settings.api_key:
            headers["Authorization"] = f"Bearer {self.settings.api_key}"
        timeout = (self.settings.connect_timeout_seconds, self.settings.read_timeout_seconds)
        try:
            response = self._session.post(self._url, json=request, headers=headers, timeout=timeout)
        except requests.Timeout:
            self._fail(span, RetryableToolError, "timeout", "LLM request timed out")
        except requests.RequestException as exc:
            # str(exc) can repeat the URL (and any userinfo in it): only the type is reported.
            name = type(exc).__name__
            self._fail(span, RetryableToolError, name, f"LLM request failed: {name}")
        with response:
            status = response.status_code
            if status >= 400:
                error_class = RetryableToolError if status in _RETRYABLE_STATUSES or status >= 500 else ToolError
                message = self._redact(_server_message(response))
                self._fail(span, error_class, str(status), f"LLM API returned HTTP {status}: {message}")
            try:
                body = response.json()
            except ValueError:
                body = None
        if not isinstance(body, dict):
            self._fail(span, ToolError, "invalid_response", "LLM API returned a non-JSON response")
        return body

    def _parse(self, body: dict[str, Any], span: Span) -> dict[str, Any]:
        try:
            choice = body["choices"][0]
            message = choice["message"]
            usage = body.get("usage") or {}
            value: dict[str, Any] = {
                "content": message.get("content"),
                "model": body.get("model") or self.settings.model,
                "finish_reason": choice.get("finish_reason"),
                "tool_calls": message.get("tool_calls") or [],
                "usage": {
                    "input_tokens": int(usage.get("prompt_tokens", usage.get("input_tokens", 0))),
                    "output_tokens": int(usage.get("completion_tokens", usage.get("output_tokens", 0))),
                },
            }
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            self._fail(span, ToolError, "invalid_response", "LLM API response has no choices[0].message")
        span.set_attribute("gen_ai.response.model", str(value["model"]))
        if isinstance(body.get("id"), str):
            span.set_attribute("gen_ai.response.id", body["id"])
        if value["finish_reason"]:
            span.set_attribute("gen_ai.response.finish_reasons", [str(value["finish_reason"])])
        return value

    def _fail(self, span: Span, error_class: type[ToolError], error_type: str, message: str) -> NoReturn:
        span.set_attribute("error.type", error_type)
        span.set_status(Status(StatusCode.ERROR, message))
        raise error_class(message)

    def _redact(self, text: str) -> str:
        key = self.settings.api_key
        return text.replace(key, REDACTED) if key else text


def _server_message(response: requests.Response) -> str:
    """The error message an OpenAI-compatible server put in its body, shortened."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:MAX_ERROR_CHARS].strip() or response.reason or "no message"
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])[:MAX_ERROR_CHARS]
    if isinstance(error, str):
        return error[:MAX_ERROR_CHARS]
    return json.dumps(body)[:MAX_ERROR_CHARS]


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{REDACTED}@{host}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()
