"""Request bodies: parse, check and turn into runtime values, or explain what is wrong.

Every refusal is an ``ApiError`` whose message names the field, what was
wrong with it and what to send instead. Nothing from a refused request
reaches the runtime, so bad input can never create a metric label value.

Example::

    >>> from agent_runtime.service.settings import ServiceSettings
    >>> parse_task({"task": "why is p95 up?"}, ServiceSettings(), agents=("writer",)).text
    'why is p95 up?'
    >>> parse_task({"task": ""}, ServiceSettings(), agents=()).text
    Traceback (most recent call last):
    ...
    agent_runtime.service.errors.ApiError: "task" is empty; send the text of the task
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any, Final

from flask import request
from werkzeug.exceptions import ClientDisconnected, HTTPException, RequestEntityTooLarge

from agent_runtime.results import Task
from agent_runtime.service.errors import ApiError, shorten
from agent_runtime.service.settings import ServiceSettings

TASK_FIELDS: Final = ("task", "context", "agent")
INVALIDATE_FIELDS: Final = ("tool", "tag")
WARM_FIELDS: Final = ("top_n",)
EXAMPLE_TASK: Final = '{"task": "why is the cache hit rate dropping?"}'
EXAMPLE_INVALIDATE: Final = '{"tool": "knowledge_search"}'
_JSON_TYPES: Final = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "number",
    float: "number",
    type(None): "null",
}


def json_type(value: object) -> str:
    """The JSON name of ``value``'s type (object, array, string, ...)."""
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# Built once: json.loads with an option builds a decoder on every call (2 us of a cached task's request).
_DECODER: Final = json.JSONDecoder(parse_constant=_reject_constant)
_JSON_MIMETYPE: Final = "application/json"


def _body() -> bytes:
    """The raw body; one that cannot be read (a broken chunked encoding, a cut connection) is a 400."""
    try:
        return request.get_data(cache=True)
    except ClientDisconnected:
        raise ApiError(
            400, "incomplete_body", "the body ended before its declared length or final chunk; send it whole"
        ) from None
    except HTTPException:
        raise  # werkzeug's own answers, e.g. 413 for a body over the limit
    except Exception as exc:  # the server's parser refusing the framing (gunicorn: InvalidChunkSize, ...)
        raise ApiError(
            400,
            "malformed_body",
            f"the body could not be read ({type(exc).__name__}): check its chunked encoding "
            "(hex chunk sizes, CRLF after each chunk, a final 0 chunk) or send it with Content-Length",
        ) from None


def json_object(*, required: bool, example: str = EXAMPLE_TASK) -> dict[str, Any]:
    """The request body as a JSON object.

    An empty body is ``{}`` unless ``required``: then it is a 400 whose
    message shows ``example``, a body the endpoint takes. A body must be sent
    as ``application/json`` (415 otherwise) and be a JSON object (400
    otherwise); werkzeug refuses bodies over ``MAX_CONTENT_LENGTH`` with a
    413 while reading.
    """
    data = _body()
    if request.content_length is None:
        limit = request.max_content_length
        if limit is not None and len(data) >= limit:
            # werkzeug cuts a streamed (chunked) body at the limit instead of refusing it.
            raise RequestEntityTooLarge()
    if not data:
        if required:
            raise ApiError(400, "missing_body", f"the request needs a JSON object body, e.g. {example}")
        return {}
    # The header as clients send it needs no parsing; anything else (parameters, case) goes through werkzeug's.
    if request.environ.get("CONTENT_TYPE") != _JSON_MIMETYPE:
        mimetype = request.mimetype
        if mimetype != _JSON_MIMETYPE and not (mimetype.startswith("application/") and mimetype.endswith("+json")):
            raise ApiError(
                415,
                "unsupported_media_type",
                f"Content-Type must be application/json, got {shorten(mimetype) or 'none'!r}; "
                "send the body as JSON with that header",
            )
    try:
        text = data.decode("utf-8")
        if text.startswith("\ufeff"):
            # What json.loads says of a byte-order mark (the decoder itself would only see a bad value).
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        body = _DECODER.decode(text)
    except UnicodeDecodeError:
        raise ApiError(400, "malformed_json", "the body is not UTF-8 text; send UTF-8 encoded JSON") from None
    except json.JSONDecodeError as exc:
        raise ApiError(
            400,
            "malformed_json",
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
        ) from None
    except ValueError as exc:
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError(400, "malformed_json", "the body nests too deeply; send a flatter JSON object") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", f"the body must be a JSON object, got {json_type(body)}")
    return body


