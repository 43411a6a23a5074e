"""After tasks of each kind, every agent and model series is exposed with its documented labels."""

from __future__ import annotations

import subprocess

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from agent_runtime import AgentRegistry, Task
from agent_runtime.agents.python_agent import AgentContext
from agent_runtime.config.models import ModelPrice
from agent_runtime.telemetry.catalog import CATALOG
from tests.support.binaries import require_binary
from tests.support.openai_server import Reply
from tests.unit.agents.conftest import Harness, llm_agent

AGENT_SERIES = (
    "agent_runtime_agent_info",
    "agent_runtime_agent_model_calls",
    "agent_runtime_agent_tool_calls",
    "agent_runtime_agent_stops_total",
    "agent_runtime_agent_invalid_actions_total",
    "agent_runtime_llm_cost_dollars_total",
    "agent_runtime_cache_saved_dollars_total",
    "gen_ai_client_operation_duration_seconds",
    "gen_ai_client_token_usage",
)


def test_tasks_of_each_kind_expose_every_agent_series_and_pass_promtool(harness: Harness) -> None:
    agents = AgentRegistry()

    @agents.agent(tools=("lookup",), keywords=("forecast",))
    def forecaster(task: Task, ctx: AgentContext) -> str:
        return str(ctx.call("lookup", city="Oslo"))

    harness.server.enqueue(
        Reply.tool_calls([("teleport", {})]),
        Reply.tool_calls([("lookup", {"city": "Oslo"})]),
        Reply.text("Sunny.", prompt_tokens=100, completion_tokens=10),
        Reply.error(500, "down"),
    )
    runtime = harness.build(
        [
            llm_agent(tool_call_mode="native"),
            {"name": "planner", "tools": ["lookup"], "plan": [{"id": "a", "tool": "lookup", "args": {"city": "x"}}]},
        ],
        python_agents=agents,
        llm={"prices": {"scripted-model": ModelPrice(input_per_million=1.0, output_per_million=2.0)}},
    )
    for text, agent in (("weather?", "helper"), ("weather now?", "helper"), ("x", "planner"), ("y", "forecaster")):
        runtime.handle(Task(text, agent=agent))

    exposition = generate_latest(harness.registry).decode()
    families = {family.name: family for family in text_string_to_metric_families(exposition)}
    for name in AGENT_SERIES:
        spec = CATALOG[name]
        base = spec.base_name if spec.type == "counter" else name
        samples = [s for s in families[base].samples if not s.name.endswith("_created")]
        assert samples, f"{name} has no samples"
        labels = set(samples[0].labels) - {"le"}
        assert labels == set(spec.labels), f"{name}: {labels} != {spec.labels}"
    kinds = {s.labels["agent"]: s.labels["kind"] for s in families["agent_runtime_agent_info"].samples}
    assert kinds == {"helper": "llm", "planner": "plan", "forecaster": "python"}
    failed = [
        s for s in families["gen_ai_client_operation_duration_seconds"].samples
        if s.name.endswith("_count") and s.labels["error_type"] == "server_error"
    ]  # fmt: skip
    assert failed and failed[0].value >= 1.0
    cost = harness.registry.get_sample_value(
        "agent_runtime_llm_cost_dollars_total", {"gen_ai_request_model": "scripted-model", "gen_ai_token_type": "input"}
    )
    assert cost is not None and cost > 0

    promtool = require_binary("promtool")
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=exposition, capture_output=True, text=True, timeout=30, check=False
    )
    assert checked.returncode == 0 and not checked.stdout.strip() and not checked.stderr.strip(), checked
