"""llm_chat against a loopback OpenAI-compatible server: results, cache, telemetry, errors, secrecy."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from agent_runtime.builtin_tools import BuiltinToolSettings, register_builtin_tools
from agent_runtime.builtin_tools.llm_chat import LlmChat, ResponseCache, build_messages, canonical_key
from agent_runtime.builtin_tools.settings import LlmSettings
from agent_runtime.errors import RetryableToolError, ToolError
from agent_runtime.registry import ToolRegistry
from tests.support.binaries import free_port
from tests.unit.builtin_tools.conftest import LoopbackServer, RecordingListener, Reply, SeenRequest

API_KEY = "sk-test-SECRET-4f9a2c71e0"
JSON = {"Content-Type": "application/json"}


def completion(request: SeenRequest) -> Reply:
    """An OpenAI-style answer that echoes the last message, with usage."""
    body = request.json()
    answer = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": body["model"] + "-2024",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "echo: " + body["messages"][-1]["content"]},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    }
    return Reply(200, json.dumps(answer).encode(), JSON)


def error_reply(status: int, message: str | None) -> Reply:
    body = {"error": {"message": message, "type": "invalid_request_error"}} if message else {}
    return Reply(status, json.dumps(body).encode(), JSON)


@pytest.fixture()
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture()
def llm_server(http_server: LoopbackServer) -> LoopbackServer:
    http_server.routes["/v1/chat/completions"] = completion
    return http_server


@pytest.fixture()
def chat(llm_server: LoopbackServer, listener: RecordingListener, spans: InMemorySpanExporter) -> Iterator[LlmChat]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    settings = LlmSettings(
        base_url=llm_server.url("/v1"),
        model="test-model",
        api_key=API_KEY,
        provider="openai",
        read_timeout_seconds=0.5,
    )
    client = LlmChat(settings, listener, tracer=provider.get_tracer("test"))
    yield client
    client.close()


def _only_span(spans: InMemorySpanExporter) -> ReadableSpan:
    [span] = spans.get_finished_spans()
    return span


def test_completion_content_usage_and_request(chat: LlmChat, llm_server: LoopbackServer) -> None:
    result = chat(prompt="hello", system="be brief")
    assert result == {
        "content": "echo: hello",
        "model": "test-model-2024",
        "finish_reason": "stop",
        "tool_calls": [],
        "usage": {"input_tokens": 12, "output_tokens": 5},
        "cached": False,
    }
    [request] = llm_server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.json() == {
        "model": "test-model",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}],
        "temperature": 0.0,
    }


def test_identical_call_is_served_from_the_cache(
    chat: LlmChat, llm_server: LoopbackServer, listener: RecordingListener
) -> None:
    first = chat(messages=[{"role": "user", "content": "status?"}])
    second = chat(messages=[{"role": "user", "content": "status?"}])
    assert len(llm_server.requests) == 1
    assert second == {**first, "cached": True}
    assert listener.lookups == [("llm", "l0", False), ("llm", "l0", True)]
    [(cache, seconds)] = listener.saved
    assert cache == "llm" and seconds > 0
    assert len(listener.llm_calls) == 1  # a cache hit spends no tokens


def test_different_options_are_different_cache_entries(chat: LlmChat, llm_server: LoopbackServer) -> None:
    chat(prompt="hi")
    chat(prompt="hi", temperature=0.7)
    chat(prompt="hi", max_tokens=10)
    chat(prompt="hi", tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}])
    assert len(llm_server.requests) == 4
    assert llm_server.requests[2].json()["max_tokens"] == 10


def test_token_usage_is_reported_to_the_listener(chat: LlmChat, listener: RecordingListener) -> None:
    chat(prompt="count my tokens")
    [call] = listener.llm_calls
    assert {k: v for k, v in call.items() if k != "seconds"} == {
        "operation": "chat",
        "provider": "openai",
        "model": "test-model",
        "input_tokens": 12,
        "output_tokens": 5,
    }
    assert call["seconds"] > 0


def test_call_is_a_genai_client_span(chat: LlmChat, spans: InMemorySpanExporter, llm_server: LoopbackServer) -> None:
    chat(prompt="trace me")
    span = _only_span(spans)
    assert span.name == "chat test-model"
    assert span.kind is SpanKind.CLIENT
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.request.model"] == "test-model"
    assert attributes["gen_ai.response.model"] == "test-model-2024"
    assert attributes["gen_ai.usage.input_tokens"] == 12
    assert attributes["gen_ai.usage.output_tokens"] == 5
    assert attributes["server.port"] == llm_server.port
    assert "error.type" not in attributes


def test_server_error_is_retryable_with_error_type_on_the_span(
    chat: LlmChat, llm_server: LoopbackServer, spans: InMemorySpanExporter, listener: RecordingListener
) -> None:
    llm_server.routes["/v1/chat/completions"] = lambda _: error_reply(500, "upstream exploded")
    with pytest.raises(RetryableToolError, match="HTTP 500: upstream exploded"):
        chat(prompt="hi")
    span = _only_span(spans)
    assert span.attributes is not None and span.attributes["error.type"] == "500"
    assert span.status.status_code is StatusCode.ERROR
    assert listener.llm_calls == []


def test_failures_are_not_cached(chat: LlmChat, llm_server: LoopbackServer) -> None:
    llm_server.routes["/v1/chat/completions"] = lambda _: error_reply(503, "overloaded")
    with pytest.raises(RetryableToolError):
        chat(prompt="hi")
    llm_server.routes["/v1/chat/completions"] = completion
    assert chat(prompt="hi")["cached"] is False


def test_rate_limit_is_retryable(chat: LlmChat, llm_server: LoopbackServer) -> None:
    llm_server.routes["/v1/chat/completions"] = lambda _: error_reply(429, "slow down")
    with pytest.raises(RetryableToolError, match="HTTP 429"):
        chat(prompt="hi")


def test_client_error_is_permanent_with_the_servers_message(chat: LlmChat, llm_server: LoopbackServer) -> None:
    llm_server.routes["/v1/chat/completions"] = lambda _: error_reply(400, "max_tokens is too large")
    with pytest.raises(ToolError, match="HTTP 400: max_tokens is too large") as raised:
        chat(prompt="hi")
    assert not isinstance(raised.value, RetryableToolError)


def test_timeout_is_retryable(chat: LlmChat, llm_server: LoopbackServer, spans: InMemorySpanExporter) -> None:
    llm_server.routes["/v1/chat/completions"] = lambda r: Reply(**{**vars(completion(r)), "delay_seconds": 2.0})
    with pytest.raises(RetryableToolError, match="timed out"):
        chat(prompt="hi")
    attributes = _only_span(spans).attributes
    assert attributes is not None and attributes["error.type"] == "timeout"


def test_unreachable_server_is_retryable(listener: RecordingListener) -> None:
    settings = LlmSettings(base_url=f"http://127.0.0.1:{free_port()}/v1", model="m", api_key=API_KEY)
    with pytest.raises(RetryableToolError, match="ConnectionError"):
        LlmChat(settings, listener)(prompt="hi")


def _everything_said(
    error: BaseException, caplog: pytest.LogCaptureFixture, spans: InMemorySpanExporter, chat: LlmChat
) -> str:
    """Every text a key could leak into: exception, its chain, logs, span data and reprs."""
    parts = [str(error), repr(error), str(error.__cause__), str(error.__context__), caplog.text]
    parts += [record.getMessage() for record in caplog.records]
    for span in spans.get_finished_spans():
        parts.append(span.to_json())
    parts += [repr(chat), repr(chat.settings), repr(BuiltinToolSettings(llm=chat.settings))]
    return "\n".join(parts)


def test_key_never_appears_in_errors_logs_spans_or_reprs_on_401(
    chat: LlmChat, llm_server: LoopbackServer, caplog: pytest.LogCaptureFixture, spans: InMemorySpanExporter
) -> None:
    llm_server.routes["/v1/chat/completions"] = lambda _: Reply(401, b"", JSON)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ToolError, match="HTTP 401") as raised:
        chat(prompt="hi")
    assert llm_server.requests[0].headers["Authorization"] == f"Bearer {API_KEY}"  # it was sent...
    assert API_KEY not in _everything_said(raised.value, caplog, spans, chat)  # ...and said nowhere


def test_key_echoed_by_the_server_is_redacted(
    chat: LlmChat, llm_server: LoopbackServer, caplog: pytest.LogCaptureFixture, spans: InMemorySpanExporter
) -> None:
    llm_server.routes["/v1/chat/completions"] = lambda _: error_reply(401, f"Incorrect API key provided: {API_KEY}")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ToolError, match=r"Incorrect API key provided: \[REDACTED\]") as raised:
        chat(prompt="hi")
    assert API_KEY not in _everything_said(raised.value, caplog, spans, chat)


def test_disabled_when_unconfigured(listener: RecordingListener) -> None:
    chat = LlmChat(LlmSettings(), listener)
    assert not chat.is_configured()
    with pytest.raises(ToolError, match="AGENT_RUNTIME_LLM_BASE_URL"):
        chat(prompt="hi")
    registry = ToolRegistry()
    names = register_builtin_tools(registry, BuiltinToolSettings(corpus_paths=()), listener)
    assert "llm_chat" not in names and "llm_chat" not in registry


def test_registered_when_configured(llm_server: LoopbackServer, listener: RecordingListener) -> None:
    settings = BuiltinToolSettings(
        corpus_paths=(), llm=LlmSettings(base_url=llm_server.url("/v1"), model="m", cache_ttl_seconds=60)
    )
    registry = ToolRegistry()
    assert "llm_chat" in register_builtin_tools(registry, settings, listener)
    tool = registry.get("llm_chat")
    assert (tool.spec.ttl_seconds, tool.spec.cache_tags, tool.spec.retry.max_attempts) == (60, ("llm",), 3)
    assert tool.func(prompt="via registry")["content"] == "echo: via registry"
    assert "Authorization" not in llm_server.requests[0].headers  # no key configured, none sent


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"prompt": "a", "messages": [{"role": "user", "content": "b"}]},
        {"messages": []},
        {"messages": "hello"},
        {"messages": [{"content": "no role"}]},
        {"prompt": "   "},
        {"prompt": "a", "temperature": "hot"},
        {"prompt": "a", "max_tokens": 0},
        {"prompt": "a", "tools": [{"type": "function", "function": {"name": "f", "x": object()}}]},
    ],
)
def test_bad_arguments_are_tool_errors(chat: LlmChat, llm_server: LoopbackServer, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ToolError):
        chat(**kwargs)
    assert llm_server.requests == []


def test_messages_keep_extra_fields_and_system_goes_first() -> None:
    messages = build_messages(None, [{"role": "user", "content": "q", "name": "ann"}], "sys")
    assert messages == [{"role": "system", "content": "sys"}, {"role": "user", "content": "q", "name": "ann"}]


def test_canonical_key_ignores_key_order() -> None:
    assert canonical_key({"a": 1, "b": [1, 2]}) == canonical_key({"b": [1, 2], "a": 1})
    assert canonical_key({"a": 1}) != canonical_key({"a": 2})


def test_response_cache_expires_and_evicts_least_recently_used() -> None:
    now = [0.0]
    cache = ResponseCache(max_entries=2, ttl_seconds=10.0, clock=lambda: now[0])
    cache.put("a", {"v": 1}, 0.5)
    cache.put("b", {"v": 2}, 0.5)
    assert cache.get("a") == ({"v": 1}, 0.5)  # "a" is now the most recently used
    cache.put("c", {"v": 3}, 0.5)
    assert cache.get("b") is None and cache.get("a") is not None
    now[0] = 10.0
    assert cache.get("a") is None and cache.get("c") is None
    assert len(cache) == 0


def test_editing_a_result_does_not_edit_the_cache(chat: LlmChat) -> None:
    first = chat(prompt="stable")
    first["usage"]["input_tokens"] = -1
    first["content"] = "tampered"
    second = chat(prompt="stable")
    assert (second["content"], second["usage"]["input_tokens"], second["cached"]) == ("echo: stable", 12, True)
