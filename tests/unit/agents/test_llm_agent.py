"""LLM agents over the real openai SDK and the loopback wire-format server: each mode and each stop reason."""

from __future__ import annotations

import json

from agent_runtime import Task
from agent_runtime.vocabulary import InvalidAction, StopReason, TaskOutcome
from tests.support.openai_server import Reply
from tests.unit.agents.conftest import Harness, llm_agent


def test_native_mode_calls_tools_and_answers(harness: Harness) -> None:
    harness.server.enqueue(
        Reply.tool_calls([("lookup", {"city": "Oslo"})], prompt_tokens=40, completion_tokens=9),
        Reply.text("It is sunny in Oslo.", prompt_tokens=60, completion_tokens=7),
    )
    runtime = harness.build([llm_agent(tool_call_mode="native")])
    result = runtime.handle(Task("weather in Oslo?", agent="helper"))

    assert result.outcome == TaskOutcome.SUCCESS and result.stop_reason == StopReason.FINAL
    assert result.output == "It is sunny in Oslo."
    assert [(t.index, t.input_tokens, t.output_tokens) for t in result.turns] == [(0, 40, 9), (1, 60, 7)]
    assert result.turns[0].actions[0] == {
        "type": "tool_call", "tool": "lookup", "arguments": {"city": "Oslo"}, "call_id": "call_1"
    }  # fmt: skip
    assert [(c.tool, c.turn, c.result) for c in result.tool_calls] == [("lookup", 0, "sunny in Oslo")]
    assert result.tokens == (100, 16)
    first, second = harness.server.requests
    assert [tool["function"]["name"] for tool in first["tools"]] == ["lookup", "population"]
    assert first["tools"][1]["function"]["parameters"]["required"] == ["city"]
    assert "response_format" not in first
    # The tool result went back as a tool message answering the model's call id.
    assert second["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": "result of lookup: sunny in Oslo",
    }
    assert harness.events.finished == [("helper", "llm", "final", 2, 1)]


def test_json_schema_mode_asks_for_one_structured_action_a_turn(harness: Harness) -> None:
    harness.server.enqueue(
        Reply.json_action({"tool": "population", "arguments": {"city": "Rome", "year": 2000}}),
        Reply.json_action({"tool": "final_answer", "arguments": {"answer": "About 6000."}}),
    )
    runtime = harness.build([llm_agent(tool_call_mode="json_schema")])
    result = runtime.handle(Task("how many live in Rome?", agent="helper"))

    assert result.stop_reason == StopReason.FINAL and result.output == "About 6000."
    assert result.tool_calls[0].result == 6000
    request = harness.server.requests[0]
    assert "tools" not in request
    schema = request["response_format"]["json_schema"]["schema"]
    assert [branch["properties"]["tool"]["const"] for branch in schema["anyOf"]] == [
        "lookup",
        "population",
        "final_answer",
    ]
    # The protocol is explained with a compact example built from the first tool and the task's words.
    system = request["messages"][0]["content"]
    assert 'Example tool call: {"tool":"lookup","arguments":{"city":"how many live in Rome"}}' in system
    # The final answer is described in words: small models copy a placeholder answer ("...") verbatim.
    assert '"answer":' not in system and '"answer":' not in str(harness.server.requests[1]["messages"][1:])
    assert 'the tool "final_answer" with your answer in one or two sentences as arguments.answer' in system


def test_an_answer_without_a_letter_or_digit_is_not_an_answer(harness: Harness) -> None:
    harness.server.enqueue(
        Reply.json_action({"tool": "final_answer", "arguments": {"answer": "..."}}),
        Reply.json_action({"tool": "final_answer", "arguments": {"answer": "Sunny, 21 degrees."}}),
    )
    runtime = harness.build([llm_agent(tool_call_mode="json_schema")])
    result = runtime.handle(Task("weather?", agent="helper"))

    assert result.stop_reason == StopReason.FINAL and result.output == "Sunny, 21 degrees."
    assert harness.events.invalid == [("helper", InvalidAction.EMPTY)]
    assert "final_answer needs your answer in arguments.answer" in harness.server.requests[1]["messages"][-1]["content"]


