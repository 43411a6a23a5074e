"""Trace-id exemplars on merged histograms in prometheus_client multiprocess mode.

prometheus_client drops exemplars in multiprocess mode: the mmap'd value
behind every bucket ignores ``set_exemplar``, and ``MultiProcessCollector``
merges only numbers. Here each gunicorn worker keeps its exemplars in memory
and publishes them, off the hot path, to one small file per worker slot, and
a scrape puts them back on the merged buckets.

Capture (the observing thread): ``use_slot`` installs a value class that is
prometheus_client's mmap'd value plus ``set_exemplar``/``get_exemplar``. The
listener already passes the exemplar (the current sampled trace id) to
``Histogram.observe``, which hands it to the bucket's value: one dict entry
per (histogram, labels, bucket) is replaced and a flag set, no lock, no
file write, no allocation beyond the exemplar prometheus_client built.

Publish (a daemon thread per worker): at most every
``AGENT_RUNTIME_EXEMPLAR_PUBLISH_SECONDS`` (default 1 s), and only when
something changed, the worker's exemplars are written to
``exemplars_w<slot>.json`` in the multiprocess directory (a temporary file,
then an atomic rename, so a scrape never reads half a file). Once more when
the worker exits. One file per slot, whose size is bounded by buckets x label
sets (bounded by the cardinality guard); a replacement worker starts from
its predecessor's file, so recycling loses nothing and adds no file. The
files are not ``*.db`` files: ``MultiProcessCollector`` never sees them.

Scrape: ``ExemplarMultiProcessCollector`` is ``MultiProcessCollector`` whose
OpenMetrics samples get, per bucket, the most recent exemplar among the slot
files and this process's memory (so the answering worker's own exemplars are
current, others' at most one publish interval old). The classic text format
has no exemplars and skips the reading.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.samples import Exemplar

_log = logging.getLogger(__name__)

PUBLISH_ENV: Final = "AGENT_RUNTIME_EXEMPLAR_PUBLISH_SECONDS"
DEFAULT_PUBLISH_SECONDS: Final = 1.0
FILE_PREFIX: Final = "exemplars_"
FILE_SUFFIX: Final = ".json"
_FORMAT_VERSION: Final = 1

# (sample name, sorted (label, value) pairs, ``le`` included): one bucket of one histogram series.
SampleKey = tuple[str, tuple[tuple[str, str], ...]]


def exemplar_file(directory: Path, identifier: str) -> Path:
    """The exemplar file of slot ``identifier`` (``w0``...)."""
    return directory / f"{FILE_PREFIX}{identifier}{FILE_SUFFIX}"


def exemplar_files(directory: Path) -> list[Path]:
    """Every slot's exemplar file in ``directory``."""
    return sorted(directory.glob(f"{FILE_PREFIX}*{FILE_SUFFIX}"))


def sample_key(name: str, labels: Mapping[str, str]) -> SampleKey:
    """The key of the sample ``name{labels}`` (as the merged exposition names it)."""
    return name, tuple(sorted(labels.items()))


def publish_interval(environ: Mapping[str, str] | None = None) -> float:
    """Seconds between publishes, from ``AGENT_RUNTIME_EXEMPLAR_PUBLISH_SECONDS`` (default 1)."""
    raw = (os.environ if environ is None else environ).get(PUBLISH_ENV, "").strip()
    if not raw:
        return DEFAULT_PUBLISH_SECONDS
    try:
        value = float(raw)
    except ValueError:
        _log.warning("%s=%r is not a number: using %s s", PUBLISH_ENV, raw, DEFAULT_PUBLISH_SECONDS)
        return DEFAULT_PUBLISH_SECONDS
    return min(max(value, 0.05), 60.0)


