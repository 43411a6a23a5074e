"""JSON error responses: every failure leaves as ``{"error": {"code", "message"}}``.

Handlers cover the service's own ``ApiError``, werkzeug's HTTP errors
(unknown route, wrong method, body too large), the runtime's domain errors
and, last, any unexpected exception, which is logged with its traceback and
answered with a 500 that reveals nothing of it.

The request-size limits are the service's own, checked before any endpoint
runs, so they are answered in JSON too: a request target (path and query)
over ``MAX_REQUEST_TARGET_BYTES`` is a 414 ``uri_too_long``, a header field
over ``MAX_HEADER_FIELD_BYTES`` or more than ``MAX_HEADER_FIELDS`` fields a
431. Gunicorn's limits (``agent_runtime/serving/gunicorn_conf.py``) are set
above these as a backstop; what gunicorn refuses itself it answers in HTML,
before the app sees the request (docs/security.md).

Example::

    >>> ApiError(400, "empty_task", '"task" is empty').status
    400
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Final

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge

from agent_runtime import errors
from agent_runtime.errors import PlanError, RejectedError, UnknownAgentError, UnknownToolError

logger = logging.getLogger(__name__)

# Seconds a client should wait before retrying a task refused at the in-flight limit.
RETRY_AFTER_SECONDS: Final = 1
# Echoed request values (paths, names) are cut to this many characters.
ECHO_LIMIT: Final = 80
# The service's request limits (JSON 414/431 over them). Gunicorn's own limits are higher.
MAX_REQUEST_TARGET_BYTES: Final = 4094
MAX_HEADER_FIELD_BYTES: Final = 8190
MAX_HEADER_FIELDS: Final = 64
# The two header fields WSGI passes without the HTTP_ prefix, and their prefixed forms, which werkzeug ignores.
_UNPREFIXED: Final = frozenset({"CONTENT_TYPE", "CONTENT_LENGTH"})
_UNPREFIXED_AS_HTTP: Final = frozenset({"HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"})


class ApiError(Exception):
    """A request the service refuses, with the HTTP status and a JSON error body."""

    def __init__(self, status: int, code: str, message: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def shorten(value: str, limit: int = ECHO_LIMIT) -> str:
    """``value`` cut to ``limit`` characters (``ECHO_LIMIT`` by default), so echoing user input stays bounded."""
    return errors.shorten(value, limit)


def error_response(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """The JSON error body with ``status`` and extra ``headers``."""
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.code, exc.message, exc.headers)


def _http_error(exc: HTTPException) -> Response:
    """werkzeug's HTML errors, as JSON with a message that says what to do."""
    path = shorten(request.path)
    if isinstance(exc, NotFound):
        return error_response(404, "not_found", f"no endpoint at {path}; GET /openapi.json lists every endpoint")
    if isinstance(exc, MethodNotAllowed):
        allowed = sorted(exc.valid_methods or ())
        usable = [method for method in allowed if method not in ("HEAD", "OPTIONS")]
        return error_response(
            405,
            "method_not_allowed",
            f"{request.method} is not allowed on {path}; use {' or '.join(usable)}",
            {"Allow": ", ".join(allowed)},
        )
    if isinstance(exc, RequestEntityTooLarge):
        limit = request.max_content_length
        return error_response(
            413,
            "payload_too_large",
            f"the request body is over the limit of {limit} bytes; send a smaller body",
        )
    status = exc.code or 500
    code = (exc.name or "error").lower().replace(" ", "_").replace("'", "")
    return error_response(status, code, exc.description or code)


def check_request_limits() -> None:
    """Refuse, as JSON, a request whose target or headers are over the service's limits.

    Runs before every endpoint (``before_request``). Sizes are counted as
    sent: the raw request target, and each header field as ``name: value``.
    """
    environ = request.environ
    target = str(environ.get("RAW_URI") or environ.get("REQUEST_URI") or request.full_path)
    if len(target) > MAX_REQUEST_TARGET_BYTES:
        raise ApiError(
            414,
            "uri_too_long",
            f"the request target (path and query) is {len(target)} bytes, over the limit of "
            f"{MAX_REQUEST_TARGET_BYTES}; send the data in a JSON body instead",
        )
    # The header fields straight from the environ, as werkzeug's EnvironHeaders lists them, without
    # building their names: a name is as long as its key without "HTTP_" (CONTENT_TYPE: Content-Type).
    count = 0
    largest = 0
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            if key in _UNPREFIXED_AS_HTTP:
                continue
            size = len(key) - 3 + len(value)
        elif key in _UNPREFIXED and value:
            size = len(key) + 2 + len(value)
        else:
            continue
        count += 1
        largest = max(largest, size)
    if count > MAX_HEADER_FIELDS:
        raise ApiError(
            431,
            "too_many_header_fields",
            f"the request has {count} header fields, over the limit of {MAX_HEADER_FIELDS}; send fewer headers",
        )
    if largest > MAX_HEADER_FIELD_BYTES:
        for name, value in request.headers.items():
            size = len(name) + 2 + len(value)
            if size > MAX_HEADER_FIELD_BYTES:
                raise ApiError(
                    431,
                    "header_field_too_large",
                    f"the header {shorten(name, 40)!r} is {size} bytes, over the limit of {MAX_HEADER_FIELD_BYTES} "
                    "per field; send a shorter value",
                )


def _rejected(exc: RejectedError) -> Response:
    return error_response(
        429, "over_capacity", f"the runtime is busy: {exc}", {"Retry-After": str(RETRY_AFTER_SECONDS)}
    )


def _unknown_agent(exc: UnknownAgentError) -> Response:
    return error_response(400, "unknown_agent", f'{exc}; omit "agent" to let the router choose')


def _unknown_tool(exc: UnknownToolError) -> Response:
    return error_response(404, "unknown_tool", str(exc))


def _plan_error(exc: PlanError) -> Response:
    return error_response(400, "invalid_task", f'{exc}; add it to the task\'s "context" object')


def _internal(exc: Exception) -> Response:
    # The traceback goes to the log, never to the client.
    logger.exception("unhandled error in %s %s", request.method, shorten(request.path))
    return error_response(500, "internal_error", "the service failed to handle this request; the error has been logged")


def register_error_handlers(app: Flask) -> None:
    """Install the JSON error handlers, and the request-limit check they answer for, on ``app``."""
    app.before_request(check_request_limits)
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(RejectedError, _rejected)
    app.register_error_handler(UnknownAgentError, _unknown_agent)
    app.register_error_handler(UnknownToolError, _unknown_tool)
    app.register_error_handler(PlanError, _plan_error)
    app.register_error_handler(Exception, _internal)
