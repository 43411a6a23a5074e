"""Read-only endpoints: configuration, bottlenecks, cache and breakers, health.

Example (``GET /v1/agents``, abridged)::

    {"config_version": "3f2a...", "routing": {"fallback_chain": ["researcher"], ...},
     "agents": [{"name": "diagnostics", "tools": ["promql_query", ...], ...}]}
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint, Response, jsonify

from agent_runtime.config.models import AgentSpec
from agent_runtime.service.state import current_state
from agent_runtime.vocabulary import AgentKind

blueprint = Blueprint("introspection", __name__)


def agent_view(agent: AgentSpec) -> dict[str, Any]:
    """A JSON-ready description of one agent."""
    return {
        "name": agent.name,
        "kind": agent.kind,
        "description": agent.description,
        "base_confidence": agent.base_confidence,
        "tools": list(agent.tools),
        "specialties": [
            {"domain": s.domain, "weight": s.weight, "keywords": dict(s.keywords)} for s in agent.specialties
        ],
        "plan": [
            {"id": step.id, "tool": step.tool, "args": dict(step.args), "depends_on": list(step.depends_on)}
            for step in agent.plan
        ],
        **(
            {
                "instructions": agent.instructions,
                "model": agent.model,
                "tool_call_mode": agent.tool_call_mode,
                "max_steps": agent.max_steps,
                "token_budget": agent.token_budget,
            }
            if agent.kind is AgentKind.LLM
            else {}
        ),
    }


@blueprint.get("/v1/agents")
def list_agents() -> Response:
    """The configured agents and the routing settings that choose between them."""
    config = current_state().runtime.config
    routing = asdict(config.routing)
    return jsonify(
        {
            "config_version": config.version,
            "routing": {key: list(v) if isinstance(v, tuple) else v for key, v in routing.items()},
            "agents": [agent_view(agent) for agent in config.agents],
        }
    )


@blueprint.get("/v1/tools")
def list_tools() -> Response:
    """The registered tools with their timeout, cache, retry and breaker settings."""
    return jsonify({"tools": [asdict(spec) for spec in current_state().runtime.tool_specs()]})


@blueprint.get("/v1/bottlenecks")
def bottlenecks() -> Response:
    """Stages ranked by share of task time, and those over their p95 target."""
    return jsonify(current_state().runtime.bottlenecks().to_dict())


@blueprint.get("/v1/cache/stats")
def cache_stats() -> Response:
    """Tool cache figures per layer: hits, misses, entries, time saved."""
    return jsonify(current_state().runtime.cache_stats())


@blueprint.get("/v1/breakers")
def breakers() -> Response:
    """Every circuit breaker's state and recent figures."""
    return jsonify({"breakers": current_state().runtime.breaker_snapshots()})


@blueprint.get("/healthz")
def healthz() -> Response:
    """Liveness: the process answers requests."""
    return jsonify({"status": "ok"})


@blueprint.get("/readyz")
def readyz() -> Response:
    """Readiness: 200 while the runtime can take another task, 503 at its in-flight limit."""
    state = current_state()
    limit = state.runtime.in_flight_limit
    body: dict[str, Any] = {"in_flight": state.runtime.in_flight, "max_in_flight_tasks": limit}
    if state.at_capacity:
        response = jsonify({"status": "busy", "reason": f"at the in-flight limit of {limit} tasks", **body})
        response.status_code = 503
        return response
    return jsonify({"status": "ready", **body})
