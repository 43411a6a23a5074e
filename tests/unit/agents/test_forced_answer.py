"""The last turn before a stop without an answer may only answer: loops, the last step, a nearly spent budget."""

from __future__ import annotations

import json
from typing import Any

from agent_runtime import Task
from agent_runtime.vocabulary import InvalidAction, StopReason, TaskOutcome
from tests.support.openai_server import Reply
from tests.unit.agents.conftest import Harness, llm_agent

OSLO = {"tool": "lookup", "arguments": {"city": "Oslo"}}


def offered_actions(request: dict[str, Any]) -> list[str]:
    """The ``tool`` values the request's json_schema response format admits."""
    schema = request["response_format"]["json_schema"]["schema"]
    return [branch["properties"]["tool"]["const"] for branch in schema["anyOf"]]


def stops(harness: Harness, reason: str) -> float | None:
    return harness.registry.get_sample_value("agent_runtime_agent_stops_total", {"agent": "helper", "reason": reason})


def test_a_repeated_call_gets_one_turn_that_may_only_answer(harness: Harness) -> None:
    harness.server.enqueue(
        Reply.json_action(OSLO),
        Reply.json_action(OSLO),
        Reply.json_action(OSLO),
        Reply.json_action({"tool": "final_answer", "arguments": {"answer": "Sunny in Oslo."}}),
    )
    runtime = harness.build([llm_agent(tool_call_mode="json_schema", max_steps=6)])
    result = runtime.handle(Task("weather in Oslo?", agent="helper"))

    assert result.stop_reason == StopReason.FORCED_FINAL and result.outcome == TaskOutcome.SUCCESS
    assert result.output == "Sunny in Oslo." and result.error is None
    assert len(result.turns) == 4 and len(result.tool_calls) == 2  # the third request did not run
    assert result.turns[-1].actions == ({"type": "final", "answer": "Sunny in Oslo.", "forced_by": "loop"},)
    *ordinary, forced = harness.server.requests
    assert all(offered_actions(r) == ["lookup", "population", "final_answer"] for r in ordinary)
    assert offered_actions(forced) == ["final_answer"]
    # The answer is bounded so the JSON closes within max_tokens: one character per token after the JSON's own.
    answer = forced["response_format"]["json_schema"]["schema"]["anyOf"][0]["properties"]["arguments"]
    assert answer["properties"]["answer"]["maxLength"] == forced["max_tokens"] - 24
    assert forced["messages"][-2] == {"role": "assistant", "content": json.dumps(OSLO)}
    last = forced["messages"][-1]
    assert last["role"] == "user"
    assert last["content"].startswith(
        'You already called lookup with these arguments: {"city": "Oslo"}. '
        "No more tool calls: answer the task now from what you have."
    )
    assert stops(harness, "forced_final") == 1.0 and stops(harness, "loop") == 0.0
    assert harness.events.finished == [("helper", "llm", "forced_final", 4, 2)]


def test_the_last_step_may_only_answer_and_native_mode_says_tool_choice_none(harness: Harness) -> None:
    harness.server.enqueue(Reply.tool_calls([("lookup", {"city": "Oslo"})]), Reply.text("Sunny in Oslo."))
    runtime = harness.build([llm_agent(tool_call_mode="native", max_steps=2)])
    result = runtime.handle(Task("weather in Oslo?", agent="helper"))

    assert result.stop_reason == StopReason.FORCED_FINAL and result.output == "Sunny in Oslo."
    assert result.turns[-1].actions[0]["forced_by"] == "max_steps"
    first, last = harness.server.requests
    assert "tool_choice" not in first
    # The tools stay listed (the conversation holds a call of one); tool_choice forbids calling them.
    assert last["tool_choice"] == "none" and [t["function"]["name"] for t in last["tools"]] == ["lookup", "population"]
    assert last["messages"][-1] == {
        "role": "user",
        "content": "This is your last turn. No more tool calls: answer the task now from what you have.",
    }


