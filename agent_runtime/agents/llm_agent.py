"""The LLM agent loop: the model picks the next tool from what the last one returned.

Each turn the model sees the instructions, the task, the agent's tools and
everything so far, and answers with tool calls or a final answer
(``actions``). Tool calls of one turn run in parallel through the pipeline;
their results go back to the model. The loop stops on:

- ``final``: the model answered;
- ``forced_final``: the model answered in a last turn that allowed nothing
  else (see below);
- ``max_steps``: ``spec.max_steps`` model turns without an answer;
- ``loop``: the same tool with the same canonical arguments asked for a
  third time;
- ``token_budget``: the task's token budget is spent, or too little of it is
  left for another turn and an answer;
- ``deadline``: the task timeout passed;
- ``error``: the model could not be called (after the pipeline's retries and
  fallback), or it sent more than ``spec.max_invalid_actions`` unusable
  replies.

Before a run ends without an answer for a reason the model can still fix (a
loop, its last step, a budget with room for one more turn only), the model
gets one turn that may only answer: in ``json_schema`` the response format
offers only ``final_answer``, in ``native`` the request says
``tool_choice: "none"``, and a last message says why. Its answer ends the
run as ``forced_final``; without one the run stops as ``loop``,
``max_steps`` or ``token_budget`` after all. The forced turn is one of the
``max_steps`` turns, and is taken only when the budget has room for the
prompt so far and a short answer.

Unusable replies (invalid JSON, an unknown tool, bad arguments, nothing at
all) go back to the model as a short error and are counted. A run that stops
without an answer returns what its tools found.

``tool_call_mode: auto`` starts with native tool calls and, if the server
refuses them (a chat template without tool calling), switches to the
``json_schema`` protocol for that model from then on.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final

from agent_runtime.agents.actions import (
    Action,
    ToolDefinition,
    action_response_format,
    answer_response_format,
    native_tools,
    protocol_instructions,
    read_json_action,
    read_native_reply,
)
from agent_runtime.agents.run import AgentOutcome, TaskRun
from agent_runtime.agents.schemas import AGENT_TOOL_PARAMETERS, derive_parameters, describe
from agent_runtime.config.models import AgentSpec
from agent_runtime.errors import ModelRequestError, shorten
from agent_runtime.results import ModelTurn, Task, ToolCallOutcome
from agent_runtime.vocabulary import StopReason, ToolCallMode

if TYPE_CHECKING:
    from agent_runtime.agents.runner import AgentRunner, ChatReply

# A tool result is shown to the model shortened to this many characters.
MAX_RESULT_CHARS: Final = 2000
# The same call asked for this many times in one task is a loop.
LOOP_REPEATS: Final = 3
# No JSON answer example here or in the prompts below: small models copy its placeholder as their answer.
NEXT_STEP: Final = "If that answers the task, reply with final_answer and your answer; otherwise call another tool."
DEFAULT_INSTRUCTIONS: Final = "You are a helpful agent. Use the tools to find what you need, then answer briefly."
# Tokens a short answer (one or two sentences) needs: a forced answer is asked for only with this much
# budget left beyond the prompt.
ANSWER_TOKENS: Final = 64
ANSWER_NOW: Final = "No more tool calls: answer the task now from what you have."
# What a tool call the run will not make is answered with (native calls each need a reply).
NOT_RUN: Final = "not run: the tool results above are all you get"


@dataclass(frozen=True)
class _Forced:
    """Why a turn may only answer: the stop the run ends with if it does not, and what the model is told."""

    reason: StopReason
    error: str
    prompt: str


def tool_definitions(runner: AgentRunner, spec: AgentSpec) -> list[ToolDefinition]:
    """The tools ``spec`` lists, as the model sees them (agents listed as tools take a ``task``)."""
    definitions: list[ToolDefinition] = []
    registry = runner.tools()
    for name in spec.tools:
        declared = spec.tool_schemas.get(name)
        if name in registry:
            tool = registry.get(name)
            parameters = declared or tool.parameters or derive_parameters(tool.func)
            description = tool.spec.description or describe(tool.func, name)
        else:
            agent = runner.agent(name)
            parameters = declared or AGENT_TOOL_PARAMETERS
            description = (agent.description if agent else "") or f"hand a task to the {name} agent"
        definitions.append(ToolDefinition(name, " ".join(description.split()), parameters))
    return definitions


class _Loop:
    """One LLM agent run: the conversation, the counters, and the stop decision."""

    def __init__(self, runner: AgentRunner, spec: AgentSpec, task: Task, run: TaskRun) -> None:
        self.runner = runner
        self.spec = spec
        self.run = run
        self.definitions = tool_definitions(runner, spec)
        self.schemas = {d.name: d.parameters for d in self.definitions}
        self.task = task
        self.outcome = AgentOutcome(StopReason.MAX_STEPS)
        self.mode = self._initial_mode()
        self.invalid = 0
        self.seen: Counter[str] = Counter()
        self.messages: list[dict[str, Any]] = [
            {"role": "system", "content": self._system_prompt()},
            {"role": "user", "content": _task_message(task)},
        ]

    def _initial_mode(self) -> ToolCallMode:
        mode = self.spec.tool_call_mode
        if mode is ToolCallMode.AUTO:
            return ToolCallMode.JSON_SCHEMA if self._model_key() in self.runner.native_refused else ToolCallMode.NATIVE
        return mode

    def _model_key(self) -> str:
        return self.spec.model or ""

    def _system_prompt(self) -> str:
        text = self.spec.instructions.strip() or DEFAULT_INSTRUCTIONS
        if self.mode is ToolCallMode.JSON_SCHEMA:
            text = f"{text}\n\n{protocol_instructions(self.definitions, self.task.text)}"
        return text

    def request(self, answer_only: bool) -> dict[str, Any]:
        # An answer gets what the budget leaves after the prompt (room_for_answer made that >= ANSWER_TOKENS).
        left = self.run.tokens_left - (self.prompt_tokens() if answer_only else 0)
        max_tokens = max(min(self.spec.max_tokens_per_turn, left), 1)
        args: dict[str, Any] = {"messages": self.messages, "max_tokens": max_tokens}
        if self.mode is ToolCallMode.NATIVE:
            args["tools"] = native_tools(self.definitions)
            if answer_only and self.definitions:
                # The tools stay listed: the conversation holds calls of them (and the prompt prefix stays cached).
                args["tool_choice"] = "none"
        elif answer_only:
            args["response_format"] = answer_response_format(max_tokens)
        else:
            args["response_format"] = action_response_format(self.definitions)
        return args

    def call_model(self, index: int, *, answer_only: bool = False) -> ChatReply:
        """Model turn ``index``, in json_schema from now on if the server refuses native tools in auto mode."""
        runner, spec, run = self.runner, self.spec, self.run
        reply = runner.chat(spec, index, self.request(answer_only), run)
        if not reply.ok and self.mode is ToolCallMode.NATIVE and spec.tool_call_mode is ToolCallMode.AUTO:
            error = reply.report.error
            if isinstance(error, ModelRequestError) and error.tools_unsupported:
                self.switch_to_json_schema()
                reply = runner.chat(spec, index, self.request(answer_only), run)
        if reply.turn.cache_layer is None:
            run.spend(reply.turn.input_tokens + reply.turn.output_tokens)
        return reply

    def switch_to_json_schema(self) -> None:
        """The server refused native tool calls: use the json_schema protocol from now on."""
        self.runner.native_refused.add(self._model_key())
        self.mode = ToolCallMode.JSON_SCHEMA
        self.messages[0] = {"role": "system", "content": self._system_prompt()}

    def stop(self, reason: StopReason, error: str | None = None, answer: str | None = None) -> AgentOutcome:
        outcome = self.outcome
        outcome.stop_reason = reason
        if answer is not None:
            outcome.output = answer
        else:
            outcome.output = outcome.found() or None
            outcome.error = error
        return outcome

    def read(self, reply: ChatReply) -> list[Action]:
        value = reply.value
        if self.mode is ToolCallMode.NATIVE:
            calls = value.get("tool_calls") or []
            return read_native_reply(value.get("content"), calls if isinstance(calls, list) else [], self.schemas)
        return read_json_action(value.get("content"), self.schemas)

    def remember(self, reply: ChatReply, actions: Sequence[Action]) -> None:
        """Append the model's turn to the conversation, in the protocol's own shape."""
        value = reply.value
        if self.mode is ToolCallMode.NATIVE and any(a.call_id for a in actions):
            calls = value.get("tool_calls") or []
            self.messages.append(
                {
                    "role": "assistant",
                    "content": value.get("content"),
                    "tool_calls": [
                        {
                            "id": call.get("id"),
                            "type": "function",
                            "function": {"name": call.get("name"), "arguments": call.get("arguments") or "{}"},
                        }
                        for call in calls
                    ],
                }
            )
        else:
            self.messages.append({"role": "assistant", "content": value.get("content") or ""})

    def answer_invalid(self, actions: Sequence[Action]) -> None:
        for action in self.count_invalid(actions):
            self._tell(action, f"error: {action.error}")

    def count_invalid(self, actions: Sequence[Action]) -> list[Action]:
        """The invalid ones of ``actions``, counted and reported."""
        invalid: list[Action] = []
        for action in actions:
            if action.invalid is None:
                continue
            invalid.append(action)
            self.invalid += 1
            self.runner.listener.invalid_action(self.spec.name, action.invalid)
        return invalid

    def answer_results(self, actions: Sequence[Action], calls: Sequence[ToolCallOutcome]) -> None:
        for action, call in zip(actions, calls, strict=True):
            repeat = self.seen[_call_key(action)] > 1
            if call.ok:
                text = f"result of {action.tool}: {_shorten(call.result)}"
                if repeat:
                    # Said once, before the third identical request ends the run as a loop.
                    text = f"{text}\nYou asked for exactly this call before: use the result or change the arguments."
                self._tell(action, text)
            else:
                self._tell(action, f"error from {action.tool}: {call.error or call.outcome}")

    def _tell(self, action: Action, text: str) -> None:
        if self.mode is ToolCallMode.NATIVE and action.call_id:
            self.messages.append({"role": "tool", "tool_call_id": action.call_id, "content": text})
        else:
            self.messages.append({"role": "user", "content": f"{text}\n{NEXT_STEP}"})

    def repeated(self, actions: Sequence[Action]) -> Action | None:
        """The first of ``actions`` asked for a ``LOOP_REPEATS``-th time (the run is looping), or None."""
        looped = None
        for action in actions:
            key = _call_key(action)
            self.seen[key] += 1
            if looped is None and self.seen[key] >= LOOP_REPEATS:
                looped = action
        return looped

    def prompt_tokens(self) -> int:
        """A lower bound on the next prompt: the last turn's prompt and reply, which it repeats."""
        if not self.outcome.turns:
            return 0
        last = self.outcome.turns[-1]
        return last.input_tokens + last.output_tokens

    def room_for_answer(self) -> bool:
        """True when the budget left covers the prompt so far and a short answer."""
        return self.run.tokens_left >= self.prompt_tokens() + ANSWER_TOKENS

    def last_turn(self, index: int) -> _Forced | None:
        """Why turn ``index`` may only answer (the last step, or the last turn the budget allows), else None."""
        if not self.room_for_answer():
            # Too little left even for a forced answer: an ordinary turn, then the budget stop.
            return None
        if index == self.spec.max_steps - 1:
            return _Forced(
                StopReason.MAX_STEPS,
                f"no answer after {self.spec.max_steps} model turns",
                f"This is your last turn. {ANSWER_NOW}",
            )
        # Another ordinary turn, then a forced answer over a prompt grown by that turn, must both fit.
        ordinary = self.prompt_tokens() + self.spec.max_tokens_per_turn
        if self.outcome.turns and self.run.tokens_left < 2 * ordinary + ANSWER_TOKENS:
            return _Forced(
                StopReason.TOKEN_BUDGET,
                f"{self.run.tokens_left} tokens of the task's budget left: too few for another turn and an answer",
                f"The token budget has room for one short answer only. {ANSWER_NOW}",
            )
        return None

    def after_loop(self, index: int, action: Action) -> _Forced | None:
        """The forced turn after turn ``index`` repeated ``action``, or None when no step or budget is left for it."""
        if index + 1 >= self.spec.max_steps or not self.room_for_answer():
            return None
        arguments = json.dumps(dict(action.arguments), sort_keys=True, default=str, ensure_ascii=False)
        return _Forced(
            StopReason.LOOP,
            f"the model asked for the same call {LOOP_REPEATS} times",
            f"You already called {action.tool} with these arguments: {_shorten(arguments)}. {ANSWER_NOW}",
        )

    def ask(self, prompt: str) -> None:
        """Tell the model ``prompt`` in place of the usual next step after the conversation's last message."""
        last = self.messages[-1]
        if last["role"] != "user":
            self.messages.append({"role": "user", "content": prompt})
            return
        # Chat templates such as Gemma's refuse two user messages in a row (HTTP 400): extend the last one.
        content = str(last["content"]).removesuffix(NEXT_STEP).rstrip()
        self.messages[-1] = {"role": "user", "content": f"{content}\n{prompt}"}

    def answer_now(self, index: int, forced: _Forced, refused: Sequence[Action] = ()) -> AgentOutcome:
        """Turn ``index`` may only answer: its answer ends the run, else ``forced``'s stop does.

        ``refused``: the tool calls of the previous turn that will not run.
        """
        if self.run.expired:
            return self.stop(StopReason.DEADLINE, "the task deadline passed")
        for action in refused:
            if self.mode is ToolCallMode.NATIVE and action.call_id:
                self.messages.append({"role": "tool", "tool_call_id": action.call_id, "content": NOT_RUN})
        self.ask(forced.prompt)
        reply = self.call_model(index, answer_only=True)
        if not reply.ok:
            self.outcome.turns.append(reply.turn)
            if self.run.expired:
                return self.stop(StopReason.DEADLINE, "the task deadline passed")
            return self.stop(forced.reason, f"{forced.error}; the model call for an answer failed: {reply.turn.error}")
        actions = self.read(reply)
        self.outcome.turns.append(_with_actions(reply, actions, forced_by=forced.reason))
        final = next((a.answer for a in actions if a.answer is not None), None)
        if final is not None:
            return self.stop(StopReason.FORCED_FINAL, answer=final)
        self.count_invalid(actions)
        return self.stop(forced.reason, f"{forced.error}, and no answer when asked for one")


