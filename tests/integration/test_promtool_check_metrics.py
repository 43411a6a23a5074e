"""``promtool check metrics`` on a live scrape of the service prints nothing."""

from __future__ import annotations

import subprocess

import requests
from prometheus_client import CollectorRegistry

from agent_runtime.service import ServiceSettings, create_app
from agent_runtime.telemetry.listener import ModelCall
from tests.support.binaries import require_binary
from tests.support.telemetry_runtime import make_runtime, task
from tests.support.wsgi_server import serving


def test_live_scrape_passes_promtool_check_metrics() -> None:
    promtool = require_binary("promtool")
    registry = CollectorRegistry()
    runtime = make_runtime(registry)
    try:
        # Every kind of series gets samples: successes, a failure, an opened breaker, a rejection.
        for agent in ("echoer", "pair", "failer", "failer", "failer"):
            runtime.handle(task(agent, "explode or echo"))
        assert runtime.metrics is not None
        runtime.metrics.llm_called(
            ModelCall(
                operation="chat",
                provider="openai",
                model="gpt-test",
                seconds=0.4,
                input_tokens=12,
                output_tokens=5,
                input_cost=0.0001,
                output_cost=0.0002,
            )
        )
        runtime.metrics.cache_layer_changed("tool", "l1", True)
        runtime.metrics.spans_dropped(3)
        runtime.metrics.export_failed("traces")
        with serving(create_app(runtime, ServiceSettings())) as base_url:
            for body in ({"task": "echo", "agent": "echoer"}, {"task": "echo", "agent": "nobody"}):
                requests.post(f"{base_url}/v1/tasks", json=body, timeout=10)
            response = requests.get(f"{base_url}/metrics", timeout=10)
    finally:
        runtime.close()
    assert response.status_code == 200
    scrape = response.text
    assert "agent_runtime_tasks_total" in scrape
    assert 'agent_runtime_circuit_breaker_state{breaker="fail"} 2.0' in scrape

    result = subprocess.run(
        [promtool, "check", "metrics"], input=scrape, capture_output=True, text=True, timeout=30, check=False
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
