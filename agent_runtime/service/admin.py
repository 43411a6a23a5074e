"""Admin endpoints behind a bearer token: cache invalidation and warming, breaker reset.

With no token configured the endpoints answer 403 and say how to enable
them; a missing or wrong token gets 401 with ``WWW-Authenticate: Bearer``.
Tokens are compared in constant time.

Example::

    curl -X POST -H "Authorization: Bearer $AGENT_RUNTIME_ADMIN_TOKEN" \\
         -H "Content-Type: application/json" -d '{"tag": "corpus"}' \\
         http://127.0.0.1:8000/v1/cache/invalidate
"""

from __future__ import annotations

import hmac
import logging
from typing import Final

from flask import Blueprint, Response, jsonify, request

from agent_runtime.errors import UnknownToolError
from agent_runtime.service.errors import ApiError, shorten
from agent_runtime.service.settings import ADMIN_TOKEN_ENV
from agent_runtime.service.state import current_state
from agent_runtime.service.validation import EXAMPLE_INVALIDATE, json_object, parse_invalidate, parse_warm

logger = logging.getLogger(__name__)

blueprint = Blueprint("admin", __name__)

REALM: Final = 'Bearer realm="agent-runtime"'


@blueprint.before_request
def require_admin_token() -> None:
    """Refuse the request unless it carries the configured admin token."""
    token = current_state().settings.admin_token
    if token is None:
        raise ApiError(
            403,
            "admin_disabled",
            f"admin endpoints are disabled; set {ADMIN_TOKEN_ENV} (or ServiceSettings.admin_token) "
            "on the service to enable them",
        )
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise ApiError(
            401,
            "unauthorized",
            "this endpoint needs the admin token: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": REALM},
        )
    if not hmac.compare_digest(presented.strip().encode(), token.encode()):
        raise ApiError(
            401,
            "unauthorized",
            "the admin token is wrong; send the token the service was started with",
            headers={"WWW-Authenticate": f'{REALM}, error="invalid_token"'},
        )


def _unknown_tool(name: str) -> ApiError:
    names = ", ".join(spec.name for spec in current_state().runtime.tool_specs())
    return ApiError(404, "unknown_tool", f"unknown tool {shorten(name)!r}; registered tools: {names}")


def _known_tool(name: str) -> str:
    if name not in {spec.name for spec in current_state().runtime.tool_specs()}:
        raise _unknown_tool(name)
    return name


def _known_tag(tag: str) -> str:
    tags = current_state().runtime.cache_tags()
    if tag not in tags:
        raise ApiError(
            404, "unknown_tag", f"unknown cache tag {shorten(tag)!r}; tags in use: {', '.join(tags) or 'none'}"
        )
    return tag


def _scope(tool: str | None, tag: str | None) -> str:
    return f"tool {tool}" if tool is not None else f"tag {tag}"


@blueprint.post("/v1/cache/invalidate")
def invalidate_cache() -> Response:
    """Drop cached results of one tool (``{"tool": ...}``) or one tag (``{"tag": ...}``)."""
    tool, tag = parse_invalidate(json_object(required=True, example=EXAMPLE_INVALIDATE))
    if tool is not None:
        _known_tool(tool)
    if tag is not None:
        _known_tag(tag)
    removed = current_state().runtime.invalidate(tool=tool, tag=tag)
    # Validated names only (a known tool or tag): what on-call greps for when hit rates drop.
    logger.info("cache invalidated through the admin API: %s, %d entries dropped", _scope(tool, tag), removed)
    return jsonify({"invalidated": removed, "tool": tool, "tag": tag})


@blueprint.post("/v1/cache/warm")
def warm_cache() -> Response:
    """Re-run the most popular recorded tool calls into the cache (``{"top_n": N}`` optional)."""
    state = current_state()
    top_n = parse_warm(json_object(required=False), state.settings)
    warmed = state.runtime.warm(top_n=top_n)
    logger.info("cache warmed through the admin API: %d calls stored", warmed)
    return jsonify({"warmed": warmed})


@blueprint.post("/v1/breakers/<tool>/reset")
def reset_breaker(tool: str) -> Response:
    """Close a tool's circuit breaker and clear its failure window."""
    try:
        snapshot = current_state().runtime.reset_breaker(tool)
    except UnknownToolError:
        raise _unknown_tool(tool) from None
    return jsonify({"tool": tool, "breaker": snapshot})
