"""Multiprocess metrics with worker slots: totals survive recycling, the file count does not grow."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.multiprocess import MultiProcessCollector

from exporters import multiprocess


def _worker(directory: str, slot: int, increments: int) -> None:
    """One short-lived 'gunicorn worker': its own metrics, written to its slot's files."""
    os.environ[multiprocess.MULTIPROC_ENV] = directory
    multiprocess.use_slot(slot)
    registry = CollectorRegistry()
    tasks = Counter("tasks", "Tasks.", ["agent"], registry=registry)
    seconds = Histogram("task_seconds", "Task time.", buckets=(0.1, 1.0), registry=registry)
    in_flight = Gauge("in_flight", "In flight.", registry=registry, multiprocess_mode="livesum")
    build = Gauge("build_info", "Build.", ["version"], registry=registry, multiprocess_mode="max")
    build.labels("1").set(1)
    in_flight.inc()
    for _ in range(increments):
        tasks.labels("writer").inc()
        seconds.observe(0.05)


def _run_worker(directory: Path, slot: int, increments: int) -> None:
    process = multiprocessing.get_context("fork").Process(target=_worker, args=(str(directory), slot, increments))
    process.start()
    process.join(30)
    assert process.exitcode == 0


def _scrape(directory: Path) -> dict[str, float]:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    return {
        sample.name: sample.value
        for metric in registry.collect()
        for sample in metric.samples
        if sample.name in ("tasks_total", "task_seconds_count", "in_flight", "build_info")
    }


def test_recycled_workers_continue_their_slots_counters_in_a_bounded_set_of_files(tmp_path: Path) -> None:
    counts: list[int] = []
    for generation in range(6):  # six recycles of a two-worker server
        for slot in (0, 1):
            _run_worker(tmp_path, slot, increments=generation + 1)
            multiprocess.mark_slot_dead(slot, tmp_path)
        counts.append(len(multiprocess.db_files(tmp_path)))
    expected_total = 2 * sum(range(1, 7))
    scraped = _scrape(tmp_path)
    assert scraped["tasks_total"] == expected_total
    assert scraped["task_seconds_count"] == expected_total
    assert scraped["build_info"] == 1
    assert "in_flight" not in scraped, "dead workers' live gauges are removed"
    # counter, histogram and the 'max' gauge per slot; the livesum files went with their workers.
    assert counts == [6] * 6
    assert len(multiprocess.db_files(tmp_path)) <= multiprocess.max_files(2)


def test_pid_named_files_would_grow_with_every_recycle(tmp_path: Path) -> None:
    """The problem slots solve: stock multiprocess mode leaves files behind for every dead pid."""

    def stock_worker() -> None:
        from prometheus_client import values

        os.environ[multiprocess.MULTIPROC_ENV] = str(tmp_path)
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
        Counter("tasks", "Tasks.", registry=CollectorRegistry()).inc()

    for _ in range(5):
        process = multiprocessing.get_context("fork").Process(target=stock_worker)
        process.start()
        process.join(30)
    assert len(multiprocess.db_files(tmp_path)) == 5


def test_live_gauges_of_a_running_slot_are_summed_and_dropped_when_it_dies(tmp_path: Path) -> None:
    _run_worker(tmp_path, 0, 1)
    _run_worker(tmp_path, 1, 1)
    assert _scrape(tmp_path)["in_flight"] == 2
    multiprocess.mark_slot_dead(0, tmp_path)
    assert _scrape(tmp_path)["in_flight"] == 1


def test_slots_are_the_lowest_free_ones() -> None:
    assert multiprocess.assign_slot([]) == 0
    assert multiprocess.assign_slot([0, 1, None, 3]) == 2
    assert multiprocess.assign_slot([1, 2]) == 0
    assert multiprocess.slot_identifier(3) == "w3"


def test_prepare_directory_creates_exports_and_empties(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Empty counts as unset; setenv makes monkeypatch restore the variable prepare_directory exports.
    monkeypatch.setenv(multiprocess.MULTIPROC_ENV, "")
    assert multiprocess.prepare_directory(workers=1, max_requests=0) == (None, False)
    assert os.environ[multiprocess.MULTIPROC_ENV] == ""

    created, was_created = multiprocess.prepare_directory(workers=2, max_requests=0)
    assert was_created and created is not None and created.is_dir()
    assert os.environ[multiprocess.MULTIPROC_ENV] == str(created)
    multiprocess.remove_directory(created)
    assert not created.exists()

    given = tmp_path / "metrics"
    given.mkdir()
    (given / "counter_w0.db").write_bytes(b"stale")
    (given / "README").write_text("not a metric file")
    monkeypatch.setenv(multiprocess.MULTIPROC_ENV, str(given))
    assert multiprocess.prepare_directory(workers=1, max_requests=100) == (given, False)
    assert sorted(p.name for p in given.iterdir()) == ["README"]


def test_one_recycled_worker_also_needs_shared_counters() -> None:
    assert not multiprocess.needs_multiprocess(1, 0)
    assert multiprocess.needs_multiprocess(1, 1000)
    assert multiprocess.needs_multiprocess(4, 0)
