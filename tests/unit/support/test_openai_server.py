"""The scripted OpenAI server, driven by the real (unpatched) ``openai`` SDK."""

from __future__ import annotations

import json
import time
from typing import Any

import openai
import pytest
import requests

from tests.support.openai_server import NO_REPLY_LEFT, TOOLS_UNSUPPORTED, Reply, ScriptedChatServer

MODEL = "scripted-model"
TOOL = {
    "type": "function",
    "function": {"name": "search", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}},
}


def client(server: ScriptedChatServer, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0, **kwargs)


def ask(server: ScriptedChatServer, text: str = "hello there model", **kwargs: Any) -> Any:
    return client(server).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": text}], **kwargs
    )


def test_text_reply_with_default_and_explicit_usage(openai_server: ScriptedChatServer) -> None:
    openai_server.enqueue(Reply.text("hi, how can I help?"), Reply.text("ok", prompt_tokens=7, completion_tokens=3))

    first = ask(openai_server, "hello there model", temperature=0.2, max_tokens=32)
    second = ask(openai_server)

    assert first.choices[0].message.content == "hi, how can I help?"
    assert first.choices[0].finish_reason == "stop"
    assert first.model == MODEL and first.object == "chat.completion" and first.id == "chatcmpl-1"
    assert first.usage is not None
    assert (first.usage.prompt_tokens, first.usage.completion_tokens, first.usage.total_tokens) == (3, 5, 8)
    assert second.usage is not None and second.usage.total_tokens == 10
    sent = openai_server.requests[0]
    assert sent["temperature"] == 0.2 and sent["max_tokens"] == 32
    assert sent["messages"] == [{"role": "user", "content": "hello there model"}]
    assert openai_server.request_headers[0]["authorization"] == "Bearer test"
    assert openai_server.pending == 0


def test_tool_calls_are_parsed_by_the_sdk(openai_server: ScriptedChatServer) -> None:
    openai_server.enqueue(Reply.tool_calls([("search", {"q": "cats"}), ("search", {"q": "dogs"})]))

    reply = ask(openai_server, tools=[TOOL], tool_choice="auto")

    message = reply.choices[0].message
    assert reply.choices[0].finish_reason == "tool_calls"
    assert message.content is None
    assert message.tool_calls is not None
    assert [call.id for call in message.tool_calls] == ["call_1", "call_2"]
    assert message.tool_calls[0].type == "function"
    assert message.tool_calls[0].function.name == "search"
    assert json.loads(message.tool_calls[1].function.arguments) == {"q": "dogs"}
    assert openai_server.requests[0]["tools"] == [TOOL]
    assert openai_server.requests[0]["tool_choice"] == "auto"


def test_raw_invalid_json_arguments_arrive_verbatim(openai_server: ScriptedChatServer) -> None:
    openai_server.enqueue(Reply.tool_calls([("search", '{"q": "cats"')]))

    call = ask(openai_server, tools=[TOOL]).choices[0].message.tool_calls[0]

    assert call.function.arguments == '{"q": "cats"'


def test_json_action_and_response_format_are_recorded(openai_server: ScriptedChatServer) -> None:
    openai_server.enqueue(Reply.json_action({"tool": "search", "arguments": {"q": "cats"}}))
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "action", "schema": {"type": "object"}, "strict": True},
    }

    reply = ask(openai_server, response_format=response_format)

    assert json.loads(reply.choices[0].message.content) == {"tool": "search", "arguments": {"q": "cats"}}
    assert openai_server.requests[0]["response_format"] == response_format


def test_error_statuses_map_to_sdk_exceptions(openai_server: ScriptedChatServer) -> None:
    openai_server.enqueue(Reply.error(429, "slow down", retry_after=2), Reply.error(500, "boom"))

    with pytest.raises(openai.RateLimitError) as rate_limited:
        ask(openai_server)
    with pytest.raises(openai.InternalServerError) as failed:
        ask(openai_server)

    assert rate_limited.value.response.headers["retry-after"] == "2"
    assert rate_limited.value.body == {
        "message": "slow down", "type": "requests", "param": None, "code": "rate_limit_exceeded"
    }
    assert "boom" in failed.value.message


def test_delay_past_the_client_timeout_raises_api_timeout(openai_server: ScriptedChatServer) -> None:
    openai_server.enqueue(Reply.text("too late", delay_seconds=5), Reply.text("on time"))

    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        ask(openai_server, timeout=0.2)
    assert time.monotonic() - started < 2

    assert ask(openai_server).choices[0].message.content == "on time"


def test_tools_unsupported_gives_bad_request_and_keeps_the_reply(openai_server: ScriptedChatServer) -> None:
    openai_server.supports_tools = False
    openai_server.enqueue(Reply.json_action('{"tool": "search"}'))

    with pytest.raises(openai.BadRequestError) as rejected:
        ask(openai_server, tools=[TOOL])
    fallback = ask(openai_server, response_format={"type": "json_object"})

    assert TOOLS_UNSUPPORTED in rejected.value.message
    assert fallback.choices[0].message.content == '{"tool": "search"}'
    assert ["tools" in request for request in openai_server.requests] == [True, False]


def test_dynamic_reply_sees_the_request(openai_server: ScriptedChatServer) -> None:
    def echo_tool_result(request: dict[str, Any]) -> Reply:
        return Reply.text(f"tool said {request['messages'][-1]['content']}")

    openai_server.enqueue(Reply.dynamic(echo_tool_result))
    messages: list[Any] = [
        {"role": "user", "content": "find cats"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "search", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "3 cats"},
    ]

    reply = client(openai_server).chat.completions.create(model=MODEL, messages=messages)

    assert reply.choices[0].message.content == "tool said 3 cats"


def test_queue_exhaustion_is_500_unless_a_default_is_set(openai_server: ScriptedChatServer) -> None:
    with pytest.raises(openai.InternalServerError) as exhausted:
        ask(openai_server)
    assert NO_REPLY_LEFT in exhausted.value.message

    openai_server.default = Reply.text("default")
    assert ask(openai_server).choices[0].message.content == "default"
    assert ask(openai_server).choices[0].message.content == "default"


def test_validation_models_health_and_unknown_paths() -> None:
    with ScriptedChatServer(models=["a", "b"], default=Reply.text("x")) as server:
        root = server.base_url.removesuffix("/v1")
        assert requests.get(f"{root}/health").json() == {"status": "ok"}
        assert [model.id for model in client(server).models.list()] == ["a", "b"]
        missing_model = requests.post(f"{server.base_url}/chat/completions", json={"messages": [{"role": "user"}]})
        malformed = requests.post(f"{server.base_url}/chat/completions", data=b"{not json")
        unknown = requests.get(f"{server.base_url}/embeddings")
        with pytest.raises(openai.BadRequestError):
            client(server).chat.completions.create(model="a", messages=[])

    assert missing_model.status_code == 400 and missing_model.json()["error"]["param"] == "model"
    assert malformed.status_code == 400 and malformed.json()["error"]["type"] == "invalid_request_error"
    assert unknown.status_code == 404
    assert set(unknown.json()["error"]) >= {"message", "type", "code"}