def test_a_forced_turn_that_still_calls_a_tool_stops_as_a_loop_with_every_call_answered(harness: Harness) -> None:
    harness.server.default = Reply.tool_calls([("lookup", {"city": "Oslo"}), ("population", {"city": "Oslo"})])
    runtime = harness.build([llm_agent(tool_call_mode="native", max_steps=10)])
    result = runtime.handle(Task("weather?", agent="helper"))

    assert result.stop_reason == StopReason.LOOP and result.outcome == TaskOutcome.SUCCESS
    assert "asked for the same call 3 times, and no answer when asked for one" in (result.error or "")
    assert len(result.turns) == 4 and len(result.tool_calls) == 4
    forced = harness.server.requests[-1]
    assert forced["tool_choice"] == "none"
    # The looping turn's calls did not run, and each still got its reply (the protocol needs one per call id).
    replies = [m for m in forced["messages"] if m["role"] == "tool"][-2:]
    assert [m["tool_call_id"] for m in replies] == ["call_5", "call_6"]
    assert all(m["content"].startswith("not run") for m in replies)
    assert stops(harness, "loop") == 1.0 and stops(harness, "forced_final") == 0.0


def test_an_unusable_forced_reply_is_counted_and_the_run_stops_as_a_loop(harness: Harness) -> None:
    harness.server.enqueue(
        Reply.json_action(OSLO), Reply.json_action(OSLO), Reply.json_action(OSLO),
        Reply.json_action('{"tool":"final_answer","arguments":{"answer":"Sunny and'),  # cut by max_tokens
    )  # fmt: skip
    runtime = harness.build([llm_agent(tool_call_mode="json_schema")])
    result = runtime.handle(Task("weather?", agent="helper"))

    assert result.stop_reason == StopReason.LOOP
    assert [item["result"] for item in result.output] == ["sunny in Oslo"] * 2
    assert harness.events.invalid == [("helper", InvalidAction.INVALID_JSON)]
    assert result.turns[-1].actions[0]["type"] == "invalid"


def test_a_failed_forced_call_keeps_the_partial_answer(harness: Harness) -> None:
    harness.server.enqueue(Reply.json_action(OSLO), Reply.json_action(OSLO), Reply.json_action(OSLO))
    harness.server.default = Reply.error(400, "context too long")
    runtime = harness.build([llm_agent(tool_call_mode="json_schema")])
    result = runtime.handle(Task("weather?", agent="helper"))

    assert result.stop_reason == StopReason.LOOP and result.outcome == TaskOutcome.SUCCESS
    assert "the model call for an answer failed" in (result.error or "") and "context too long" in (result.error or "")
    assert result.turns[-1].error is not None


def test_too_little_budget_for_another_turn_and_an_answer_forces_the_answer(harness: Harness) -> None:
    harness.server.enqueue(
        Reply.json_action(OSLO, prompt_tokens=100, completion_tokens=20),
        Reply.json_action({"tool": "final_answer", "arguments": {"answer": "Sunny."}}),
    )
    # After the first turn 780 tokens are left: enough for a short answer over a 120-token prompt, not for
    # another 376-token turn and then an answer.
    runtime = harness.build([llm_agent(tool_call_mode="json_schema", token_budget=900, max_steps=10)])
    result = runtime.handle(Task("weather?", agent="helper"))

    assert result.stop_reason == StopReason.FORCED_FINAL and result.output == "Sunny."
    assert result.turns[-1].actions[0]["forced_by"] == "token_budget"
    forced = harness.server.requests[-1]
    assert offered_actions(forced) == ["final_answer"]
    # The reason goes in place of the usual next step, in the message carrying the tool result: chat templates
    # such as Gemma's refuse two user messages in a row.
    assert [m["role"] for m in forced["messages"]] == ["system", "user", "assistant", "user"]
    assert forced["messages"][-1]["content"] == (
        "result of lookup: sunny in Oslo\n"
        "The token budget has room for one short answer only. "
        "No more tool calls: answer the task now from what you have."
    )


def test_no_room_for_an_answer_means_no_forced_turn(harness: Harness) -> None:
    harness.server.default = Reply.json_action(OSLO, prompt_tokens=500, completion_tokens=100)
    runtime = harness.build([llm_agent(tool_call_mode="json_schema", token_budget=1000, max_steps=2)])
    result = runtime.handle(Task("weather?", agent="helper"))

    # 400 tokens left cannot hold a 600-token prompt and an answer: the last step is an ordinary turn.
    assert result.stop_reason == StopReason.MAX_STEPS
    assert all(offered_actions(r) == ["lookup", "population", "final_answer"] for r in harness.server.requests)