class ExemplarStore:
    """The latest exemplar per histogram bucket observed in this process.

    ``record`` takes no lock: a dict store and a flag, each atomic under the
    GIL. ``snapshot`` clears the flag *before* copying (``dict(d)`` runs in C
    without releasing the GIL), so an exemplar stored during or after a copy
    always leaves the flag set for the next publish.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # between snapshot, seed and clear; never on the hot path
        self.entries: dict[SampleKey, Exemplar] = {}
        self.changed = False

    def record(self, key: SampleKey, exemplar: Exemplar) -> None:
        """Keep ``exemplar`` as the bucket's latest."""
        self.entries[key] = exemplar
        self.changed = True

    def get(self, key: SampleKey) -> Exemplar | None:
        return self.entries.get(key)

    def snapshot(self) -> dict[SampleKey, Exemplar]:
        """A copy of every entry (clears ``changed``)."""
        with self._lock:
            self.changed = False
            return dict(self.entries)

    def seed(self, entries: Mapping[SampleKey, Exemplar]) -> None:
        """Add ``entries`` where this process has nothing newer (a predecessor's file)."""
        with self._lock:
            for key, exemplar in entries.items():
                current = self.entries.get(key)
                if current is None or _newer(exemplar, current):
                    self.entries[key] = exemplar
            self.changed = True

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()
            self.changed = True


def _newer(candidate: Exemplar, current: Exemplar) -> bool:
    return float(candidate.timestamp or 0.0) > float(current.timestamp or 0.0)


def encode(entries: Mapping[SampleKey, Exemplar]) -> str:
    """The file contents for ``entries`` (JSON; one row per bucket)."""
    rows = [
        [name, [list(pair) for pair in labels], dict(exemplar.labels), exemplar.value, exemplar.timestamp]
        for (name, labels), exemplar in entries.items()
    ]
    return json.dumps({"version": _FORMAT_VERSION, "exemplars": rows}, separators=(",", ":"))


def decode(text: str) -> dict[SampleKey, Exemplar]:
    """Entries from file contents; rows that do not parse are skipped."""
    document = json.loads(text)
    if not isinstance(document, dict) or document.get("version") != _FORMAT_VERSION:
        return {}
    entries: dict[SampleKey, Exemplar] = {}
    for row in document.get("exemplars", ()):
        try:
            name, labels, exemplar_labels, value, timestamp = row
            key: SampleKey = (str(name), tuple((str(k), str(v)) for k, v in labels))
            entries[key] = Exemplar(
                {str(k): str(v) for k, v in exemplar_labels.items()},
                float(value),
                None if timestamp is None else float(timestamp),
            )
        except (TypeError, ValueError, AttributeError):
            continue
    return entries


