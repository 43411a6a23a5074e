"""llm_chat on the real ``openai`` SDK against a loopback OpenAI server: results, errors, secrecy, telemetry, cache."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from agent_runtime.builtin_tools import (
    BuiltinToolSettings,
    ModelPrice,
    ModelRequestError,
    register_builtin_tools,
)
from agent_runtime.builtin_tools.llm_chat import LlmChat
from agent_runtime.builtin_tools.llm_request import LLM_CHAT_PARAMETERS
from agent_runtime.builtin_tools.llm_response import MAX_ERROR_CHARS, REDACTED
from agent_runtime.builtin_tools.settings import LlmSettings
from agent_runtime.config.models import CacheSettings, RetryPolicy
from agent_runtime.errors import ConfigError, DependencyError, RetryableToolError, ToolError, trips_breaker
from agent_runtime.errors import ModelRequestError as RuntimeModelRequestError
from agent_runtime.ops.stack.ports import free_port
from agent_runtime.registry import ToolRegistry
from agent_runtime.tools.cache import ToolCache
from agent_runtime.tools.pipeline import ToolPipeline
from tests.support.openai_server import TOOLS_UNSUPPORTED, Reply, ScriptedChatServer
from tests.support.tracing import clean_otel_env, record_spans, shutdown_tracing
from tests.unit.builtin_tools.conftest import LoopbackServer, RecordingListener
from tests.unit.builtin_tools.conftest import Reply as RawReply

API_KEY = "sk-test-SECRET-4f9a2c71e0"
MODEL = "test-model"
PRICE = ModelPrice(input_per_million=1.5, output_per_million=6.0)
SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "Search the runbooks.",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
    },
}
JSON_SCHEMA_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "action", "schema": {"type": "object", "properties": {"tool": {"type": "string"}}}},
}

Spans = Callable[[], tuple[ReadableSpan, ...]]


def llm_settings(base_url: str, **overrides: Any) -> LlmSettings:
    values: dict[str, Any] = {
        "base_url": base_url,
        "model": MODEL,
        "api_key": API_KEY,
        "provider": "openai",
        "read_timeout_seconds": 0.5,
        "connect_timeout_seconds": 0.5,
        "prices": {MODEL: PRICE},
    }
    values.update(overrides)
    return LlmSettings(**values)


@pytest.fixture()
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[Spans]:
    """The spans finished so far, recorded through the global tracer (tests/support/tracing.py)."""
    clean_otel_env(monkeypatch)
    handle, exporter = record_spans()

    def finished() -> tuple[ReadableSpan, ...]:
        assert handle.force_flush(5)
        return tuple(exporter.get_finished_spans())

    yield finished
    shutdown_tracing()


@pytest.fixture()
def chat(openai_server: ScriptedChatServer, listener: RecordingListener) -> Iterator[LlmChat]:
    client = LlmChat(llm_settings(openai_server.base_url), listener)
    yield client
    client.close()


def chat_spans(spans: Spans) -> list[ReadableSpan]:
    return [span for span in spans() if span.name.startswith("chat ")]


def expected_cost(input_tokens: int, output_tokens: int) -> float:
    return input_tokens * PRICE.input_per_million / 1e6 + output_tokens * PRICE.output_per_million / 1e6


# --- results -----------------------------------------------------------------------------------------------------


def test_completion_shape_usage_and_cost(chat: LlmChat, openai_server: ScriptedChatServer) -> None:
    openai_server.enqueue(Reply.text("all systems nominal", prompt_tokens=1200, completion_tokens=300))
    result = chat(prompt="status?", system="be brief")
    assert result == {
        "content": "all systems nominal",
        "tool_calls": [],
        "finish_reason": "stop",
        "model": MODEL,
        "usage": {"input_tokens": 1200, "output_tokens": 300},
        "cost_dollars": pytest.approx(expected_cost(1200, 300)),
    }
    assert json.loads(json.dumps(result)) == result  # it goes into Redis and disk caches
    [request] = openai_server.requests
    assert request == {
        "model": MODEL,
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "status?"}],
        "temperature": 0.0,
    }
    assert openai_server.request_headers[0]["authorization"] == f"Bearer {API_KEY}"


def test_tool_calls_come_back_with_the_raw_arguments(chat: LlmChat, openai_server: ScriptedChatServer) -> None:
    broken = '{"q": "cache hit rate"'  # the model's text, invalid JSON included: the agent validates it
    openai_server.enqueue(Reply.tool_calls([("search", broken), ("search", {"q": "breaker"})]))
    result = chat(prompt="look it up", tools=[SEARCH_TOOL], tool_choice="auto")
    assert result["content"] is None
    assert result["finish_reason"] == "tool_calls"
    assert result["tool_calls"] == [
        {"id": "call_1", "name": "search", "arguments": broken},
        {"id": "call_2", "name": "search", "arguments": '{"q": "breaker"}'},
    ]
    request = openai_server.requests[0]
    assert request["tools"] == [SEARCH_TOOL] and request["tool_choice"] == "auto"


def test_a_tool_conversation_is_sent_as_given(chat: LlmChat, openai_server: ScriptedChatServer) -> None:
    openai_server.enqueue(Reply.text("the hit rate is 0.93"))
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "what is the cache hit rate?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_7", "type": "function", "function": {"name": "search", "arguments": '{"q": "hit"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_7", "content": '[{"text": "hit rate 0.93"}]'},
    ]
    assert chat(messages=messages, tools=[SEARCH_TOOL])["content"] == "the hit rate is 0.93"
    assert openai_server.requests[0]["messages"] == messages


def test_response_format_model_and_max_tokens_are_passed_through(
    chat: LlmChat, openai_server: ScriptedChatServer, listener: RecordingListener
) -> None:
    openai_server.enqueue(Reply.json_action({"tool": "search"}, prompt_tokens=10, completion_tokens=4))
    result = chat(prompt="pick a tool", model="other-model", max_tokens=64, response_format=JSON_SCHEMA_FORMAT)
    assert json.loads(result["content"]) == {"tool": "search"}
    assert result["model"] == "other-model"
    assert result["cost_dollars"] == 0.0  # no price for this model
    request = openai_server.requests[0]
    assert (request["model"], request["max_tokens"]) == ("other-model", 64)
    assert request["response_format"] == JSON_SCHEMA_FORMAT
    [call] = listener.llm_calls
    assert (call.model, call.input_cost, call.output_cost) == ("other-model", 0.0, 0.0)


def test_configured_temperature_and_max_tokens_are_the_defaults(
    openai_server: ScriptedChatServer, listener: RecordingListener
) -> None:
    openai_server.enqueue(Reply.text("a"), Reply.text("b"))
    chat = LlmChat(llm_settings(openai_server.base_url, temperature=0.4, max_tokens=128), listener)
    chat(prompt="x")
    chat(prompt="x", temperature="0", max_tokens="16")  # plan templates render numbers as text
    first, second = openai_server.requests
    assert (first["temperature"], first["max_tokens"]) == (0.4, 128)
    assert (second["temperature"], second["max_tokens"]) == (0.0, 16)
    chat.close()


def test_one_sdk_client_is_shared_without_sdk_retries(chat: LlmChat, openai_server: ScriptedChatServer) -> None:
    openai_server.enqueue(Reply.text("a"), Reply.text("b"), Reply.text("c"))
    client = chat.client()
    assert client.max_retries == 0
    assert (client.timeout.read, client.timeout.connect) == (0.5, 0.5)  # type: ignore[union-attr]
    chat(prompt="one")
    chat(prompt="two")
    assert chat.client() is client
    chat.close()
    assert chat(prompt="after close")["content"] == "c"  # a new client, lazily
    assert chat.client() is not client


def test_no_key_configured_sends_no_key_not_even_the_environments(
    openai_server: ScriptedChatServer, listener: RecordingListener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    openai_server.enqueue(Reply.text("local"))
    chat = LlmChat(llm_settings(openai_server.base_url, api_key=None), listener)
    assert chat(prompt="hi")["content"] == "local"
    assert "authorization" not in openai_server.request_headers[0]
    chat.close()


# --- errors ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "error_class", "error_type", "trips", "retryable"),
    [
        (Reply.error(500, "upstream exploded"), RetryableToolError, "server_error", True, True),
        (Reply.error(503, "overloaded"), RetryableToolError, "server_error", True, True),
        (Reply.error(429, "slow down", retry_after=1), RetryableToolError, "rate_limited", True, True),
        (Reply.error(408, "request timeout"), RetryableToolError, "timeout", True, True),
        (Reply.error(401, "bad key"), DependencyError, "authentication", True, False),
        (Reply.error(403, "not allowed"), DependencyError, "authentication", True, False),
        (Reply.error(400, "max_tokens is too large"), ModelRequestError, "bad_request", False, False),
        (Reply.error(404, "The model `nope` does not exist"), ModelRequestError, "bad_request", False, False),
        (Reply.error(422, "unprocessable"), ModelRequestError, "bad_request", False, False),
    ],
)
def test_http_errors_are_classified_where_raised(
    *,
    chat: LlmChat,
    openai_server: ScriptedChatServer,
    listener: RecordingListener,
    spans: Spans,
    reply: Reply,
    error_class: type[ToolError],
    error_type: str,
    trips: bool,
    retryable: bool,
) -> None:
    openai_server.enqueue(reply)
    with pytest.raises(ToolError) as raised:
        chat(prompt="hi")
    error = raised.value
    assert type(error) is error_class
    assert str(error) == f"LLM API returned HTTP {reply.status}: {reply.error_message}"
    assert (trips_breaker(error), error.retryable) == (trips, retryable)
    assert error.__cause__ is None and error.__context__ is None  # no SDK exception (with the headers) chained
    [call] = listener.llm_calls
    assert (call.error_type, call.input_tokens, call.output_tokens, call.input_cost) == (error_type, 0, 0, 0.0)
    [span] = chat_spans(spans)
    assert span.attributes is not None and span.attributes["error.type"] == error_type
    assert span.status.status_code is StatusCode.ERROR
    assert span.events == ()  # no exception recorded automatically
    if isinstance(error, ModelRequestError):
        assert (error.status, error.tools_unsupported) == (reply.status, False)


@pytest.mark.parametrize(
    ("message", "with_tools", "unsupported"),
    [
        ("tools param requires --jinja flag", True, True),  # llama.cpp without --jinja
        (TOOLS_UNSUPPORTED, True, True),
        ("registry.ollama.ai/library/gemma:2b does not support tools", True, True),
        ('"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set', True, True),
        ("tools param requires --jinja flag", False, False),  # no tools asked for: not about them
        ("max_tokens is too large: 100000", True, False),
    ],
)
def test_a_server_that_cannot_do_tool_calls_says_so(
    chat: LlmChat, openai_server: ScriptedChatServer, message: str, with_tools: bool, unsupported: bool
) -> None:
    openai_server.enqueue(Reply.error(400, message))
    with pytest.raises(ModelRequestError) as raised:
        chat(prompt="hi", tools=[SEARCH_TOOL] if with_tools else None)
    assert raised.value.tools_unsupported is unsupported
    assert raised.value.status == 400


def test_the_scripted_servers_tools_refusal_is_recognised(listener: RecordingListener) -> None:
    with ScriptedChatServer(supports_tools=False, default=Reply.text("json mode works")) as server:
        chat = LlmChat(llm_settings(server.base_url), listener)
        with pytest.raises(ModelRequestError) as raised:
            chat(prompt="hi", tools=[SEARCH_TOOL])
        assert raised.value.tools_unsupported and not trips_breaker(raised.value)
        assert chat(prompt="hi", response_format=JSON_SCHEMA_FORMAT)["content"] == "json mode works"
        chat.close()


def test_timeout_is_retryable_and_timed_to_the_failure(
    chat: LlmChat, openai_server: ScriptedChatServer, listener: RecordingListener, spans: Spans
) -> None:
    openai_server.enqueue(Reply.text("too late", delay_seconds=3.0))
    with pytest.raises(RetryableToolError, match="timed out") as raised:
        chat(prompt="hi")
    assert type(raised.value) is RetryableToolError
    [call] = listener.llm_calls
    assert call.error_type == "timeout"
    assert 0.4 < call.seconds < 2.5
    [span] = chat_spans(spans)
    assert span.attributes is not None and span.attributes["error.type"] == "timeout"


def test_unreachable_server_is_a_retryable_connection_error(listener: RecordingListener) -> None:
    chat = LlmChat(llm_settings(f"http://127.0.0.1:{free_port()}/v1"), listener)
    with pytest.raises(RetryableToolError, match="failed") as raised:
        chat(prompt="hi")
    assert trips_breaker(raised.value)
    assert [call.error_type for call in listener.llm_calls] == ["connection_error"]
    chat.close()


@pytest.mark.parametrize(
    "reply",
    [
        RawReply(200, json.dumps({"id": "x", "object": "chat.completion", "choices": []}).encode()),
        RawReply(200, json.dumps({"id": "x", "object": "chat.completion", "choices": [{"index": 0}]}).encode()),
        RawReply(200, json.dumps({"id": "x", "object": "chat.completion"}).encode()),
        RawReply(200, b"<html>gateway</html>", {"Content-Type": "text/html"}),
        RawReply(200, b"{not json", {"Content-Type": "application/json"}),
    ],
)
def test_a_response_without_a_message_is_an_invalid_response(
    http_server: LoopbackServer, listener: RecordingListener, spans: Spans, reply: RawReply
) -> None:
    if not reply.headers:
        reply.headers = {"Content-Type": "application/json"}
    http_server.routes["/v1/chat/completions"] = lambda _: reply
    chat = LlmChat(llm_settings(http_server.url("/v1")), listener)
    with pytest.raises(DependencyError) as raised:
        chat(prompt="hi")
    assert type(raised.value) is DependencyError and trips_breaker(raised.value) and not raised.value.retryable
    assert [call.error_type for call in listener.llm_calls] == ["invalid_response"]
    [span] = chat_spans(spans)
    assert span.attributes is not None and span.attributes["error.type"] == "invalid_response"
    chat.close()


# --- the key never shows -------------------------------------------------------------------------------------------


def test_echoed_key_is_redacted_at_every_offset_through_the_sdk(
    chat: LlmChat, openai_server: ScriptedChatServer
) -> None:
    offsets = range(MAX_ERROR_CHARS - len(API_KEY) - 2, MAX_ERROR_CHARS + 3)
    openai_server.enqueue(*(Reply.error(401, "k" * offset + API_KEY + " is wrong") for offset in offsets))
    for offset in offsets:
        with pytest.raises(DependencyError) as raised:
            chat(prompt="hi")
        message = str(raised.value)
        assert "SECRET" not in message and "4f9a" not in message, offset
        assert len(message) <= len("LLM API returned HTTP 401: ") + MAX_ERROR_CHARS


def _everything_said(error: BaseException, caplog: pytest.LogCaptureFixture, spans: Spans, chat: LlmChat) -> str:
    """Every text a key could leak into: exception, its chain, logs, span data and reprs."""
    parts = [str(error), repr(error), str(error.__cause__), str(error.__context__), caplog.text]
    parts += [record.getMessage() for record in caplog.records]
    parts += [span.to_json() for span in spans()]
    parts += [repr(chat), repr(chat.settings), repr(BuiltinToolSettings(llm=chat.settings)), repr(chat.client())]
    return "\n".join(parts)


@pytest.mark.parametrize(
    "reply",
    [
        Reply.error(401, f"Incorrect API key provided: {API_KEY}."),
        Reply.error(400, f"bad request from key {API_KEY}"),
        Reply.error(500, f"{API_KEY}" * 3),
        Reply.error(401, ""),
    ],
)
def test_key_never_appears_in_errors_logs_spans_or_reprs(
    chat: LlmChat, openai_server: ScriptedChatServer, caplog: pytest.LogCaptureFixture, spans: Spans, reply: Reply
) -> None:
    caplog.set_level(logging.DEBUG)
    openai_server.enqueue(reply)
    with pytest.raises(ToolError) as raised:
        chat(prompt="hi")
    assert openai_server.request_headers[0]["authorization"] == f"Bearer {API_KEY}"  # it was sent...
    said = _everything_said(raised.value, caplog, spans, chat)
    assert API_KEY not in said and "SECRET" not in said  # ...and said nowhere
    if reply.error_message:
        assert REDACTED in str(raised.value)


def test_a_key_in_the_base_url_userinfo_stays_out_of_the_repr(listener: RecordingListener) -> None:
    chat = LlmChat(llm_settings(f"http://user:{API_KEY}@127.0.0.1:9/v1"), listener)
    assert API_KEY not in repr(chat) and "127.0.0.1:9" in repr(chat)


# --- telemetry ---------------------------------------------------------------------------------------------------


def test_llm_called_once_per_real_call_failures_included(
    chat: LlmChat, openai_server: ScriptedChatServer, listener: RecordingListener
) -> None:
    openai_server.enqueue(
        Reply.text("ok", prompt_tokens=100, completion_tokens=20),
        Reply.error(502, "bad gateway"),
        Reply.text("ok again", prompt_tokens=50, completion_tokens=10),
    )
    chat(prompt="one")
    with pytest.raises(RetryableToolError):
        chat(prompt="two")
    chat(prompt="three")
    calls = listener.llm_calls
    assert [(c.operation, c.provider, c.model, c.error_type) for c in calls] == [
        ("chat", "openai", MODEL, ""),
        ("chat", "openai", MODEL, "server_error"),
        ("chat", "openai", MODEL, ""),
    ]
    assert [(c.input_tokens, c.output_tokens) for c in calls] == [(100, 20), (0, 0), (50, 10)]
    assert calls[0].input_cost == pytest.approx(100 * 1.5 / 1e6)
    assert calls[0].output_cost == pytest.approx(20 * 6.0 / 1e6)
    assert all(c.seconds > 0 for c in calls)


def test_each_call_is_a_genai_client_span(
    chat: LlmChat, openai_server: ScriptedChatServer, spans: Spans
) -> None:
    openai_server.enqueue(Reply.text("traced", prompt_tokens=12, completion_tokens=5))
    chat(prompt="trace me", temperature=0, max_tokens=32)
    [span] = chat_spans(spans)
    assert span.name == f"chat {MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert dict(span.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": MODEL,
        "gen_ai.request.temperature": 0.0,
        "gen_ai.request.max_tokens": 32,
        "gen_ai.response.model": MODEL,
        "gen_ai.response.id": "chatcmpl-1",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 5,
        "server.address": "127.0.0.1",
        "server.port": openai_server.port,
    }


# --- caching through the pipeline --------------------------------------------------------------------------------


def test_bypass_cache_follows_the_effective_temperature(listener: RecordingListener) -> None:
    chat = LlmChat(llm_settings("http://127.0.0.1:9/v1"), listener)
    assert not chat.bypass_cache({"prompt": "x"})
    assert not chat.bypass_cache({"prompt": "x", "temperature": 0})
    assert chat.bypass_cache({"prompt": "x", "temperature": 0.7})
    assert chat.bypass_cache({"prompt": "x", "temperature": "0.2"})
    assert chat.bypass_cache({"prompt": "x", "temperature": "hot"})  # it will fail; never cache it
    warm = LlmChat(llm_settings("http://127.0.0.1:9/v1", temperature=0.3), listener)
    assert warm.bypass_cache({"prompt": "x"}) and not warm.bypass_cache({"prompt": "x", "temperature": 0})
    everything = LlmChat(llm_settings("http://127.0.0.1:9/v1", cache_nondeterministic=True), listener)
    assert not everything.bypass_cache({"prompt": "x", "temperature": 1.0})


@pytest.fixture()
def pipeline_parts(
    openai_server: ScriptedChatServer, listener: RecordingListener, tmp_path: Path
) -> Iterator[tuple[ToolRegistry, ToolPipeline]]:
    settings = BuiltinToolSettings(
        corpus_paths=(), index_path=str(tmp_path / "index.sqlite3"), llm=llm_settings(openai_server.base_url)
    )
    registry = ToolRegistry()
    assert "llm_chat" in register_builtin_tools(registry, settings, listener)
    pipeline = ToolPipeline(registry, ToolCache(CacheSettings(), listener), listener, sleep=lambda _: None)
    yield registry, pipeline
    pipeline.close()
    llm = registry.get("llm_chat").func
    assert isinstance(llm, LlmChat)
    llm.close()


def test_registered_with_the_llm_cache_hooks(pipeline_parts: tuple[ToolRegistry, ToolPipeline]) -> None:
    registry, _ = pipeline_parts
    tool = registry.get("llm_chat")
    assert tool.cache_name == "llm"
    assert tool.parameters == LLM_CHAT_PARAMETERS
    assert tool.bypass_cache is not None and tool.bypass_cache({"prompt": "x", "temperature": 0.9})
    assert tool.cost_of is not None and tool.cost_of({"cost_dollars": 0.5}) == 0.5
    spec = tool.spec
    assert (spec.cache_tags, spec.retry.max_attempts, spec.cost_per_call) == (("llm",), 3, 0.0)
    assert spec.timeout_seconds > 0.5 + 0.5


def test_a_second_identical_call_is_an_llm_cache_hit_with_saved_dollars(
    pipeline_parts: tuple[ToolRegistry, ToolPipeline], openai_server: ScriptedChatServer, listener: RecordingListener
) -> None:
    _, pipeline = pipeline_parts
    openai_server.enqueue(Reply.text("cached answer", prompt_tokens=2000, completion_tokens=500))
    args = {"messages": [{"role": "user", "content": "why is the hit rate low?"}], "system": "be brief"}
    first = pipeline.call("llm_chat", args)
    second = pipeline.call("llm_chat", dict(reversed(list(args.items()))))
    assert (first.outcome, first.attempts, first.cache_layer) == ("success", 1, None)
    assert (second.outcome, second.attempts, second.cache_layer) == ("success", 0, "l0")
    assert second.result == first.result and second.result["content"] == "cached answer"
    assert len(openai_server.requests) == 1
    assert len(listener.llm_calls) == 1  # a hit never reaches the tool
    assert ("llm", "l0", True) in listener.lookups
    assert all(cache == "llm" for cache, _, _ in listener.lookups)
    [(cache, seconds, dollars)] = listener.saved
    assert cache == "llm" and seconds > 0
    assert dollars == pytest.approx(expected_cost(2000, 500))


def test_nondeterministic_calls_bypass_the_cache(
    pipeline_parts: tuple[ToolRegistry, ToolPipeline], openai_server: ScriptedChatServer, listener: RecordingListener
) -> None:
    _, pipeline = pipeline_parts
    openai_server.enqueue(Reply.text("one"), Reply.text("two"))
    args = {"prompt": "brainstorm", "temperature": 0.8}
    assert pipeline.call("llm_chat", args).result["content"] == "one"
    assert pipeline.call("llm_chat", args).result["content"] == "two"
    assert len(openai_server.requests) == 2
    assert listener.lookups == [] and listener.saved == []


def test_the_pipeline_retries_retryable_model_errors_and_never_blames_the_breaker_for_bad_requests(
    pipeline_parts: tuple[ToolRegistry, ToolPipeline], openai_server: ScriptedChatServer, listener: RecordingListener
) -> None:
    registry, pipeline = pipeline_parts
    openai_server.enqueue(Reply.error(503, "warming up"), Reply.text("ready"))
    report = pipeline.call("llm_chat", {"prompt": "are you up?"})
    assert (report.outcome, report.attempts, report.result["content"]) == ("success", 2, "ready")
    assert [call.error_type for call in listener.llm_calls] == ["server_error", ""]
    tool = registry.get("llm_chat")
    registry.configure(type(tool.spec)(**{**vars(tool.spec), "retry": RetryPolicy(max_attempts=1)}))
    for number in range(8):
        openai_server.enqueue(Reply.error(400, f"bad request {number}"))
        refused = pipeline.call("llm_chat", {"prompt": f"bad {number}"})
        assert refused.outcome == "error" and isinstance(refused.error, ModelRequestError)
    assert pipeline.breaker("llm_chat").state == "closed"


def test_a_chat_span_is_a_child_of_the_callers_span_across_the_worker_thread(
    pipeline_parts: tuple[ToolRegistry, ToolPipeline], openai_server: ScriptedChatServer, spans: Spans
) -> None:
    _, pipeline = pipeline_parts
    openai_server.enqueue(Reply.text("nested"))
    with trace.get_tracer("test").start_as_current_span("execute_tool llm_chat") as parent:
        assert pipeline.call("llm_chat", {"prompt": "nest me"}).ok
    [span] = chat_spans(spans)
    assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
    assert span.context is not None and span.context.trace_id == parent.get_span_context().trace_id


# --- arguments, registration, settings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"prompt": "a", "messages": [{"role": "user", "content": "b"}]},
        {"messages": []},
        {"messages": "hello"},
        {"messages": [{"content": "no role"}]},
        {"messages": [{"role": "wizard", "content": "x"}]},
        {"messages": [{"role": "user"}]},
        {"messages": [{"role": "assistant", "content": None}]},
        {"messages": [{"role": "tool", "content": "result without an id"}]},
        {"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f"}}]}]},
        {"prompt": "   "},
        {"prompt": "a", "system": ""},
        {"prompt": "a", "model": ""},
        {"prompt": "a", "temperature": "hot"},
        {"prompt": "a", "temperature": 2.5},
        {"prompt": "a", "max_tokens": 0},
        {"prompt": "a", "tools": "search"},
        {"prompt": "a", "tools": [{"type": "function", "function": {"description": "no name"}}]},
        {"prompt": "a", "tools": [{"type": "function", "function": {"name": "f", "x": object()}}]},
        {"prompt": "a", "tool_choice": "auto"},
        {"prompt": "a", "tools": [SEARCH_TOOL], "tool_choice": "sometimes"},
        {"prompt": "a", "response_format": {"type": "yaml"}},
        {"prompt": "a", "response_format": {"type": "json_schema"}},
    ],
)
def test_bad_arguments_are_tool_errors_before_any_request(
    chat: LlmChat, openai_server: ScriptedChatServer, listener: RecordingListener, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(ToolError) as raised:
        chat(**kwargs)
    assert not trips_breaker(raised.value)
    assert openai_server.requests == [] and listener.llm_calls == []


def test_model_request_error_is_the_runtimes_own() -> None:
    assert ModelRequestError is RuntimeModelRequestError  # the agent loop catches this very class


def test_disabled_when_unconfigured(listener: RecordingListener, tmp_path: Path) -> None:
    chat = LlmChat(LlmSettings(), listener)
    assert not chat.is_configured()
    with pytest.raises(ToolError, match="AGENT_RUNTIME_LLM_BASE_URL"):
        chat(prompt="hi")
    registry = ToolRegistry()
    settings = BuiltinToolSettings(corpus_paths=(), index_path=str(tmp_path / "index.sqlite3"))
    names = register_builtin_tools(registry, settings, listener)
    assert "llm_chat" not in names and "llm_chat" not in registry


def test_llm_settings_from_env() -> None:
    env = {
        "AGENT_RUNTIME_LLM_BASE_URL": "http://llm:8080/v1",
        "AGENT_RUNTIME_LLM_MODEL": "gemma",
        "AGENT_RUNTIME_LLM_PRICES": '{"gemma": {"input": 0.15, "output": 0.6}, "free": {}}',
        "AGENT_RUNTIME_LLM_CACHE_NONDETERMINISTIC": "true",
    }
    llm = BuiltinToolSettings.from_env(env).llm
    assert llm.prices == {"gemma": ModelPrice(0.15, 0.6), "free": ModelPrice(0.0, 0.0)}
    assert llm.cache_nondeterministic
    assert BuiltinToolSettings.from_env({}).llm.prices == {}
    assert not BuiltinToolSettings.from_env({}).llm.cache_nondeterministic


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("AGENT_RUNTIME_LLM_PRICES", "{gemma: 1}", "must be JSON"),
        ("AGENT_RUNTIME_LLM_PRICES", "[1, 2]", "must be a JSON object"),
        ("AGENT_RUNTIME_LLM_PRICES", '{"gemma": 0.15}', "must be an object"),
        ("AGENT_RUNTIME_LLM_PRICES", '{"gemma": {"input": -1}}', "gemma.input: must be dollars"),
        ("AGENT_RUNTIME_LLM_PRICES", '{"gemma": {"input": "cheap"}}', "gemma.input: must be dollars"),
        ("AGENT_RUNTIME_LLM_PRICES", '{"gemma": {"in": 1}}', "gemma.in: unknown key"),
        ("AGENT_RUNTIME_LLM_CACHE_NONDETERMINISTIC", "sometimes", "must be true or false"),
        ("AGENT_RUNTIME_LLM_BASE_URL", "http://[::1", "is not a valid URL"),
        ("AGENT_RUNTIME_LLM_BASE_URL", "http://127.0.0.1:99999/v1", "is not a valid URL"),
        ("AGENT_RUNTIME_LLM_BASE_URL", "127.0.0.1:8080/v1", "must be an http(s) URL with a host"),
        ("AGENT_RUNTIME_PROMETHEUS_URL", "ftp://prometheus", "must be an http(s) URL with a host"),
    ],
)
def test_bad_llm_env_values_are_config_errors(name: str, value: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=name) as raised:
        BuiltinToolSettings.from_env({name: value})
    assert problem in str(raised.value)


def test_prices_given_in_code_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"prices\.m\.output"):
        LlmSettings(prices={"m": ModelPrice(0.1, float("nan"))})
