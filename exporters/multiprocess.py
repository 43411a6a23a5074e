"""prometheus_client multiprocess mode for gunicorn workers, with a bounded file count.

Each gunicorn worker has its own counters; prometheus_client's multiprocess
mode keeps them in memory-mapped files in ``PROMETHEUS_MULTIPROC_DIR`` and
``/metrics`` (``MultiProcessCollector``) sums them.

Stock multiprocess mode names the files after the pid, so every recycled
worker (``max_requests``) leaves its counter and histogram files behind for
ever: the directory, and the cost of every scrape, grow with uptime. Merging
dead workers' files into an archive cannot be made safe either, because a
scrape that globs the directory while a file is merged or removed counts it
twice, or not at all, or fails on the missing file, and a counter that goes
down looks like a reset to Prometheus.

So files are named after a worker *slot* instead of a pid. The master gives
each new worker the lowest slot no live worker holds (``assign_slot``); the
worker then writes ``counter_w0.db``... (``use_slot``). A replacement worker
reopens its predecessor's files and continues its counters from where they
stopped: totals stay monotonic, nothing is ever merged or deleted except the
``live*`` gauge files of the dead worker (``mark_slot_dead``), and the
directory holds at most one file per metric kind per slot (plus one
exemplar file per slot, ``exporters.exemplars``). The slot rule
keeps prometheus_client's one requirement, that processes running at the
same time have distinct identifiers, because a slot is freed only once
gunicorn has reaped its worker.

Gunicorn wiring lives in ``agent_runtime/serving/gunicorn_conf.py``.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from prometheus_client import values
from prometheus_client.multiprocess import mark_process_dead

from agent_runtime.telemetry.catalog import CATALOG, MetricType
from exporters import exemplars

_log = logging.getLogger(__name__)

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
# Metric kinds with one file per slot: counter, histogram and one per gauge
# mode the catalog uses (``MetricSpec.multiprocess_mode``).
FILE_KINDS: Final = (
    "counter",
    "histogram",
    *sorted({f"gauge_{spec.multiprocess_mode}" for spec in CATALOG.values() if spec.type is MetricType.GAUGE}),
)


def multiprocess_dir() -> Path | None:
    """The directory from ``PROMETHEUS_MULTIPROC_DIR``, if set."""
    value = os.environ.get(MULTIPROC_ENV, "").strip()
    return Path(value) if value else None


def needs_multiprocess(workers: int, max_requests: int) -> bool:
    """Several workers, or one that is recycled, need shared counters."""
    return workers > 1 or max_requests > 0


def db_files(path: Path) -> list[Path]:
    """The metric files in ``path`` (what ``MultiProcessCollector`` reads)."""
    return sorted(path.glob("*.db"))


def clear_directory(path: Path) -> int:
    """Remove the metric and exemplar files a previous run left in ``path``; returns how many."""
    removed = 0
    for file in [*db_files(path), *exemplars.exemplar_files(path), *path.glob(f".{exemplars.FILE_PREFIX}*.tmp")]:
        file.unlink(missing_ok=True)
        removed += 1
    return removed


def prepare_directory(workers: int, max_requests: int) -> tuple[Path | None, bool]:
    """In the master, before any worker starts: (directory, created_here).

    Uses ``PROMETHEUS_MULTIPROC_DIR`` if set, else creates a temporary one
    when ``needs_multiprocess``; exports it for the workers and empties it,
    so counters start from zero with the server. (None, False): single-process
    metrics.
    """
    path = multiprocess_dir()
    created = False
    if path is None:
        if not needs_multiprocess(workers, max_requests):
            return None, False
        path = Path(tempfile.mkdtemp(prefix="agent-runtime-metrics-"))
        created = True
        os.environ[MULTIPROC_ENV] = str(path)
    path.mkdir(parents=True, exist_ok=True)
    removed = clear_directory(path)
    _log.info("prometheus multiprocess mode in %s (%d stale files removed)", path, removed)
    return path, created


def remove_directory(path: Path) -> None:
    """Delete a directory ``prepare_directory`` created."""
    shutil.rmtree(path, ignore_errors=True)


def slot_identifier(slot: int) -> str:
    """The file-name identifier of ``slot`` (``w0``...; never a pid, never an underscore)."""
    return f"w{slot}"


def assign_slot(taken: Iterable[int | None]) -> int:
    """The lowest slot not in ``taken`` (the slots of workers gunicorn has not reaped)."""
    used = {slot for slot in taken if slot is not None}
    slot = 0
    while slot in used:
        slot += 1
    return slot


def use_slot(slot: int, *, exemplar_interval: float | None = None) -> None:
    """In a new worker, before any metric exists: write this slot's files.

    Replaces prometheus_client's pid-named value class; metrics created
    afterwards continue from the values the slot's previous worker left.
    The value class also keeps histogram exemplars in memory, and a thread
    publishes them to the slot's exemplar file (``exporters.exemplars``)
    every ``exemplar_interval`` seconds (``AGENT_RUNTIME_EXEMPLAR_PUBLISH_SECONDS``,
    default 1) when they changed.
    """
    identifier = slot_identifier(slot)
    base = values.MultiProcessValue(process_identifier=lambda: identifier)  # type: ignore[no-untyped-call]
    values.ValueClass = exemplars.capturing_value_class(base)
    directory = multiprocess_dir()
    if directory is not None:
        exemplars.start_publishing(directory, identifier, exemplar_interval)


def release_slot() -> None:
    """In a worker on its way out: publish its last exemplars (bounded) and stop the publisher."""
    exemplars.stop_publishing()


def mark_slot_dead(slot: int, path: Path | None = None) -> None:
    """In the master, once a worker is reaped: drop its ``live*`` gauges (in-flight, breaker state)."""
    directory = path or multiprocess_dir()
    if directory is not None:
        mark_process_dead(slot_identifier(slot), str(directory))  # type: ignore[no-untyped-call]


def max_files(slots: int) -> int:
    """The most metric (``*.db``) files ``slots`` worker slots can leave in the directory."""
    return slots * len(FILE_KINDS)


def max_exemplar_files(slots: int) -> int:
    """The most exemplar files ``slots`` worker slots can leave in the directory: one each."""
    return slots