def run_llm_agent(runner: AgentRunner, spec: AgentSpec, task: Task, run: TaskRun) -> AgentOutcome:
    """Run the loop for ``spec`` on ``task``; see the module docstring for when it stops."""
    loop = _Loop(runner, spec, task, run)
    for index in range(spec.max_steps):
        if run.expired:
            return loop.stop(StopReason.DEADLINE, "the task deadline passed")
        if run.tokens_left <= 0:
            spent = f"the task's token budget of {run.token_budget} tokens is spent ({run.tokens_used} used)"
            return loop.stop(StopReason.TOKEN_BUDGET, spent)
        forced = loop.last_turn(index)
        if forced is not None:
            return loop.answer_now(index, forced)
        reply = loop.call_model(index)
        if not reply.ok:
            loop.outcome.turns.append(reply.turn)
            return loop.stop(StopReason.ERROR, f"the model call failed: {reply.turn.error}")
        actions = loop.read(reply)
        loop.outcome.turns.append(_with_actions(reply, actions))
        final = next((a for a in actions if a.answer is not None), None)
        if final is not None and final.answer is not None:
            return loop.stop(StopReason.FINAL, answer=final.answer)
        loop.remember(reply, actions)
        loop.answer_invalid(actions)
        if loop.invalid > spec.max_invalid_actions:
            return loop.stop(StopReason.ERROR, f"the model sent {loop.invalid} unusable replies")
        requested = [a for a in actions if a.invalid is None and a.tool is not None]
        if not requested:
            continue
        repeated = loop.repeated(requested)
        if repeated is not None:
            forced = loop.after_loop(index, repeated)
            if forced is None:
                return loop.stop(StopReason.LOOP, f"the model asked for the same call {LOOP_REPEATS} times")
            return loop.answer_now(index + 1, forced, refused=requested)
        calls, timed_out = runner.call_tools(spec, requested, run, turn=index)
        loop.outcome.calls.extend(calls)
        loop.answer_results(requested, calls)
        if timed_out:
            return loop.stop(StopReason.DEADLINE, "the task deadline passed during tool calls")
    # Only when the last turn had no budget left for a forced answer.
    return loop.stop(StopReason.MAX_STEPS, f"no answer after {spec.max_steps} model turns")


def _with_actions(reply: ChatReply, actions: Sequence[Action], forced_by: StopReason | None = None) -> ModelTurn:
    """The turn with its actions; those of a turn that could only answer name the stop it was to avoid."""
    views = [action.to_dict() for action in actions]
    if forced_by is not None:
        views = [{**view, "forced_by": forced_by} for view in views]
    return replace(reply.turn, actions=tuple(views))


def _call_key(action: Action) -> str:
    """A tool call's identity: the tool and its canonical arguments."""
    return json.dumps([action.tool, action.arguments], sort_keys=True, default=str)


def _task_message(task: Task) -> str:
    if not task.context:
        return task.text
    return f"{task.text}\n\nContext: {_shorten(dict(task.context))}"


def _shorten(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return shorten(text, MAX_RESULT_CHARS)
