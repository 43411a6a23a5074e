"""Cache layers that break recover by themselves, and say so in ``/metrics``: through the real HTTP service.

L1: the cache directory is deleted under a live service; L2: the real
redis-server is killed and started again on the same port. Neither needs a
restart of the service, and ``agent_runtime_cache_layer_up{cache,layer}``
follows the layer (1 → 0 → 1).
"""

from __future__ import annotations

import copy
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from agent_runtime.config.loader import parse_config
from agent_runtime.config.models import CacheSettings, ToolSpec
from agent_runtime.ops.stack.ports import free_port, port_in_use
from agent_runtime.runtime import Runtime
from agent_runtime.service import ServiceSettings, create_app
from agent_runtime.tools.cache import ToolCache
from tests.integration.service_fixtures import TEST_CONFIG, Gate, make_tools, serve
from tests.support.binaries import ManagedProcess, require_binary, wait_until

pytestmark = pytest.mark.integration

# The service's ``lookup`` tool as the cache keys it (name and tags; service_fixtures.TEST_CONFIG).
LOOKUP = ToolSpec(name="lookup", ttl_seconds=60, cache_tags=("docs",))


@contextmanager
def service_with_cache(cache: dict[str, Any]) -> Iterator[str]:
    """The test service (service_fixtures' agents and tools) with these cache settings; its URL."""
    config = copy.deepcopy(TEST_CONFIG)
    config["cache"] = cache
    gate = Gate()
    runtime = Runtime(parse_config(config, source="test"), tools=make_tools(gate), metrics_registry=CollectorRegistry())
    try:
        with serve(create_app(runtime, ServiceSettings())) as url:
            yield url
    finally:
        gate.release()
        runtime.close()


def layer_up(url: str, layer: str) -> float | None:
    """``agent_runtime_cache_layer_up{cache="tool",layer=...}`` as the service exports it (None: absent)."""
    text = requests.get(url + "/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "agent_runtime_cache_layer_up" and sample.labels == {"cache": "tool", "layer": layer}:
                return float(sample.value)
    return None


class Tasks:
    """Posts cacheable tasks (``ops``: lookup ∥ metrics), each with new text so every one misses L0."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sent = 0

    def run(self) -> dict[str, Any]:
        self.sent += 1
        response = requests.post(
            self.url + "/v1/tasks", json={"task": f"cache latency probe {self.sent}", "agent": "ops"}, timeout=30
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        assert result["outcome"] == "success", result  # a broken layer never fails a task
        return result

    def until(self, predicate: Any, timeout: float, what: str) -> None:
        def probe() -> bool:
            self.run()
            return bool(predicate())

        wait_until(probe, timeout, what, interval=0.3)


def test_deleting_the_l1_directory_under_a_live_service_recovers_without_restart(tmp_path: Path) -> None:
    directory = tmp_path / "l1"
    with service_with_cache({"directory": str(directory)}) as url:
        tasks = Tasks(url)
        tasks.run()
        assert layer_up(url, "l1") == 1.0

        shutil.rmtree(directory)
        tasks.until((directory / "cache.db").exists, 20, "L1 to re-create its database")
        tasks.until(
            lambda: (
                layer_up(url, "l1") == 1.0
                and requests.get(url + "/v1/cache/stats", timeout=10).json()["layers"]["l1"]["degraded"] is False
            ),
            20,
            "L1 to be healthy again",
        )
        result = tasks.run()
        assert result["tool_calls"][0]["cache_layer"] is None  # a miss, stored through L1
        # What the live service stores now lands in the directory, where another process finds it.
        other = ToolCache(CacheSettings(directory=str(directory)))
        try:
            seen = other.lookup(LOOKUP, {"query": result["task"]})
            assert (seen.hit, seen.layer, seen.value) == (True, "l1", f"doc about {result['task']}")
        finally:
            other.close()


@pytest.fixture()
def restartable_redis(tmp_path: Path) -> Iterator[Any]:
    """A real redis-server on a free port that the test can stop and start again on that port."""
    binary = require_binary("redis-server")
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(tmp_path)]  # fmt: skip

    class Redis:
        url = f"redis://127.0.0.1:{port}/0"
        process: ManagedProcess | None = None
        starts = 0

        def start(self) -> None:
            Redis.starts += 1
            self.process = ManagedProcess(argv, tmp_path / f"redis-{Redis.starts}.log")
            wait_until(lambda: port_in_use(port), 10, "redis-server to listen")

        def stop(self) -> None:
            if self.process is not None:
                self.process.stop()
                self.process = None
            wait_until(lambda: not port_in_use(port), 10, "redis-server to stop")

    redis = Redis()
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


def test_killing_redis_reports_l2_down_and_restarting_it_reports_it_up(restartable_redis: Any) -> None:
    with service_with_cache({"redis_url": restartable_redis.url}) as url:
        tasks = Tasks(url)
        tasks.run()
        assert layer_up(url, "l2") == 1.0

        restartable_redis.stop()
        tasks.until(lambda: layer_up(url, "l2") == 0.0, 20, "agent_runtime_cache_layer_up{layer=l2} to be 0")
        assert requests.get(url + "/v1/cache/stats", timeout=10).json()["layers"]["l2"]["degraded"] is True

        restartable_redis.start()
        started = time.monotonic()
        tasks.until(lambda: layer_up(url, "l2") == 1.0, 30, "agent_runtime_cache_layer_up{layer=l2} to be 1 again")
        assert time.monotonic() - started < 30
        assert requests.get(url + "/v1/cache/stats", timeout=10).json()["layers"]["l2"]["degraded"] is False
        # Results are shared through the restarted Redis again.
        first = tasks.run()
        assert first["outcome"] == "success"
