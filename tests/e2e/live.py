"""The live stack as tests see it: its URLs and small HTTP helpers, and the e2e runtime configuration."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from agent_runtime.ops.local_model import fit_writer_prompt
from agent_runtime.ops.stack.launcher import Stack
from agent_runtime.ops.stack.options import StackInfo

TIME_SCALE = 60
# Prometheus's scrape and evaluation interval (the repository's 15 s, scaled, is below the stack's floor).
INTERVAL_SECONDS = 1.0
WORKLOAD_RATE = 6.0
# Production shape: two replicas (two targets of the one runtime job), each a gunicorn master with two
# workers (multiprocess metrics), sharing one Redis as the L2 tool cache; each has its own L1 directory.
REPLICAS = 2
WORKERS = 2
# The background workload: the plan agents' families, spread over both replicas. No writer or
# investigator tasks: they call the model, and model traffic is the model scenarios' (drill.py).
WORKLOAD_MIX = {"diagnostics": 0.5, "researcher": 0.3, "fetcher": 0.2}
# gunicorn threads per worker, and the runtime's in-flight limit per worker below it: the limit must be
# reachable (or the saturation alert could never fire) and spare threads must remain, or a saturated
# worker could not answer Prometheus's scrape and the runtime would look down instead of saturated.
THREADS_PER_WORKER = 16
IN_FLIGHT_PER_WORKER = 6
# What Gemma 3 270M is priced at in the e2e runtime (dollars per million tokens). A local model costs
# nothing per token, but the spend alert needs a price: at this one a writer call (a few hundred tokens
# in, 16 out) costs about $0.07, so a model answering a call every few seconds costs many times the $5
# hourly budget at the drill's time scale. The background workload calls no model: it spends nothing.
MODEL_PRICE = {"input": 200.0, "output": 600.0}
# Tokens the model server generates for a request that does not say (the writer's answer): generating is
# what is slow on two busy cores (5-10 tokens/s with everything else running).
LLM_MAX_TOKENS = 16


@dataclass
class LiveStack:
    """The running stack and small HTTP helpers for tests."""

    stack: Stack
    info: StackInfo
    root: Path
    interval_seconds: float = 1.0
    # Load reports of the drill's extra traffic, by name (drill.py).
    traffic: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def prometheus_url(self) -> str:
        assert self.info.prometheus_url is not None
        return self.info.prometheus_url

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.info.token}"}

    def query(self, promql: str) -> dict[str, Any]:
        """The ``data`` of an instant query; raises with Prometheus's error on a bad query."""
        response = requests.post(f"{self.prometheus_url}/api/v1/query", data={"query": promql}, timeout=10)
        body = response.json()
        if body.get("status") != "success":
            raise AssertionError(f"{promql!r}: {body.get('errorType')}: {body.get('error')}")
        data: dict[str, Any] = body["data"]
        return data

    def cache_dir(self, replica: int) -> Path:
        """The L1 cache directory of runtime replica ``replica`` (1-based)."""
        return self.info.state_dir / "cache" / self.stack.runtimes()[replica - 1].name

    @property
    def instances(self) -> list[str]:
        """The ``instance`` label of each runtime replica, in replica order."""
        return [url.removeprefix("http://") for url in self.info.runtime_urls]

    def query_range(self, promql: str, start: float, end: float, step: float = 1.0) -> list[dict[str, Any]]:
        """The series of a range query; raises with Prometheus's error on a bad query."""
        response = requests.post(f"{self.prometheus_url}/api/v1/query_range", timeout=20,
                                 data={"query": promql, "start": str(start), "end": str(end), "step": str(step)})
        body = response.json()
        if body.get("status") != "success":
            raise AssertionError(f"{promql!r}: {body.get('errorType')}: {body.get('error')}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def alerts(self) -> list[dict[str, Any]]:
        """Prometheus's active alerts (pending and firing)."""
        alerts: list[dict[str, Any]] = requests.get(f"{self.prometheus_url}/api/v1/alerts", timeout=5).json()["data"][
            "alerts"
        ]
        return alerts

    def deliveries(self, since: float | None = None) -> list[dict[str, Any]]:
        """Webhook deliveries the receiver recorded (optionally from ``since`` on)."""
        params = {} if since is None else {"since": str(since)}
        found: list[dict[str, Any]] = requests.get(
            f"{self.info.receiver_url}/alerts", params=params, timeout=5
        ).json()["deliveries"]
        return found

    def value(self, promql: str) -> float | None:
        """The value of a one-series instant query (the first series), None when it has none."""
        result = self.query(promql)["result"]
        return float(result[0]["value"][1]) if result else None

    @property
    def admin_url(self) -> str:
        """The replica the drill sends admin calls to: the last one (the drill freezes the first); the
        replicas share their faults, so a fault injected through one reaches all."""
        return self.info.runtime_urls[-1]

    def inject(self, body: dict[str, Any]) -> str:
        """Inject a fault through the admin API; its id."""
        response = requests.post(f"{self.admin_url}/v1/faults", json=body, headers=self.auth(), timeout=10)
        assert response.status_code == 201, response.text
        fault_id: str = response.json()["fault"]["id"]
        return fault_id

    def clear(self, fault_id: str) -> None:
        requests.delete(f"{self.admin_url}/v1/faults/{fault_id}", headers=self.auth(), timeout=10)

    def set_model_delay(self, seconds: float, share: float = 1.0) -> None:
        """Hold ``share`` of the runtime's model requests ``seconds`` at the receiver's pass-through."""
        requests.put(f"{self.info.receiver_url}/control/model", json={"delay_seconds": seconds, "share": share},
                     timeout=5).raise_for_status()  # fmt: skip

    def set_otlp_status(self, status: int) -> None:
        requests.put(f"{self.info.receiver_url}/control/otlp", json={"status": status}, timeout=5).raise_for_status()


# llm_chat as the runtime registers it with a model (agent_runtime/builtin_tools), its breaker scaled.
LLM_CHAT_BREAKER = {"consecutive_failures": 3, "minimum_calls": 5}
LLM_CHAT_TOOL: dict[str, Any] = {
    "description": "Ask the configured chat model (OpenAI-compatible API).",
    "timeout_seconds": 64.0,
    "ttl_seconds": 3600,
    "cache_tags": ["llm"],
    "retry": {"max_attempts": 3, "initial_backoff_seconds": 0.2, "max_backoff_seconds": 2.0},
}
# Every breaker's open time, scaled like the rules (production: 5-10 s, backing off up to 60-120 s, i.e. up
# to 2 s scaled; 2-3 s here, so a breaker probes often enough to keep the breaker gauge steady, and every
# 5 s tool-error window (5m scaled) holds a half-open probe: at 5 s one could hold none, and
# AgentRuntimeToolErrorsHigh, which counts only calls that reach the tool, resolved and fired again).
SCALED_BREAKER = {"open_seconds": 2, "max_open_seconds": 3}
# The cache layers' probe back-off, scaled the same way (production: 5 s doubling up to 60 s).
SCALED_LAYER_BACKOFF = {"layer_initial_backoff_seconds": 0.1, "layer_max_backoff_seconds": 1.0}


def e2e_config(root: Path, path: Path, model: str | None = None) -> Path:
    """The bundled agent configuration with the runtime's own timings scaled for the e2e run.

    - ``execution.max_in_flight_tasks`` below gunicorn's threads per worker (see ``THREADS_PER_WORKER``),
      low enough that the overload scenario saturates both replicas with a few more tasks per second;
    - every tool's breaker (``llm_chat``'s too, with ``model``) stays open at most 3 s (production: up to
      60-120 s, i.e. 1-2 s scaled), so breakers close within the scaled alert windows once their dependency
      is back, and probe often enough while it is not;
    - a broken cache layer probes itself every 0.1-1 s (``SCALED_LAYER_BACKOFF``), so its recovery shows
      within the scaled alert windows;
    - ``model`` (the served model's name) gets ``MODEL_PRICE``, so model calls cost dollars, and the
      writer answers from its best passage instead of six (``fit_writer_prompt``).
    """
    config = yaml.safe_load((root / "agent_runtime" / "config" / "default.yaml").read_text())
    config["execution"]["max_in_flight_tasks"] = IN_FLIGHT_PER_WORKER
    for tool in config["tools"].values():
        tool["breaker"] = {**tool.get("breaker", {}), **SCALED_BREAKER}
    config["cache"] = {**config.get("cache", {}), **SCALED_LAYER_BACKOFF}
    if model is not None:
        # A model server that is down stops costing calls after three failures (as promql_query's breaker
        # does for Prometheus).
        config["tools"]["llm_chat"] = {**LLM_CHAT_TOOL, "breaker": {**LLM_CHAT_BREAKER, **SCALED_BREAKER}}
        config["llm"] = {"prices": {model: MODEL_PRICE}}
        fit_writer_prompt(config, 1)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