def _check_fields(body: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ApiError(
            400,
            "unknown_field",
            f"unknown field {shorten(unknown[0])!r}; allowed fields: {', '.join(allowed)}",
        )


def _optional_string(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, "invalid_type", f'"{name}" must be a string, got {json_type(value)}')
    if not value.strip():
        raise ApiError(400, "invalid_value", f'"{name}" is empty; send a name or leave the field out')
    return value


def parse_task(body: Mapping[str, Any], settings: ServiceSettings, *, agents: Collection[str]) -> Task:
    """A ``Task`` from a ``POST /v1/tasks`` body; ``agents`` are the configured agent names."""
    _check_fields(body, TASK_FIELDS)
    if "task" not in body:
        raise ApiError(400, "missing_field", f'"task" is required: the text of the task, e.g. {EXAMPLE_TASK}')
    text = body["task"]
    if not isinstance(text, str):
        raise ApiError(400, "invalid_type", f'"task" must be a string, got {json_type(text)}')
    if not text.strip():
        raise ApiError(400, "empty_task", '"task" is empty; send the text of the task')
    if len(text) > settings.max_task_chars:
        raise ApiError(
            400,
            "task_too_long",
            f'"task" has {len(text)} characters, over the limit of {settings.max_task_chars}; shorten it',
        )
    context = body.get("context")
    if context is None:
        context = {}
    if not isinstance(context, dict):
        raise ApiError(
            400, "invalid_type", f'"context" must be an object of key: value pairs, got {json_type(context)}'
        )
    if len(context) > settings.max_context_keys:
        raise ApiError(
            400,
            "context_too_large",
            f'"context" has {len(context)} keys, over the limit of {settings.max_context_keys}; send fewer',
        )
    agent = _optional_string(body, "agent")
    if agent is not None and agent not in agents:
        raise ApiError(
            400,
            "unknown_agent",
            f"unknown agent {shorten(agent)!r}; configured agents: {', '.join(sorted(agents)) or 'none'} "
            '(omit "agent" to let the router choose)',
        )
    return Task(text=text, context=context, agent=agent)


def parse_invalidate(body: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """``(tool, tag)`` from a ``POST /v1/cache/invalidate`` body: exactly one of them."""
    _check_fields(body, INVALIDATE_FIELDS)
    tool = _optional_string(body, "tool")
    tag = _optional_string(body, "tag")
    if (tool is None) == (tag is None):
        raise ApiError(
            400,
            "invalid_body",
            'send exactly one of "tool" (a tool name) or "tag" (a cache tag), e.g. ' + EXAMPLE_INVALIDATE,
        )
    return tool, tag


def parse_warm(body: Mapping[str, Any], settings: ServiceSettings) -> int | None:
    """``top_n`` from a ``POST /v1/cache/warm`` body (None: the configured default)."""
    _check_fields(body, WARM_FIELDS)
    top_n = body.get("top_n")
    if top_n is None:
        return None
    if isinstance(top_n, bool) or not isinstance(top_n, int):
        raise ApiError(400, "invalid_type", f'"top_n" must be an integer, got {json_type(top_n)}')
    if not 1 <= top_n <= settings.max_warm_top_n:
        raise ApiError(400, "invalid_value", f'"top_n" must be between 1 and {settings.max_warm_top_n}, got {top_n}')
    return top_n
