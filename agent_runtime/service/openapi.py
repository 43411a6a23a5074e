"""``GET /openapi.json``: an OpenAPI 3.1 description of every endpoint.

The document is written out here rather than generated from the routes, so
it can say what each endpoint means; a test checks that it lists exactly the
routes the app has and that it validates.
"""

from __future__ import annotations

from typing import Any, Final

from flask import Blueprint, Response, jsonify

from agent_runtime._version import __version__
from agent_runtime.service.faults_api import openapi_paths as fault_paths
from agent_runtime.service.settings import ServiceSettings
from agent_runtime.service.state import current_state
from agent_runtime.vocabulary import AgentKind, RoutingSource, StopReason, TaskOutcome, ToolOutcome, values

blueprint = Blueprint("openapi", __name__)

OPENAPI_VERSION: Final = "3.1.0"
_JSON: Final = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _ok(description, _ref("Error"))


def _body(schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {_JSON: {"schema": schema}}}


_BAD_BODY: Final = {
    "400": _error("A body that cannot be read or is not JSON, a wrong field type, an unknown field or a bad value."),
    "413": _error("The body is over the configured size limit."),
    "415": _error("The body is not sent as application/json."),
}
_ADMIN: Final = {
    "401": {
        **_error("No admin token, or the wrong one."),
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer challenge."}},
    },
    "403": _error("Admin endpoints are disabled: no admin token is configured."),
}


def _schemas(settings: ServiceSettings) -> dict[str, Any]:
    free_object: dict[str, Any] = {"type": "object", "additionalProperties": True}
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string", "examples": ["empty_task"]},
                        "message": {"type": "string", "description": "What was wrong and what to send instead."},
                    },
                }
            },
        },
        "TaskRequest": {
            "type": "object",
            "required": ["task"],
            "additionalProperties": False,
            "properties": {
                "task": {"type": "string", "minLength": 1, "maxLength": settings.max_task_chars},
                "context": {
                    "type": "object",
                    "maxProperties": settings.max_context_keys,
                    "description": "Values for the {context[key]} templates of the agent's plan.",
                },
                "agent": {"type": "string", "description": "Force this agent instead of routing."},
            },
        },
        "TaskResult": {
            "type": "object",
            "properties": {
                "task": {"type": "string"},
                "outcome": {"enum": [o for o in values(TaskOutcome) if o != TaskOutcome.REJECTED]},
                "agent": {"type": ["string", "null"]},
                "kind": {"enum": [*values(AgentKind), None], "description": "How the agent decides."},
                "stop_reason": {
                    "enum": [*values(StopReason), None],
                    "description": "Why the agent stopped; final when it answered.",
                },
                "decision": {"oneOf": [_ref("RoutingDecision"), {"type": "null"}]},
                "turns": {
                    "type": "array",
                    "items": _ref("ModelTurn"),
                    "description": "Every model call of an llm or python agent, with the actions it chose.",
                },
                "tool_calls": {"type": "array", "items": _ref("ToolCall")},
                "stage_seconds": {"type": "object", "additionalProperties": {"type": "number"}},
                "duration_seconds": {"type": "number"},
                "trace_id": {"type": ["string", "null"]},
                "output": {
                    "description": "The answer: a plan's final step result(s), or an agent's final answer; "
                    "an agent that stopped without one returns what its tools found."
                },
                "error": {"type": ["string", "null"]},
            },
        },
        "RoutingDecision": {
            "type": "object",
            "properties": {
                "agent": {"type": "string"},
                "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                "source": {"enum": list(values(RoutingSource))},
                "explanation": {"type": "string"},
                "gated": {"type": "boolean"},
                "candidates": {"type": "array", "items": {"type": "object"}},
            },
        },
        "ModelTurn": {
            "type": "object",
            "properties": {
                "index": {"type": "integer"},
                "model": {"type": "string"},
                "input_tokens": {"type": "integer"},
                "output_tokens": {"type": "integer"},
                "duration_seconds": {"type": "number"},
                "cache_layer": {"type": ["string", "null"]},
                "actions": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"type": {"enum": ["tool_call", "final", "invalid"]}},
                    },
                },
                "error": {"type": ["string", "null"]},
            },
        },
        "ToolCall": {
            "type": "object",
            "properties": {
                "step": {"type": "string"},
                "turn": {"type": ["integer", "null"], "description": "The model turn that asked for this call."},
                "tool": {"type": "string"},
                "call_id": {"type": "string"},
                "outcome": {"enum": list(values(ToolOutcome))},
                "result": {},
                "error": {"type": ["string", "null"]},
                "error_type": {"type": ["string", "null"]},
                "cache_layer": {"type": ["string", "null"]},
                "attempts": {"type": "integer"},
                "duration_seconds": {"type": "number"},
            },
        },
        "AgentList": {
            "type": "object",
            "properties": {
                "config_version": {"type": "string"},
                "routing": free_object,
                "agents": {"type": "array", "items": free_object},
            },
        },
        "ToolList": {"type": "object", "properties": {"tools": {"type": "array", "items": free_object}}},
        "Bottlenecks": {
            "type": "object",
            "properties": {
                "tasks": {"type": "integer"},
                "task_p95_seconds": {"type": "number"},
                "by_share": {"type": "array", "items": free_object},
                "over_target": {"type": "array", "items": {"type": "string"}},
            },
        },
        "Breakers": {
            "type": "object",
            "properties": {"breakers": {"type": "object", "additionalProperties": free_object}},
        },
        "InvalidateRequest": {
            "type": "object",
            "additionalProperties": False,
            "oneOf": [{"required": ["tool"]}, {"required": ["tag"]}],
            "properties": {"tool": {"type": "string"}, "tag": {"type": "string"}},
        },
        "WarmRequest": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"top_n": {"type": "integer", "minimum": 1, "maximum": settings.max_warm_top_n}},
        },
        "Health": {
            "type": "object",
            "properties": {
                "status": {"enum": ["ok", "ready", "busy"]},
                "reason": {"type": "string"},
                "in_flight": {"type": "integer"},
                "max_in_flight_tasks": {"type": "integer"},
            },
        },
        "Any": free_object,
    }


