"""``POST /v1/tasks``: run one task and return its result.

An incoming W3C ``traceparent`` header makes the task's ``invoke_agent``
span a child of the caller's span, so one trace covers both services.
"""

from __future__ import annotations

import functools

from flask import Blueprint, Response, jsonify, request
from opentelemetry import propagate
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import TextMapPropagator

from agent_runtime.service.state import current_state
from agent_runtime.service.validation import json_object, parse_task

blueprint = Blueprint("tasks", __name__)


@functools.lru_cache(maxsize=4)
def _environ_keys(propagator: TextMapPropagator) -> tuple[str, ...]:
    """The WSGI environ keys of the headers ``propagator`` reads (its ``fields`` build a new set on every call)."""
    return tuple(f"HTTP_{field.upper().replace('-', '_')}" for field in propagator.fields)


@blueprint.post("/v1/tasks")
def create_task() -> Response:
    """Route the task, run its agent's plan and answer with ``TaskResult.to_dict()``.

    A failing tool does not fail the request: its call is marked failed in
    ``tool_calls`` and the result's ``outcome`` says how the task ended.
    """
    state = current_state()
    task = parse_task(json_object(required=True), state.settings, agents=state.agent_names())
    # A missing or malformed traceparent yields an empty context: the task starts a new trace.
    # Without any header the propagators read there is nothing to extract (and no cost to pay).
    carried = not request.environ.keys().isdisjoint(_environ_keys(propagate.get_global_textmap()))
    parent = propagate.extract(request.headers) if carried else Context()
    result = state.runtime.handle(task, parent=parent)
    return jsonify(result.to_dict())
