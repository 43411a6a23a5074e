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

- Arguments (keywords, checked and built into the request body by
  ``llm_request``): exactly one of ``messages`` (OpenAI chat messages,
  including assistant ``tool_calls`` and ``role: "tool"`` results) or
  ``prompt``; optional ``system``, ``model``, ``temperature``, ``max_tokens``,
  ``tools``, ``tool_choice`` and ``response_format``.
- Result (JSON-serialisable, it is cached; read from the completion by
  ``llm_response``): ``{"content", "tool_calls": [{"id", "name",
  "arguments"}], "finish_reason", "model", "usage": {"input_tokens",
  "output_tokens"}, "cost_dollars"}``; ``arguments`` is the raw text the model
  sent.
- Errors, classified where raised (by ``llm_response``): timeouts, connection failures, 408, 429
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

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import urlsplit

import openai
import requests
from opentelemetry import trace
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.semconv.attributes import error_attributes, server_attributes
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from agent_runtime._version import __version__
from agent_runtime.builtin_tools._args import coerce_float
from agent_runtime.builtin_tools.llm_request import build_request
from agent_runtime.builtin_tools.llm_response import REDACTED, Failure, classify_error, parse_completion
from agent_runtime.builtin_tools.settings import LlmSettings, ModelPrice
from agent_runtime.errors import DependencyError, ModelRequestError, ToolError
from agent_runtime.telemetry.listener import ModelCall, RuntimeListener
from agent_runtime.vocabulary import GenAiOperation, ModelError

__all__ = ["LlmChat", "ModelRequestError"]

# The SDK insists on a key; with none configured the Authorization header is omitted from every request.
_NO_KEY: Final = "unused"


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

    def __call__(self, **arguments: Any) -> dict[str, Any]:
        """Complete a chat with the configured model (or ``model`` on the same endpoint).

        The arguments are ``llm_request.build_request``'s. Give ``prompt``
        (one user message) or ``messages`` (OpenAI format), plus an optional
        ``system`` message. ``temperature`` and ``max_tokens``
        default to the configured ones (numbers or numeric strings, as plan
        templates render them); ``tools`` are OpenAI function tools,
        ``tool_choice`` and ``response_format`` are passed through. Returns
        ``{"content", "tool_calls", "finish_reason", "model", "usage",
        "cost_dollars"}``.
        """
        request = build_request(self.settings, **arguments)
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
            failure: Failure | None = None
            completion: Any = None
            try:
                completion = client.chat.completions.create(**request, extra_headers=self._headers)
            except openai.APIError as exc:
                failure = classify_error(exc, request, self._server, self.settings.api_key)
            except Exception as exc:
                # Anything else the SDK raises (a body that is not JSON, ...): named by type only.
                failure = Failure(
                    DependencyError(f"LLM API call failed: {type(exc).__name__}"), ModelError.INVALID_RESPONSE
                )
            seconds = self._clock() - started
            parsed = failure if failure is not None else parse_completion(completion, model, span)
            if isinstance(parsed, Failure):
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

    def _fail(self, span: Span, failure: Failure, model: str, seconds: float) -> None:
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