def test_several_tool_calls_in_one_turn_run_in_parallel(harness: Harness) -> None:
    harness.server.enqueue(
        Reply.tool_calls([("nap", {"seconds": 0.4}), ("nap", {"seconds": 0.41}), ("lookup", {"city": "Rome"})]),
        Reply.text("done"),
    )
    runtime = harness.build([llm_agent(tools=["nap", "lookup"], tool_call_mode="native")])
    result = runtime.handle(Task("nap twice", agent="helper"))

    assert result.stop_reason == StopReason.FINAL
    assert [call.turn for call in result.tool_calls] == [0, 0, 0]
    # Two 0.4 s naps side by side take about 0.4 s, not 0.8 s.
    assert result.stage_seconds["tool:nap"] >= 0.8 and result.stage_seconds["execute"] < 0.75
    answers = [m for m in harness.server.requests[1]["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in answers] == ["call_1", "call_2", "call_3"]


def test_bad_model_output_goes_back_to_the_model_and_is_counted(harness: Harness) -> None:
    harness.server.enqueue(
        Reply.tool_calls([("lookup", "{not json")]),
        Reply.tool_calls([("teleport", {"to": "Mars"})]),
        Reply.tool_calls([("lookup", {"town": "Oslo"})]),
        Reply.text("Sunny."),
    )
    runtime = harness.build([llm_agent(tool_call_mode="native", max_invalid_actions=3)])
    result = runtime.handle(Task("weather?", agent="helper"))

    assert result.stop_reason == StopReason.FINAL and result.output == "Sunny."
    assert [kind for _, kind in harness.events.invalid] == [
        InvalidAction.INVALID_JSON,
        InvalidAction.UNKNOWN_TOOL,
        InvalidAction.BAD_ARGUMENTS,
    ]
    last = harness.server.requests[3]["messages"]
    feedback = [m["content"] for m in last if m["role"] == "tool"]
    assert feedback[0].startswith("error: arguments are not valid JSON")
    assert "there is no tool 'teleport'; use one of: lookup, population" in feedback[1]
    assert "'city' is a required property" in feedback[2]
    assert result.tool_calls == ()  # nothing invalid reached a tool
    assert (
        harness.registry.get_sample_value(
            "agent_runtime_agent_invalid_actions_total", {"agent": "helper", "kind": "unknown_tool"}
        )
        == 1.0
    )


def test_hostile_model_output_is_a_short_invalid_action_never_a_crash(harness: Harness) -> None:
    deep = "[" * 100_000  # past the JSON parser's recursion limit
    harness.server.enqueue(
        Reply.tool_calls([("lookup", deep)]),
        Reply.tool_calls([("lookup", {"city": [1] * 20_000})]),
        Reply.tool_calls([("lookup", {"city": "Oslo", "k" * 50_000: 1})]),
        Reply.text("Sunny."),
    )
    # The huge calls go back to the model as its own turns: a budget they fit in, so the run reaches its answer.
    runtime = harness.build([llm_agent(tool_call_mode="native", max_invalid_actions=3, token_budget=1_000_000)])
    result = runtime.handle(Task("weather?", agent="helper"))

    assert result.stop_reason == StopReason.FINAL and result.output == "Sunny."
    assert [kind for _, kind in harness.events.invalid] == [
        InvalidAction.INVALID_JSON,
        InvalidAction.BAD_ARGUMENTS,
        InvalidAction.BAD_ARGUMENTS,
    ]
    feedback = [m["content"] for m in harness.server.requests[3]["messages"] if m["role"] == "tool"]
    assert len(feedback) == 3 and all(len(text) < 400 for text in feedback), [len(text) for text in feedback]
    assert feedback[1].startswith("error: bad arguments for lookup: city: [1, 1, 1")


def test_a_json_action_nested_past_the_parser_is_invalid_json(harness: Harness) -> None:
    answer = '{"tool": "final_answer", "arguments": {"answer": "ok"}}'
    harness.server.enqueue(Reply.json_action("[" * 100_000), Reply.json_action(answer))
    runtime = harness.build([llm_agent(tool_call_mode="json_schema")])
    result = runtime.handle(Task("weather?", agent="helper"))
    assert result.output == "ok"
    assert harness.events.invalid == [("helper", InvalidAction.INVALID_JSON)]


def test_too_many_bad_outputs_stop_with_error_without_raising(harness: Harness) -> None:
    harness.server.default = Reply.json_action("this is not JSON at all")
    runtime = harness.build([llm_agent(tool_call_mode="json_schema", max_invalid_actions=2)])
    result = runtime.handle(Task("weather?", agent="helper"))

    assert result.stop_reason == StopReason.ERROR and result.outcome == TaskOutcome.ERROR
    assert "3 unusable replies" in (result.error or "")
    assert len(harness.server.requests) == 3


def test_empty_replies_are_invalid_actions(harness: Harness) -> None:
    harness.server.enqueue(Reply.text(""), Reply.text("ok then"))
    runtime = harness.build([llm_agent(tool_call_mode="native")])
    result = runtime.handle(Task("weather?", agent="helper"))
    assert result.output == "ok then"
    assert harness.events.invalid == [("helper", InvalidAction.EMPTY)]


def test_max_steps_returns_what_the_tools_found(harness: Harness) -> None:
    # The model keeps calling tools, even in its last turn, where it may only answer.
    harness.server.default = Reply.dynamic(
        lambda request: Reply.tool_calls([("lookup", {"city": f"city-{len(request['messages'])}"})])
    )
    runtime = harness.build([llm_agent(tool_call_mode="native", max_steps=3)])
    result = runtime.handle(Task("weather everywhere", agent="helper"))

    assert result.stop_reason == StopReason.MAX_STEPS
    assert result.outcome == TaskOutcome.SUCCESS  # a partial answer: what the tools found
    assert len(result.turns) == 3
    assert [item["tool"] for item in result.output] == ["lookup"] * 2  # the last turn's call did not run
    assert "no answer after 3 model turns, and no answer when asked for one" in (result.error or "")
    assert (
        harness.registry.get_sample_value("agent_runtime_agent_stops_total", {"agent": "helper", "reason": "max_steps"})
        == 1.0
    )


def test_the_same_call_a_third_time_is_a_loop(harness: Harness) -> None:
    harness.server.default = Reply.tool_calls([("lookup", {"city": "Oslo"})])
    runtime = harness.build([llm_agent(tool_call_mode="native", max_steps=10)])
    result = runtime.handle(Task("weather?", agent="helper"))

    assert result.stop_reason == StopReason.LOOP
    # Three turns asking for the same call, then one that may only answer and still calls it.
    assert len(result.turns) == 4 and len(result.tool_calls) == 2
    assert harness.calls.counts["lookup"] == 1  # the second call was a cache hit


def test_the_token_budget_stops_the_loop(harness: Harness) -> None:
    harness.server.default = Reply.dynamic(
        lambda request: Reply.tool_calls(
            [("lookup", {"city": f"c{len(request['messages'])}"})], prompt_tokens=500, completion_tokens=100
        )
    )
    runtime = harness.build([llm_agent(tool_call_mode="native", token_budget=1000, max_steps=10)])
    result = runtime.handle(Task("weather?", agent="helper"))

    assert result.stop_reason == StopReason.TOKEN_BUDGET
    assert len(result.turns) == 2
    assert result.error == "the task's token budget of 1000 tokens is spent (1200 used)"
    # Each request asks for no more tokens than the budget has left.
    assert all(r["max_tokens"] <= 256 for r in harness.server.requests)


def test_the_task_deadline_stops_the_loop(harness: Harness) -> None:
    harness.server.default = Reply.tool_calls([("nap", {"seconds": 1.5})])
    runtime = harness.build(
        [llm_agent(tools=["nap"], tool_call_mode="native")], execution={"task_timeout_seconds": 1.0}
    )
    result = runtime.handle(Task("rest", agent="helper"))
    assert result.stop_reason == StopReason.DEADLINE and result.outcome == TaskOutcome.TIMEOUT
    assert result.duration_seconds < 1.5


def test_a_model_that_cannot_be_reached_is_an_error_stop(harness: Harness) -> None:
    harness.server.default = Reply.error(500, "model crashed")
    runtime = harness.build([llm_agent(tool_call_mode="native")])
    result = runtime.handle(Task("weather?", agent="helper"))

    assert result.stop_reason == StopReason.ERROR and result.outcome == TaskOutcome.ERROR
    assert "model crashed" in (result.error or "")
    assert result.turns[0].error is not None


def test_auto_mode_falls_back_to_json_schema_when_the_server_refuses_tools(harness: Harness) -> None:
    harness.server.supports_tools = False
    harness.server.enqueue(
        Reply.json_action({"tool": "lookup", "arguments": {"city": "Oslo"}}),
        Reply.json_action({"tool": "final_answer", "arguments": {"answer": "Sunny."}}),
        Reply.json_action({"tool": "final_answer", "arguments": {"answer": "Still sunny."}}),
    )
    runtime = harness.build([llm_agent(tool_call_mode="auto")])
    assert runtime.handle(Task("weather?", agent="helper")).output == "Sunny."
    refused, *rest = harness.server.requests
    assert "tools" in refused and all("response_format" in r and "tools" not in r for r in rest)
    # The fallback is remembered: the next task goes straight to json_schema.
    assert runtime.handle(Task("weather again?", agent="helper")).output == "Still sunny."
    assert "tools" not in harness.server.requests[-1]


def test_identical_model_calls_are_answered_by_the_tool_cache(harness: Harness) -> None:
    harness.server.enqueue(Reply.text("Sunny.", prompt_tokens=30, completion_tokens=5))
    runtime = harness.build([llm_agent(tool_call_mode="native")], llm={"prices": {}})
    first = runtime.handle(Task("weather?", agent="helper"))
    second = runtime.handle(Task("weather?", agent="helper"))

    assert first.output == second.output == "Sunny."
    assert len(harness.server.requests) == 1
    assert second.turns[0].cache_layer == "l0" and second.tokens == (0, 0)
    assert [cache for cache, _, _ in harness.events.saved] == ["llm"]
    assert (
        harness.registry.get_sample_value(
            "agent_runtime_cache_requests_total", {"cache": "llm", "layer": "l0", "result": "hit"}
        )
        == 1.0
    )


def test_the_result_serialises_every_turn_and_call(harness: Harness) -> None:
    harness.server.enqueue(Reply.tool_calls([("lookup", {"city": "Oslo"})]), Reply.text("Sunny."))
    runtime = harness.build([llm_agent(tool_call_mode="native")])
    body = json.loads(json.dumps(runtime.handle(Task("weather?", agent="helper")).to_dict()))

    assert body["kind"] == "llm" and body["stop_reason"] == "final"
    assert [turn["actions"][0]["type"] for turn in body["turns"]] == ["tool_call", "final"]
    assert body["tool_calls"][0]["turn"] == 0


def test_an_argument_the_tool_does_not_take_is_a_bad_action_not_a_failed_call(harness: Harness) -> None:
    harness.server.enqueue(Reply.tool_calls([("lookup", {"city": "Oslo", "units": "metric"})]), Reply.text("ok"))
    runtime = harness.build([llm_agent(tool_call_mode="native")])
    result = runtime.handle(Task("weather?", agent="helper"))
    assert result.tool_calls == () and harness.events.invalid == [("helper", InvalidAction.BAD_ARGUMENTS)]
    assert "Additional properties are not allowed ('units' was unexpected)" in str(harness.server.requests[1])


def test_auto_mode_asks_a_llama_cpp_server_before_sending_tools(harness: Harness) -> None:
    # llama.cpp accepts tools and ignores them when the template cannot call them; /props says so.
    harness.server.template_caps = {"supports_tool_calls": False, "supports_tools": False}
    harness.server.enqueue(Reply.json_action({"tool": "final_answer", "arguments": {"answer": "Sunny."}}))
    runtime = harness.build([llm_agent(tool_call_mode="auto")])
    assert runtime.handle(Task("weather?", agent="helper")).output == "Sunny."
    assert len(harness.server.requests) == 1
    assert "tools" not in harness.server.requests[0] and "response_format" in harness.server.requests[0]