def read_file(path: Path) -> dict[SampleKey, Exemplar]:
    """A slot's published exemplars; empty when the file is missing or unreadable."""
    try:
        return decode(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        _log.debug("skipping exemplar file %s: %s", path, error)
        return {}


def write_file(path: Path, entries: Mapping[SampleKey, Exemplar]) -> None:
    """Replace ``path`` atomically (a reader sees the old file or the new one, never half)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(encode(entries), encoding="utf-8")
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise


def merge_latest(sources: Iterable[Mapping[SampleKey, Exemplar]]) -> dict[SampleKey, Exemplar]:
    """Per bucket, the most recent exemplar among ``sources``."""
    merged: dict[SampleKey, Exemplar] = {}
    for entries in sources:
        for key, exemplar in entries.items():
            current = merged.get(key)
            if current is None or _newer(exemplar, current):
                merged[key] = exemplar
    return merged


class ExemplarPublisher:
    """Writes a store to its slot file from a background thread, at most every ``interval`` seconds."""

    def __init__(self, store: ExemplarStore, path: Path, interval: float) -> None:
        self.store = store
        self.path = path
        self.interval = interval
        self._publish_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="exemplar-publisher", daemon=True)
            self._thread.start()

    def publish(self) -> bool:
        """Write the store if it changed since the last write; True if written."""
        with self._publish_lock:
            if not self.store.changed:
                return False
            entries = self.store.snapshot()
            try:
                write_file(self.path, entries)
            except OSError as error:
                self.store.changed = True  # try again next time
                if not self._failing:
                    _log.warning("cannot publish exemplars to %s: %s (retrying quietly)", self.path, error)
                    self._failing = True
                return False
            if self._failing:
                _log.info("exemplars published to %s again", self.path)
                self._failing = False
            return True

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the thread and publish once more (what changed since the last write)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self.publish()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.publish()
            except Exception:  # never let the thread die: exemplars are best effort
                _log.exception("exemplar publisher failed")


# This process's exemplars (a worker's; empty in the master and in single-process mode).
_store = ExemplarStore()
_publisher: ExemplarPublisher | None = None
_publisher_lock = threading.Lock()


def process_store() -> ExemplarStore:
    """The exemplars observed in this process."""
    return _store


def capturing_value_class(base: type[Any], store: ExemplarStore | None = None) -> type[Any]:
    """``base`` (prometheus_client's mmap'd value class) with exemplars kept in ``store``.

    prometheus_client gives exemplars to histogram buckets and counters
    (``inc(amount, exemplar)``); the runtime gives them to latency buckets.
    """
    target = _store if store is None else store
    entries = target.entries

    class ExemplarMmapedValue(base):  # type: ignore[misc]
        """prometheus_client's multiprocess value, remembering the latest exemplar in memory."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            # prometheus_client passes (typ, metric_name, name, labelnames, labelvalues, help_text, ...).
            super().__init__(*args, **kwargs)
            name, labelnames, labelvalues = args[2], args[3], args[4]
            self._exemplar_key: SampleKey = (name, tuple(sorted(zip(labelnames, labelvalues, strict=True))))

        def set_exemplar(self, exemplar: Exemplar) -> None:
            # ExemplarStore.record, inlined: this runs for every observation that has an exemplar.
            entries[self._exemplar_key] = exemplar
            target.changed = True

        def get_exemplar(self) -> Exemplar | None:
            return entries.get(self._exemplar_key)

    return ExemplarMmapedValue


def start_publishing(directory: Path, identifier: str, interval: float | None = None) -> ExemplarPublisher:
    """In a worker that writes slot ``identifier``: seed from the slot's file and publish from a thread.

    Called by ``exporters.multiprocess.use_slot``. A publisher inherited over
    ``fork`` (its thread did not survive) is replaced.
    """
    global _publisher  # noqa: PLW0603 - one publisher per process
    path = exemplar_file(directory, identifier)
    with _publisher_lock:
        _store.clear()
        _store.seed(read_file(path))
        publisher = ExemplarPublisher(_store, path, publish_interval() if interval is None else interval)
        _publisher = publisher
    publisher.start()
    atexit.unregister(stop_publishing)
    atexit.register(stop_publishing)
    return publisher


def stop_publishing(timeout: float = 2.0) -> None:
    """Stop this process's publisher after a last publish (gunicorn ``worker_exit``, process exit)."""
    global _publisher
    with _publisher_lock:
        publisher, _publisher = _publisher, None
    if publisher is not None:
        publisher.stop(timeout)


def publish_now() -> bool:
    """Publish this process's exemplars at once (tests, benchmarks); False when nothing changed or none run."""
    publisher = _publisher
    return publisher.publish() if publisher is not None else False


def attach(metrics: Iterable[Metric], exemplars: Mapping[SampleKey, Exemplar]) -> list[Metric]:
    """``metrics`` with each histogram bucket (and counter) sample carrying its exemplar from ``exemplars``."""
    result = list(metrics)
    if not exemplars:
        return result
    names = {name for name, _ in exemplars}
    for metric in result:
        if metric.type == "histogram":
            if f"{metric.name}_bucket" not in names:
                continue
        elif metric.type != "counter" or f"{metric.name}_total" not in names:
            continue
        samples = []
        for sample in metric.samples:
            exemplar = exemplars.get(sample_key(sample.name, sample.labels)) if sample.name in names else None
            samples.append(sample if exemplar is None else sample._replace(exemplar=exemplar))
        metric.samples = samples
    return result


def collect_exemplars(directory: Path) -> dict[SampleKey, Exemplar]:
    """The most recent exemplar per bucket among the slot files in ``directory`` and this process."""
    sources: list[Mapping[SampleKey, Exemplar]] = [read_file(path) for path in exemplar_files(directory)]
    sources.append(dict(_store.entries))
    return merge_latest(sources)


class ExemplarMultiProcessCollector(MultiProcessCollector):
    """``MultiProcessCollector`` whose histogram buckets carry the workers' exemplars.

    ``exemplars=False`` (a classic-text scrape, which cannot show them) is
    exactly ``MultiProcessCollector``.
    """

    def __init__(self, registry: CollectorRegistry | None, path: str | os.PathLike[str], *, exemplars: bool = True):
        super().__init__(registry, path=os.fspath(path))  # type: ignore[no-untyped-call]
        self._directory = Path(path)
        self._exemplars = exemplars

    def collect(self) -> Iterable[Metric]:
        metrics = super().collect()  # type: ignore[no-untyped-call]
        if not self._exemplars:
            return metrics  # type: ignore[no-any-return]
        return attach(metrics, collect_exemplars(self._directory))