def _paths() -> dict[str, Any]:
    def get(summary: str, schema: str, **responses: Any) -> dict[str, Any]:
        return {"get": {"summary": summary, "responses": {"200": _ok(summary, _ref(schema)), **responses}}}

    admin: list[dict[str, list[str]]] = [{"bearerAuth": []}]
    return {
        "/v1/tasks": {
            "post": {
                "summary": "Route a task to an agent and run its plan.",
                "description": "Honours a W3C traceparent header. A failing tool yields a 200 whose "
                "tool call is marked failed.",
                "parameters": [
                    {"name": "traceparent", "in": "header", "required": False, "schema": {"type": "string"}}
                ],
                "requestBody": _body(_ref("TaskRequest")),
                "responses": {
                    "200": _ok("The task result.", _ref("TaskResult")),
                    **_BAD_BODY,
                    "429": _error("At the in-flight limit; retry after the Retry-After seconds."),
                },
            }
        },
        "/v1/agents": get("The configured agents and routing settings.", "AgentList"),
        "/v1/tools": get("The registered tools and their settings.", "ToolList"),
        "/v1/bottlenecks": get("Stages ranked by share of task time.", "Bottlenecks"),
        "/v1/cache/stats": get("Tool cache statistics.", "Any"),
        "/v1/breakers": get("Circuit breaker states.", "Breakers"),
        "/v1/cache/invalidate": {
            "post": {
                "summary": "Invalidate cached results by tool or tag (admin).",
                "security": admin,
                "requestBody": _body(_ref("InvalidateRequest")),
                "responses": {
                    "200": _ok("How many entries were dropped.", _ref("Any")),
                    **_BAD_BODY,
                    **_ADMIN,
                    "404": _error("Unknown tool or tag."),
                },
            }
        },
        "/v1/cache/warm": {
            "post": {
                "summary": "Warm the cache from recorded popular calls (admin).",
                "security": admin,
                "requestBody": _body(_ref("WarmRequest"), required=False),
                "responses": {"200": _ok("How many calls were warmed.", _ref("Any")), **_BAD_BODY, **_ADMIN},
            }
        },
        "/v1/breakers/{tool}/reset": {
            "post": {
                "summary": "Close a tool's circuit breaker (admin).",
                "security": admin,
                "parameters": [{"name": "tool", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {
                    "200": _ok("The breaker after the reset.", _ref("Any")),
                    **_ADMIN,
                    "404": _error("Unknown tool."),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (OpenMetrics with exemplars when asked for in Accept).",
                "responses": {
                    "200": {
                        "description": "The exposition.",
                        "content": {
                            "text/plain": {"schema": {"type": "string"}},
                            "application/openmetrics-text": {"schema": {"type": "string"}},
                        },
                    }
                },
            }
        },
        "/healthz": get("Liveness.", "Health"),
        "/readyz": get("Readiness.", "Health", **{"503": _ok("At the in-flight limit.", _ref("Health"))}),
        "/openapi.json": get("This document.", "Any"),
    }


def build_document(settings: ServiceSettings) -> dict[str, Any]:
    """The OpenAPI document for a service with ``settings``."""
    paths = {**_paths(), **fault_paths()}
    for item in paths.values():
        for operation in item.values():
            operation["responses"].setdefault("default", _error("Any other error, e.g. 405 or 500."))
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "agent-runtime",
            "version": __version__,
            "description": "Routes tasks to agents and runs their tools; admin endpoints need a bearer token.",
        },
        "paths": paths,
        "components": {
            "schemas": _schemas(settings),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
    }


@blueprint.get("/openapi.json")
def openapi_document() -> Response:
    """The OpenAPI document of this service."""
    return jsonify(build_document(current_state().settings))
