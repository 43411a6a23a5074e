"""``/v1/faults``: inject, list and clear faults (admin token; off unless enabled).

=======================  =====================================================
``GET /v1/faults``       active faults, the fault kinds and the dependencies
``POST /v1/faults``      inject one fault (body below); 201 with the fault
``DELETE /v1/faults``    clear every fault
``DELETE /v1/faults/ID`` clear one fault (404 when it is not active)
=======================  =====================================================

The body of ``POST``: ``{"kind": "latency", "tool": "knowledge_search",
"seconds": 0.5, "duration_seconds": 60}``; fields are ``kind``, ``tool`` or
``tools`` (a list, ``["*"]`` for all), ``seconds``, ``rate``, ``dependency``,
``every_seconds`` and ``duration_seconds`` (see ``FaultRequest`` in
``agent_runtime.ops.fault_store``).

With fault injection off (``AGENT_RUNTIME_FAULTS`` unset) every endpoint
answers 404 ``faults_disabled``; with it on, the admin token rules of the
other admin endpoints apply (403 with no token configured, 401 without the
right one).

Example::

    curl -X POST -H "Authorization: Bearer $AGENT_RUNTIME_ADMIN_TOKEN" \\
         -H "Content-Type: application/json" \\
         -d '{"kind": "dependency_down", "dependency": "prometheus", "duration_seconds": 120}' \\
         http://127.0.0.1:8000/v1/faults
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

from flask import Blueprint, Flask, Response, current_app, jsonify

from agent_runtime.ops.fault_store import KINDS, FaultError, FaultRequest
from agent_runtime.ops.faults import ENABLE_ENV, FaultInjector, FaultSettings
from agent_runtime.runtime import Runtime
from agent_runtime.service.admin import require_admin_token
from agent_runtime.service.errors import ApiError, shorten
from agent_runtime.service.validation import json_object, json_type

EXTENSION_KEY: Final = "agent_runtime.ops.faults"
EXAMPLE_FAULT: Final = '{"kind": "latency", "tool": "knowledge_search", "seconds": 0.5, "duration_seconds": 60}'
FIELDS: Final = ("kind", "tool", "tools", "seconds", "rate", "dependency", "every_seconds", "duration_seconds")

blueprint = Blueprint("faults", __name__)


def register_faults_api(app: Flask, runtime: Runtime, settings: FaultSettings | None = None) -> FaultInjector | None:
    """Add ``/v1/faults`` to ``app``; when enabled, wrap ``runtime``'s tools with a ``FaultInjector``.

    ``settings`` defaults to ``FaultSettings.from_env()``. Returns the
    injector, or None when fault injection is off (the endpoints then say so).
    """
    settings = settings or FaultSettings.from_env()
    injector = FaultInjector.for_runtime(runtime, settings) if settings.enabled else None
    app.extensions[EXTENSION_KEY] = injector
    app.register_blueprint(blueprint)
    return injector


def _injector() -> FaultInjector:
    injector = current_app.extensions.get(EXTENSION_KEY)
    if not isinstance(injector, FaultInjector):
        raise ApiError(
            404,
            "faults_disabled",
            f"fault injection is off; start the service with {ENABLE_ENV}=1 to enable /v1/faults",
        )
    return injector


@blueprint.before_request
def _guard() -> None:
    """404 when fault injection is off, then the admin token check."""
    _injector()
    require_admin_token()


@blueprint.get("/v1/faults")
def list_faults() -> Response:
    """The active faults, with the kinds that can be injected and the known dependencies."""
    return jsonify(_injector().status())


@blueprint.post("/v1/faults")
def inject_fault() -> tuple[Response, int]:
    """Inject one fault; answers 201 with it (its ``id`` clears it early)."""
    request = parse_fault_request(json_object(required=True, example=EXAMPLE_FAULT))
    try:
        fault = _injector().inject(request)
    except FaultError as exc:
        raise ApiError(400, "invalid_fault", str(exc)) from None
    return jsonify({"fault": fault.to_dict()}), 201


@blueprint.delete("/v1/faults")
def clear_faults() -> Response:
    """Clear every active fault."""
    return jsonify({"cleared": _injector().clear()})


@blueprint.delete("/v1/faults/<fault_id>")
def clear_fault(fault_id: str) -> Response:
    """Clear one fault by id."""
    if not _injector().clear(fault_id):
        raise ApiError(404, "unknown_fault", f"no active fault {shorten(fault_id)!r}; GET /v1/faults lists them")
    return jsonify({"cleared": 1, "id": fault_id})


def parse_fault_request(body: Mapping[str, Any]) -> FaultRequest:
    """The ``POST /v1/faults`` body as a ``FaultRequest``, or an ``ApiError`` saying what is wrong.

    Every field's JSON type is checked before its value is used, so a wrong
    type is a 400 ``invalid_type`` naming the field, never a 500.
    """
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise ApiError(400, "unknown_field", f"unknown field {shorten(unknown[0])!r}; fields: {', '.join(FIELDS)}")
    if "kind" not in body:
        raise ApiError(400, "missing_field", f'"kind" is required: one of {", ".join(KINDS)}')
    kind = body["kind"]
    if not isinstance(kind, str):
        raise ApiError(
            400, "invalid_type", f'"kind" must be a string (one of {", ".join(KINDS)}), got {json_type(kind)}'
        )
    if kind not in KINDS:
        raise ApiError(400, "invalid_kind", f'"kind" must be one of {", ".join(KINDS)}, got {shorten(kind)!r}')
    if "tool" in body and "tools" in body:
        raise ApiError(400, "invalid_body", 'send either "tool" or "tools", not both')
    if "tool" in body:
        tool = body["tool"]
        if not isinstance(tool, str):
            raise ApiError(400, "invalid_type", f'"tool" must be a tool name, got {json_type(tool)}')
        if not tool.strip():
            raise ApiError(400, "invalid_value", '"tool" is empty; name a registered tool (or send "tools": ["*"])')
        tools: list[str] = [tool]
    else:
        listed = body.get("tools", [])
        if not isinstance(listed, list):
            raise ApiError(400, "invalid_type", f'"tools" must be a list of tool names, got {json_type(listed)}')
        for item in listed:
            if not isinstance(item, str):
                raise ApiError(400, "invalid_type", f'"tools" must hold tool names, got an item of {json_type(item)}')
            if not item.strip():
                raise ApiError(400, "invalid_value", '"tools" holds an empty name; name registered tools')
        tools = listed
    dependency = body.get("dependency")
    if dependency is not None and not isinstance(dependency, str):
        raise ApiError(400, "invalid_type", f'"dependency" must be a string, got {json_type(dependency)}')
    if dependency is not None and not dependency.strip():
        raise ApiError(400, "invalid_value", '"dependency" is empty; name a dependency (GET /v1/faults lists them)')
    try:
        return FaultRequest(
            kind=kind,
            tools=tuple(tools),
            seconds=_number(body, "seconds", 0.0),
            rate=_number(body, "rate", 1.0),
            dependency=dependency,
            every_seconds=_optional_number(body, "every_seconds"),
            duration_seconds=_optional_number(body, "duration_seconds"),
        )
    except FaultError as exc:
        raise ApiError(400, "invalid_fault", str(exc)) from None


def _optional_number(body: Mapping[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApiError(400, "invalid_type", f'"{name}" must be a number, got {json_type(value)}')
    try:
        number = float(value)
    except OverflowError:  # a JSON integer too large for a float
        number = math.inf
    if not math.isfinite(number):
        raise ApiError(400, "invalid_value", f'"{name}" must be a finite number of a sensible size')
    return number


def _number(body: Mapping[str, Any], name: str, default: float) -> float:
    value = _optional_number(body, name)
    return default if value is None else value


def openapi_paths() -> dict[str, Any]:
    """The OpenAPI path items of ``/v1/faults`` (for ``openapi.py``'s document)."""
    json_body = "application/json"
    error = {"description": "", "content": {json_body: {"schema": {"$ref": "#/components/schemas/Error"}}}}
    guarded = {
        "401": {**error, "description": "No admin token, or the wrong one."},
        "403": {**error, "description": "Admin endpoints are disabled: no admin token is configured."},
        "404": {**error, "description": "Fault injection is off (faults_disabled), or no such fault."},
    }

    def ok(description: str) -> dict[str, Any]:
        return {"description": description, "content": {json_body: {"schema": {"$ref": "#/components/schemas/Any"}}}}

    number = {"type": "number"}
    request_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["kind"],
        "properties": {
            "kind": {"enum": list(KINDS)},
            "tool": {"type": "string"},
            "tools": {"type": "array", "items": {"type": "string"}},
            "seconds": number,
            "rate": {"type": "number", "minimum": 0, "maximum": 1},
            "dependency": {"type": "string"},
            "every_seconds": number,
            "duration_seconds": number,
        },
    }
    admin: list[dict[str, list[str]]] = [{"bearerAuth": []}]
    return {
        "/v1/faults": {
            "get": {
                "summary": "Active faults, fault kinds and dependencies (admin).",
                "security": admin,
                "responses": {"200": ok("Faults."), **guarded},
            },
            "post": {
                "summary": "Inject a fault (admin; needs AGENT_RUNTIME_FAULTS=1).",
                "security": admin,
                "requestBody": {"required": True, "content": {json_body: {"schema": request_schema}}},
                "responses": {
                    "201": ok("The fault, with its id."),
                    "400": {**error, "description": "A bad field or value."},
                    "413": {**error, "description": "A body over the size limit."},
                    "415": {**error, "description": "A body not sent as application/json."},
                    **guarded,
                },
            },
            "delete": {
                "summary": "Clear every fault (admin).",
                "security": admin,
                "responses": {"200": ok("How many were cleared."), **guarded},
            },
        },
        "/v1/faults/{fault_id}": {
            "delete": {
                "summary": "Clear one fault (admin).",
                "security": admin,
                "parameters": [{"name": "fault_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": ok("Cleared."), **guarded},
            }
        },
    }
