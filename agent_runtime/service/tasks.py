"""``POST /v1/tasks``: run one task and return its result.

An incoming W3C ``traceparent`` header makes the task's ``invoke_agent``
span a child of the caller's span, so one trace covers both services.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from opentelemetry import propagate
from opentelemetry.context import Context

from agent_runtime.service.state import current_state
from agent_runtime.service.validation import json_object, parse_task

blueprint = Blueprint("tasks", __name__)


@blueprint.post("/v1/tasks")
def create_task() -> Response:
    """Route the task, run its agent's plan and answer with ``TaskResult.to_dict()``.

    A failing tool does not fail the request: its call is marked failed in
    ``tool_calls`` and the result's ``outcome`` says how the task ended.
    """
    state = current_state()
    agents = [agent.name for agent in state.runtime.config.agents]
    task = parse_task(json_object(required=True), state.settings, agents=agents)
    # A missing or malformed traceparent yields an empty context: the task starts a new trace.
    # Without any header the propagators read there is nothing to extract (and no cost to pay).
    headers = request.headers
    fields = propagate.get_global_textmap().fields
    parent = propagate.extract(headers) if any(field in headers for field in fields) else Context()
    result = state.runtime.handle(task, parent=parent)
    return jsonify(result.to_dict())
