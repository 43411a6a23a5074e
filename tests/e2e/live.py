"""The live stack as tests see it: its URLs and small HTTP helpers, and the e2e runtime configuration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from agent_runtime.ops.stack.launcher import Stack, StackInfo

TIME_SCALE = 60
WORKLOAD_RATE = 6.0
# One gunicorn worker. With several, keep-alive connections can leave a worker without tasks, and such a
# worker's breaker state gauge stays "open" forever: breakers change state lazily, on the next call, so an
# idle worker never reports its breaker half-open and AgentRuntimeCircuitBreakerOpen never resolves
# (reported with issue #6; multiprocess metrics are proven by the exporters' own tests).
WORKERS = 1
# gunicorn threads per worker, and the runtime's in-flight limit per worker below it: the limit must be
# reachable (or the saturation alert could never fire) and spare threads must remain, or a saturated
# worker could not answer Prometheus's scrape and the runtime would look down instead of saturated.
THREADS_PER_WORKER = 32
IN_FLIGHT_PER_WORKER = 24


@dataclass
class LiveStack:
    """The running stack and small HTTP helpers for tests."""

    stack: Stack
    info: StackInfo
    root: Path

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

    def inject(self, body: dict[str, Any]) -> str:
        """Inject a fault through the admin API; its id."""
        response = requests.post(f"{self.info.runtime_url}/v1/faults", json=body, headers=self.auth(), timeout=10)
        assert response.status_code == 201, response.text
        fault_id: str = response.json()["fault"]["id"]
        return fault_id

    def clear(self, fault_id: str) -> None:
        requests.delete(f"{self.info.runtime_url}/v1/faults/{fault_id}", headers=self.auth(), timeout=10)

    def set_otlp_status(self, status: int) -> None:
        requests.put(f"{self.info.receiver_url}/control/otlp", json={"status": status}, timeout=5).raise_for_status()


def e2e_config(root: Path, path: Path) -> Path:
    """The bundled agent configuration with the runtime's own timings scaled for the e2e run.

    - ``execution.max_in_flight_tasks`` below gunicorn's threads per worker (see ``THREADS_PER_WORKER``);
    - ``promql_query``'s breaker stays open at most 5 s (production: 120 s, i.e. 2 s scaled), so the
      breaker closes within the scaled alert windows once Prometheus is back.
    """
    config = yaml.safe_load((root / "agent_runtime" / "config" / "default.yaml").read_text())
    config["execution"]["max_in_flight_tasks"] = IN_FLIGHT_PER_WORKER
    breaker = config["tools"]["promql_query"]["breaker"]
    breaker.update(open_seconds=2, max_open_seconds=5)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
