"""JSON schemas of tool arguments, as models see them.

A tool's schema is declared (``RegisteredTool.parameters``, or an agent's
``tool_schemas`` in YAML) or derived from its Python signature: each
keyword parameter becomes a property typed from its annotation, parameters
without a default are required, and the first paragraph of the docstring is
the description. Arguments a model sends are checked against the schema
before the call is made, so a bad call goes back to the model as an error
instead of reaching the tool.

Example::

    >>> def search(query: str, top_k: int = 5) -> list[str]:
    ...     '''Search the runbooks.'''
    ...     return []
    >>> schema = derive_parameters(search)
    >>> schema["properties"]["top_k"], schema["required"]
    ({'type': 'integer'}, ['query'])
    >>> check_arguments(schema, {"query": 3})
    "query: 3 is not of type 'string'"
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from agent_runtime.errors import shorten

_SIMPLE: Final[dict[Any, str]] = {str: "string", int: "integer", float: "number", bool: "boolean"}
# Agents listed as tools take one argument: the task to hand them.
AGENT_TOOL_PARAMETERS: Final[Mapping[str, Any]] = {
    "type": "object",
    "properties": {"task": {"type": "string", "description": "the task for this agent, in plain words"}},
    "required": ["task"],
    "additionalProperties": False,
}


def describe(func: Callable[..., Any], fallback: str = "") -> str:
    """The first paragraph of ``func``'s docstring, on one line (else ``fallback``)."""
    doc = inspect.getdoc(func) or ""
    first = doc.split("\n\n", 1)[0]
    return " ".join(first.split()) or fallback


def derive_parameters(func: Callable[..., Any]) -> dict[str, Any]:
    """The JSON schema of ``func``'s keyword arguments, from its signature and type hints."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return {"type": "object"}
    try:
        hints = typing.get_type_hints(func)
    except Exception:
        # Unresolvable annotations (forward references to missing names) leave properties untyped.
        hints = {}
    properties: dict[str, Any] = {}
    required: list[str] = []
    open_keywords = False
    for name, parameter in signature.parameters.items():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            open_keywords = True
            continue
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        if parameter.kind is inspect.Parameter.POSITIONAL_ONLY:
            continue
        properties[name] = _type_schema(hints.get(name, Any))
        if parameter.default is inspect.Parameter.empty:
            required.append(name)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if not open_keywords:
        # An argument the function does not take would fail the call: refuse it as a bad action instead.
        schema["additionalProperties"] = False
    return schema


def _type_schema(annotation: Any) -> dict[str, Any]:
    if annotation in _SIMPLE:
        return {"type": _SIMPLE[annotation]}
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [_type_schema(arg) for arg in args if arg is not type(None)]
        nullable = type(None) in args
        if len(options) == 1 and not nullable:
            return options[0]
        branches = [*options, {"type": "null"}] if nullable else options
        return {"anyOf": branches} if all(branches) else {}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (list, tuple, Sequence) or annotation in (list, tuple):
        item = _type_schema(args[0]) if args and args[0] is not Ellipsis else {}
        return {"type": "array", "items": item} if item else {"type": "array"}
    if origin in (dict, Mapping) or annotation in (dict, Mapping):
        return {"type": "object"}
    return {}


MAX_PROBLEM_CHARS: Final = 300
"""Longest message ``check_arguments`` returns: a validator quotes the offending value, which a model may
make any size, and the message goes back into the model's prompt and the task's result."""


def check_arguments(schema: Mapping[str, Any], arguments: Any) -> str | None:
    """None when ``arguments`` satisfy ``schema``; else a short message naming the first problem."""
    if not isinstance(arguments, Mapping):
        return f"arguments must be a JSON object, got {type(arguments).__name__}"
    try:
        validator = Draft202012Validator(schema)
        error = next(iter(validator.iter_errors(dict(arguments))), None)
    except SchemaError as exc:
        return f"the tool's declared schema is invalid: {exc.message}"
    if error is None:
        return None
    where = ".".join(str(part) for part in error.absolute_path)
    return shorten(f"{where}: {error.message}" if where else error.message, MAX_PROBLEM_CHARS, squash_whitespace=True)
