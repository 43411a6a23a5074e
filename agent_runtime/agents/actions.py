"""What an LLM agent's model may answer, and reading its answer into actions.

Two protocols, one outcome: a list of ``Action``s per model turn.

- ``native``: the OpenAI ``tools`` / ``tool_calls`` protocol. The model gets
  the agent's tools as function definitions and answers with tool calls or
  with text, which is the final answer.
- ``json_schema``: for models whose chat template has no tool calling. The
  request carries ``response_format`` with a JSON schema that admits exactly
  one action a turn, ``{"tool": NAME, "arguments": {...}}``, one branch per
  tool with its argument schema, plus ``{"tool": "final_answer", "arguments":
  {"answer": "..."}}``. A grammar-constrained server can only produce those.

A model's bad output is an input like any other: it becomes an ``Action`` of
type ``invalid`` with an ``InvalidAction`` kind and a short message for the
model, never an exception.

Example::

    >>> tools = {"search": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}
    >>> read_json_action('{"tool": "search", "arguments": {"q": "otel"}}', tools)[0].tool
    'search'
    >>> read_json_action('{"tool": "grep", "arguments": {}}', tools)[0].invalid
    <InvalidAction.UNKNOWN_TOOL: 'unknown_tool'>
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from agent_runtime.agents.schemas import check_arguments
from agent_runtime.errors import shorten
from agent_runtime.vocabulary import InvalidAction

FINAL_ANSWER: Final = "final_answer"
# Bounds on strings in the json_schema protocol's grammar (see _closed).
MAX_ARGUMENT_CHARS: Final = 200
MAX_ANSWER_CHARS: Final = 800
# Tokens the final-answer JSON around the answer text takes: 16 with Gemma 3's tokenizer, plus some of the
# whitespace a grammar allows between them.
ANSWER_FORMAT_TOKENS: Final = 24
_MAX_ECHO_CHARS: Final = 120


@dataclass(frozen=True)
class ToolDefinition:
    """A tool as a model sees it: name, description and argument schema."""

    name: str
    description: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True)
class Action:
    """One thing a model asked for in a turn.

    Exactly one of: a tool call (``tool``, ``arguments``), a final answer
    (``answer``), or an invalid output (``invalid``, ``error``). ``call_id``
    is the model's id for a native tool call.
    """

    tool: str | None = None
    arguments: Mapping[str, Any] = field(default_factory=dict)
    answer: str | None = None
    invalid: InvalidAction | None = None
    error: str = ""
    call_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view for the task result."""
        if self.invalid is not None:
            return {"type": "invalid", "kind": self.invalid, "error": self.error}
        if self.answer is not None:
            return {"type": "final", "answer": self.answer}
        return {"type": "tool_call", "tool": self.tool, "arguments": dict(self.arguments), "call_id": self.call_id}


def native_tools(definitions: Sequence[ToolDefinition]) -> list[dict[str, Any]]:
    """The OpenAI ``tools`` list for ``definitions``."""
    return [
        {"type": "function", "function": {"name": d.name, "description": d.description, "parameters": d.parameters}}
        for d in definitions
    ]


def action_response_format(definitions: Sequence[ToolDefinition]) -> dict[str, Any]:
    """The ``response_format`` admitting one action a turn over ``definitions`` or a final answer."""
    branches: list[dict[str, Any]] = [
        {
            "type": "object",
            "properties": {"tool": {"const": d.name}, "arguments": _closed(d.parameters)},
            "required": ["tool", "arguments"],
            "additionalProperties": False,
        }
        for d in definitions
    ]
    branches.append(_final_branch())
    return _response_format(branches)


def answer_response_format(max_tokens: int) -> dict[str, Any]:
    """The ``response_format`` of a turn that may only answer within ``max_tokens``: the final answer alone.

    The answer is bounded so the JSON closes before ``max_tokens`` cuts it: a token is at least one
    character, so an answer of one character per token left after the JSON around it always fits (a
    cut reply is invalid JSON, and this turn is the run's last chance to answer).
    """
    return _response_format([_final_branch(min(max(max_tokens - ANSWER_FORMAT_TOKENS, 1), MAX_ANSWER_CHARS))])


def _response_format(branches: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "json_schema",
        "json_schema": {"name": "agent_action", "strict": True, "schema": {"anyOf": branches}},
    }


def _final_branch(max_chars: int = MAX_ANSWER_CHARS) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "tool": {"const": FINAL_ANSWER},
            "arguments": {
                "type": "object",
                "properties": {"answer": {"type": "string", "minLength": 1, "maxLength": max_chars}},
                "required": ["answer"],
                "additionalProperties": False,
            },
        },
        "required": ["tool", "arguments"],
        "additionalProperties": False,
    }


def _closed(parameters: Mapping[str, Any]) -> dict[str, Any]:
    # Constrained decoding follows the schema literally: an open object or an unbounded string lets a
    # small model ramble (or pad with the whitespace the grammar allows) until max_tokens cuts the JSON.
    schema = dict(parameters)
    if schema.get("type") == "object" and "additionalProperties" not in schema:
        schema["additionalProperties"] = False
    properties = schema.get("properties")
    if isinstance(properties, Mapping):
        schema["properties"] = {
            name: {**prop, "maxLength": MAX_ARGUMENT_CHARS}
            if isinstance(prop, Mapping) and prop.get("type") == "string" and "maxLength" not in prop
            else prop
            for name, prop in properties.items()
        }
    return schema


