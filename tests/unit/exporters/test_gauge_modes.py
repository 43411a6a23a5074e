"""Each gauge of the catalog merges across gunicorn workers the way one instance should read.

Two forked "workers" take slots 0 and 1 and drive the runtime's own
``PrometheusListener`` (the catalog's collectors, with their
``multiprocess_mode``) into different states; the test process scrapes the
directory as ``/metrics`` does, then marks worker 0 dead (gunicorn's
``child_exit``) and scrapes again.

| gauge | mode | one instance reads |
|---|---|---|
| tasks in flight | livesum | the tasks all live workers are running |
| in-flight limit | livesum | the capacity of all live workers |
| breaker state | livemax | the worst state any live worker is in (2 open > 1 half-open > 0 closed) |
| build info, agent info | max | 1 for every version / agent any worker has reported |
| cache layer up | livemin | 0 when the layer is degraded in any live worker |
"""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from agent_runtime._version import __version__
from agent_runtime.telemetry.catalog import CATALOG, MetricType
from agent_runtime.telemetry.labels import LabelGuard
from agent_runtime.telemetry.metrics import PrometheusListener
from exporters import multiprocess

EXPECTED_MODES = {
    "agent_runtime_tasks_in_flight": "livesum",
    "agent_runtime_tasks_in_flight_limit": "livesum",
    "agent_runtime_circuit_breaker_state": "livemax",
    "agent_runtime_build_info": "max",
    "agent_runtime_agent_info": "max",
    "agent_runtime_cache_layer_up": "livemin",
}
Series = tuple[str, tuple[tuple[str, str], ...]]


def _worker(directory: str, slot: int) -> None:
    """Worker 0 is in trouble (busy, breaker open, L2 degraded); worker 1 is healthy and smaller."""
    os.environ[multiprocess.MULTIPROC_ENV] = directory
    multiprocess.use_slot(slot, exemplar_interval=60.0)
    guard = LabelGuard(agents=("writer", "reader"), tools=("search",))
    listener = PrometheusListener(guard, registry=CollectorRegistry(), in_flight_limit=(24, 16)[slot])
    for _ in range((3, 1)[slot]):
        listener.task_started()
    if slot == 0:
        listener.breaker_changed("search", "open")
        listener.cache_layer_changed("tool", "l2", False)
        listener.agents_configured({"writer": "plan"})
    else:
        listener.breaker_changed("search", "half_open")
        listener.breaker_changed("search", "closed")
        listener.cache_layer_changed("tool", "l2", True)
        listener.agents_configured({"writer": "plan", "reader": "llm"})


def _scrape(directory: Path) -> dict[Series, float]:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for metric in registry.collect()
        if metric.type == "gauge"
        for sample in metric.samples
    }


@pytest.fixture()
def two_workers(tmp_path: Path) -> Path:
    for slot in (0, 1):
        process = multiprocessing.get_context("fork").Process(target=_worker, args=(str(tmp_path), slot))
        process.start()
        process.join(30)
        assert process.exitcode == 0
    return tmp_path


def test_every_gauge_of_the_catalog_has_its_intended_mode() -> None:
    gauges = {name: spec.multiprocess_mode for name, spec in CATALOG.items() if spec.type is MetricType.GAUGE}
    assert gauges == EXPECTED_MODES


def test_gauges_merge_by_mode_and_dead_workers_leave_the_live_ones(two_workers: Path) -> None:
    both = _scrape(two_workers)
    assert not any(label == "pid" for _, labels in both for label, _ in labels)
    assert both == {
        ("agent_runtime_tasks_in_flight", ()): 3 + 1,
        ("agent_runtime_tasks_in_flight_limit", ()): 24 + 16,
        ("agent_runtime_circuit_breaker_state", (("breaker", "search"),)): 2.0,  # open in worker 0
        ("agent_runtime_build_info", (("version", __version__),)): 1.0,
        ("agent_runtime_agent_info", (("agent", "writer"), ("kind", "plan"))): 1.0,
        ("agent_runtime_agent_info", (("agent", "reader"), ("kind", "llm"))): 1.0,
        ("agent_runtime_cache_layer_up", (("cache", "tool"), ("layer", "l2"))): 0.0,  # down in worker 0
    }

    multiprocess.mark_slot_dead(0, two_workers)
    only_worker_1 = _scrape(two_workers)
    assert only_worker_1 == {
        ("agent_runtime_tasks_in_flight", ()): 1,
        ("agent_runtime_tasks_in_flight_limit", ()): 16,
        ("agent_runtime_circuit_breaker_state", (("breaker", "search"),)): 0.0,
        ("agent_runtime_build_info", (("version", __version__),)): 1.0,
        ("agent_runtime_agent_info", (("agent", "writer"), ("kind", "plan"))): 1.0,
        ("agent_runtime_agent_info", (("agent", "reader"), ("kind", "llm"))): 1.0,
        ("agent_runtime_cache_layer_up", (("cache", "tool"), ("layer", "l2"))): 1.0,
    }


def test_the_file_kinds_are_the_catalogs_gauge_modes(two_workers: Path) -> None:
    kinds = {path.name.rsplit("_", 1)[0] for path in multiprocess.db_files(two_workers)}
    assert kinds <= set(multiprocess.FILE_KINDS)
    assert {f"gauge_{mode}" for mode in EXPECTED_MODES.values()} <= set(multiprocess.FILE_KINDS)
    assert len(multiprocess.db_files(two_workers)) <= multiprocess.max_files(2)
