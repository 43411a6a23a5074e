"""Exemplars in multiprocess mode: captured in memory, published per slot off the hot path, merged at scrape.

Each "worker" is a forked process that takes a slot (``use_slot``), as a
gunicorn worker does, and observes histogram values with trace-id exemplars.
The test process then scrapes the directory the way ``/metrics`` does.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.samples import Exemplar

from exporters import exemplars, multiprocess

BUCKETS = (0.1, 1.0)
# (agent, seconds, trace id); None as trace id: no exemplar (an unsampled task).
Observation = tuple[str, float, str | None]


def _worker(directory: str, slot: int, observations: Sequence[Observation], interval: float, publish: bool) -> None:
    os.environ[multiprocess.MULTIPROC_ENV] = directory
    multiprocess.use_slot(slot, exemplar_interval=interval)
    seconds = Histogram("task_seconds", "Task time.", ["agent"], buckets=BUCKETS, registry=CollectorRegistry())
    for agent, value, trace_id in observations:
        seconds.labels(agent).observe(value, {"trace_id": trace_id} if trace_id else None)
        time.sleep(0.001)  # distinct exemplar timestamps
    if publish:
        multiprocess.release_slot()


def run_worker(
    directory: Path,
    slot: int,
    observations: Sequence[Observation],
    *,
    interval: float = 60.0,
    publish: bool = True,
) -> None:
    process = multiprocessing.get_context("fork").Process(
        target=_worker, args=(str(directory), slot, observations, interval, publish)
    )
    process.start()
    process.join(30)
    assert process.exitcode == 0


def scrape_openmetrics(directory: Path) -> dict[tuple[str, str], str]:
    """(agent, le) -> trace id of the exemplar on that merged bucket."""
    registry = CollectorRegistry()
    exemplars.ExemplarMultiProcessCollector(registry, directory)
    body = generate_openmetrics(registry).decode()
    found: dict[tuple[str, str], str] = {}
    for family in parse_openmetrics(body):  # type: ignore[no-untyped-call]
        for sample in family.samples:
            if sample.exemplar is not None:
                assert sample.name == "task_seconds_bucket"
                assert sample.exemplar.value <= float(sample.labels["le"])
                found[(sample.labels["agent"], sample.labels["le"])] = sample.exemplar.labels["trace_id"]
    return found


def test_each_bucket_shows_the_most_recent_exemplar_of_any_worker(tmp_path: Path) -> None:
    run_worker(tmp_path, 0, [("writer", 0.05, "a0"), ("writer", 0.5, "a1"), ("reader", 5.0, "a2")])
    run_worker(tmp_path, 1, [("writer", 0.07, "b0"), ("reader", 0.5, None)])
    assert scrape_openmetrics(tmp_path) == {
        ("writer", "0.1"): "b0",  # both workers observed it: the later one
        ("writer", "1.0"): "a1",  # only worker 0
        ("reader", "+Inf"): "a2",
    }


def test_the_merged_counts_are_those_of_multiprocess_collector(tmp_path: Path) -> None:
    run_worker(tmp_path, 0, [("writer", 0.05, "a0"), ("writer", 0.5, None)])
    run_worker(tmp_path, 1, [("writer", 0.07, "b0")])
    plain, with_exemplars = CollectorRegistry(), CollectorRegistry()
    MultiProcessCollector(plain, path=str(tmp_path))  # type: ignore[no-untyped-call]
    exemplars.ExemplarMultiProcessCollector(with_exemplars, tmp_path)
    assert generate_latest(with_exemplars) == generate_latest(plain)  # the text format: no exemplars
    strip = [line.split(" # ")[0] for line in generate_openmetrics(with_exemplars).decode().splitlines()]
    assert strip == generate_openmetrics(plain).decode().splitlines()
    without = CollectorRegistry()
    exemplars.ExemplarMultiProcessCollector(without, tmp_path, exemplars=False)
    assert generate_openmetrics(without) == generate_openmetrics(plain)


def test_observing_writes_no_file_until_the_publisher_does(tmp_path: Path) -> None:
    # Fifty observations with exemplars, a publish interval longer than the worker lives, no release_slot.
    run_worker(tmp_path, 0, [("writer", 0.05, "a0")] * 50, interval=60.0, publish=False)
    assert exemplars.exemplar_files(tmp_path) == []
    assert scrape_openmetrics(tmp_path) == {}
    # release_slot (gunicorn's worker_exit) publishes what is left.
    run_worker(tmp_path, 1, [("writer", 0.5, "b0"), ("writer", 0.5, "b1")], interval=60.0, publish=True)
    assert scrape_openmetrics(tmp_path) == {("writer", "1.0"): "b1"}


def test_the_background_thread_publishes_within_the_interval(tmp_path: Path) -> None:
    def observe_then_linger() -> None:
        os.environ[multiprocess.MULTIPROC_ENV] = str(tmp_path)
        multiprocess.use_slot(0, exemplar_interval=0.05)
        seconds = Histogram("task_seconds", "Task time.", ["agent"], buckets=BUCKETS, registry=CollectorRegistry())
        seconds.labels("writer").observe(0.05, {"trace_id": "t0"})
        time.sleep(0.5)  # no release_slot: only the thread can have written the file
        os._exit(0)

    process = multiprocessing.get_context("fork").Process(target=observe_then_linger)
    process.start()
    process.join(30)
    assert scrape_openmetrics(tmp_path) == {("writer", "0.1"): "t0"}


def test_a_replacement_worker_keeps_its_predecessors_exemplars_in_the_same_file(tmp_path: Path) -> None:
    run_worker(tmp_path, 0, [("writer", 0.05, "first")])
    multiprocess.mark_slot_dead(0, tmp_path)
    run_worker(tmp_path, 0, [("writer", 5.0, "second")])
    assert scrape_openmetrics(tmp_path) == {("writer", "0.1"): "first", ("writer", "+Inf"): "second"}
    assert [path.name for path in exemplars.exemplar_files(tmp_path)] == ["exemplars_w0.json"]


def test_a_slot_file_holds_one_exemplar_per_bucket_however_many_observations(tmp_path: Path) -> None:
    observations = [("writer", (0.05, 0.5, 5.0)[n % 3], f"t{n}") for n in range(600)]
    run_worker(tmp_path, 0, observations)
    entries = exemplars.read_file(exemplars.exemplar_file(tmp_path, "w0"))
    assert len(entries) == 3
    assert {e.labels["trace_id"] for e in entries.values()} == {"t597", "t598", "t599"}
    assert exemplars.exemplar_file(tmp_path, "w0").stat().st_size < 1000


def test_unreadable_or_foreign_files_are_skipped(tmp_path: Path) -> None:
    run_worker(tmp_path, 0, [("writer", 0.05, "a0")])
    exemplars.exemplar_file(tmp_path, "w1").write_text("{not json")
    exemplars.exemplar_file(tmp_path, "w2").write_text('{"version": 99, "exemplars": []}')
    exemplars.exemplar_file(tmp_path, "w3").write_text('{"version": 1, "exemplars": [["x"], 5]}')
    assert scrape_openmetrics(tmp_path) == {("writer", "0.1"): "a0"}


def test_clearing_the_directory_removes_exemplar_files(tmp_path: Path) -> None:
    run_worker(tmp_path, 0, [("writer", 0.05, "a0")])
    (tmp_path / ".exemplars_w0.json.123.tmp").write_text("left by a crash")
    assert exemplars.exemplar_files(tmp_path)
    multiprocess.clear_directory(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_encoding_round_trips_and_merging_keeps_the_latest() -> None:
    key = exemplars.sample_key("x_bucket", {"le": "0.1", "agent": "writer"})
    assert key == ("x_bucket", (("agent", "writer"), ("le", "0.1")))
    old = Exemplar({"trace_id": "old"}, 0.05, 100.0)
    new = Exemplar({"trace_id": "new"}, 0.07, 200.0)
    assert exemplars.decode(exemplars.encode({key: old})) == {key: old}
    assert exemplars.merge_latest([{key: new}, {key: old}]) == {key: new}
    assert exemplars.merge_latest([{key: old}, {key: new}]) == {key: new}


def test_the_publish_interval_comes_from_the_environment() -> None:
    assert exemplars.publish_interval({}) == exemplars.DEFAULT_PUBLISH_SECONDS
    assert exemplars.publish_interval({exemplars.PUBLISH_ENV: "5"}) == 5.0
    assert exemplars.publish_interval({exemplars.PUBLISH_ENV: "0"}) == 0.05
    assert exemplars.publish_interval({exemplars.PUBLISH_ENV: "soon"}) == exemplars.DEFAULT_PUBLISH_SECONDS