def protocol_instructions(definitions: Sequence[ToolDefinition], task: str = "") -> str:
    """The system-prompt text that explains the json_schema protocol, lists the tools and shows an example.

    The example calls the first tool with words from ``task`` for its string arguments.
    """
    # A compact, concrete example matters to small models: they copy its layout (and skip the padding
    # whitespace a grammar allows), so show a real call of the first tool. The final answer is described
    # in words: a small model copies any placeholder answer ("...", "<one or two sentences>") verbatim.
    lines = ["Reply with exactly one compact JSON object on one line: either a tool call or your final answer."]
    lines.append("Tools:")
    for d in definitions:
        lines.append(f"- {d.name}: {d.description} Arguments: {json.dumps(d.parameters.get('properties', {}))}")
    if definitions:
        words = " ".join(task.split()[:6]).strip("?.!") or "..."
        example = {"tool": definitions[0].name, "arguments": _example_arguments(definitions[0].parameters, words)}
        lines.append(f"Example tool call: {json.dumps(example, separators=(',', ':'))}")
    lines.append(
        f'Final answer, once the tool results are enough: the tool "{FINAL_ANSWER}" with your answer '
        "in one or two sentences as arguments.answer."
    )
    return "\n".join(lines)


def _example_arguments(parameters: Mapping[str, Any], words: str) -> dict[str, Any]:
    properties = parameters.get("properties")
    required = parameters.get("required") or []
    example: dict[str, Any] = {}
    if isinstance(properties, Mapping):
        for name in required:
            prop = properties.get(name)
            kind = prop.get("type") if isinstance(prop, Mapping) else None
            example[name] = {"integer": 1, "number": 1.0, "boolean": True}.get(str(kind), words)
    return example


def read_json_action(content: str | None, tools: Mapping[str, Mapping[str, Any]]) -> list[Action]:
    """The one action in a json_schema-mode reply (``tools``: name → argument schema)."""
    if content is None or not content.strip():
        return [Action(invalid=InvalidAction.EMPTY, error="the reply was empty; answer with one JSON action")]
    try:
        data = json.loads(content)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        return [Action(invalid=InvalidAction.INVALID_JSON, error=f"not valid JSON: {_echo(content)}")]
    if not isinstance(data, Mapping) or not isinstance(data.get("tool"), str):
        return [
            Action(
                invalid=InvalidAction.BAD_ARGUMENTS,
                error='the action must be an object {"tool": "<name>", "arguments": {...}}',
            )
        ]
    arguments = data.get("arguments", {})
    if data["tool"] == FINAL_ANSWER:
        answer = arguments.get("answer") if isinstance(arguments, Mapping) else None
        if not isinstance(answer, str) or not _says_something(answer):
            return [Action(invalid=InvalidAction.EMPTY, error="final_answer needs your answer in arguments.answer")]
        return [Action(answer=answer)]
    return [_tool_action(data["tool"], arguments, tools, None)]


def read_native_reply(
    content: str | None, tool_calls: Sequence[Mapping[str, Any]], tools: Mapping[str, Mapping[str, Any]]
) -> list[Action]:
    """The actions in a native-mode reply: its tool calls, else its text as the final answer."""
    if not tool_calls:
        if content is None or not _says_something(content):
            return [Action(invalid=InvalidAction.EMPTY, error="the reply had neither tool calls nor an answer")]
        return [Action(answer=content)]
    actions: list[Action] = []
    for call in tool_calls:
        call_id = str(call.get("id") or "")
        raw = call.get("arguments")
        try:
            arguments = json.loads(raw) if isinstance(raw, str) and raw.strip() else {}
        except (ValueError, RecursionError):
            actions.append(
                Action(
                    invalid=InvalidAction.INVALID_JSON,
                    error=f"arguments are not valid JSON: {_echo(str(raw))}",
                    call_id=call_id,
                    tool=str(call.get("name") or ""),
                )
            )
            continue
        actions.append(_tool_action(str(call.get("name") or ""), arguments, tools, call_id))
    return actions


def _tool_action(name: str, arguments: Any, tools: Mapping[str, Mapping[str, Any]], call_id: str | None) -> Action:
    schema = tools.get(name)
    if schema is None:
        known = ", ".join(sorted(tools))
        return Action(
            tool=name,
            invalid=InvalidAction.UNKNOWN_TOOL,
            error=f"there is no tool {_echo(name)!r}; use one of: {known}",
            call_id=call_id,
        )
    problem = check_arguments(schema, arguments)
    if problem is not None:
        return Action(
            tool=name,
            invalid=InvalidAction.BAD_ARGUMENTS,
            error=f"bad arguments for {name}: {problem}",
            call_id=call_id,
        )
    return Action(tool=name, arguments=dict(arguments), call_id=call_id)


def _says_something(answer: str) -> bool:
    """False for an answer without a letter or digit: empty, or a copied placeholder such as "..."."""
    return any(char.isalnum() for char in answer)


def _echo(text: str) -> str:
    """A model's text, shortened for an error message that goes back to it."""
    return shorten(text, _MAX_ECHO_CHARS, squash_whitespace=True)
