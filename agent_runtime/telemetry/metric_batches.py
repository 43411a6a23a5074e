"""The batching of the runtime's counter increments and histogram observations.

Per-task cost: histogram observations without an exemplar, and counter
increments, are *batched*: appended to a per-series array of doubles (no
lock on the hot path; a task's stage timings are appended as one group) and
folded into the very same child, a histogram's as bucket counts and a sum, a
counter's as one ``inc`` of their sum, every
``FLUSH_EVERY`` events of a series, by a daemon thread every
``FLUSH_SECONDS``, before every collection of the registry, and at exit (a
gunicorn worker's ``worker_exit`` too). Series, buckets and values are
exactly those of one ``inc``/``observe`` per event. A single-process scrape
is exact; in a multiprocess scrape the answering worker flushes first and
the other workers' events are at most ``FLUSH_SECONDS`` late (a multiprocess
increment writes the worker's file under a lock, the costliest event of a
served task before it was batched). An observation with an exemplar (a
sampled task) is counted with the batch, and its exemplar set on its bucket
at once.

``telemetry.metrics`` wraps its label children in these; nothing here knows
the catalog or the listener.
"""

from __future__ import annotations

import atexit
import collections
import os
import threading
import time
import weakref
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from math import isnan
from typing import Any, Final, Protocol, TypeVar

from prometheus_client.samples import Exemplar

FLUSH_EVERY: Final = 256
"""Batched events of one label set folded into its child at the latest after this many."""
FLUSH_SECONDS: Final = 1.0
"""... or after about this long (a daemon thread flushes every batch this often)."""


class _Batch:
    """One series' pending observations (or increments), folded into its child by ``flush``.

    Recording is one ``array.append``, atomic under the GIL, so the hot path
    takes no lock (a lock, a bisect and a clock read per observation cost
    several times more); an array of doubles holds a pending value in 8
    bytes, not a float object. ``flush`` takes only as many values as it saw
    from the front, so an append racing a flush (at the back) is folded in by
    the next one.
    """

    __slots__ = ("__weakref__", "_pending")

    def __init__(self) -> None:
        self._pending = array("d")
        _FLUSHER.track(self)

    def observe(self, value: float) -> None:
        """Record ``value``; fold the batch in once it holds ``FLUSH_EVERY``."""
        pending = self._pending
        pending.append(value)
        if len(pending) >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        """Fold the pending values into the child."""
        if self._pending:
            values = _take(self._pending)
            if values:  # another flush may have taken them all
                self.fold(values)

    def fold(self, values: array[float]) -> None:
        """Fold ``values`` into the child: a flush's, or a group's values of this series."""
        raise NotImplementedError


_T = TypeVar("_T", "array[float]", "list[tuple[tuple[str, float], ...]]")


def _take(pending: _T) -> _T:
    """What ``pending`` holds now, removed from it.

    Flushes take turns (appends never wait): each takes only what it saw.
    """
    with _FLUSHER.lock:
        seen = len(pending)
        taken = pending[:seen]
        del pending[:seen]
    return taken


class BatchedCounter(_Batch):
    """A counter child's increments, added to its value in one ``inc`` per flush."""

    __slots__ = ("_inc",)

    def __init__(self, inc: Callable[[float], None]) -> None:
        self._inc = inc
        super().__init__()

    def fold(self, values: array[float]) -> None:
        self._inc(sum(values))


class BatchedHistogram(_Batch):
    """A histogram child's observations, folded in as bucket counts and a sum.

    Bucket ``i`` counts values ``<= upper_bounds[i]`` and above the bound
    before, as ``Histogram.observe`` does; the fold adds the counts and the
    sum to the child's own values, so what a scrape reads is the same.
    """

    __slots__ = ("_bounds", "_child")

    def __init__(self, child: Any) -> None:
        self._child = child
        self._bounds: tuple[float, ...] = tuple(child._upper_bounds)
        super().__init__()

    def observe_now(self, value: float, exemplar: dict[str, str]) -> None:
        """Count ``value`` with the batch and put its exemplar on its bucket now.

        What ``Histogram.observe(value, exemplar)`` does, less the check of
        the exemplar's labels: they are always ``telemetry.metrics``' one
        short trace id, well within the OpenMetrics limit.
        """
        if isnan(value):  # in no bucket: the histogram itself says what becomes of it
            self._child.observe(value, exemplar)
            return
        self.observe(value)
        bucket = self._child._buckets[bisect_left(self._bounds, value)]
        bucket.set_exemplar(Exemplar(exemplar, value, time.time()))

    def fold(self, values: array[float]) -> None:
        child = self._child
        total = sum(values)
        if isnan(total):  # a NaN among them (or inf - inf): value by value, NaN to the histogram itself
            for value in values:
                if isnan(value):
                    child.observe(value)
            values = array("d", [value for value in values if not isnan(value)])
            total = sum(values)
        # Bucket indices counted in C (map and Counter), not in a Python loop per value.
        counts = collections.Counter(map(partial(bisect_left, self._bounds), values))
        child._sum.inc(total)
        buckets = child._buckets
        for index, count in counts.items():
            buckets[index].inc(count)


class DirectHistogram:
    """A histogram child that cannot be batched (not prometheus_client's own), behind the same interface."""

    __slots__ = ("_child",)

    def __init__(self, child: Any) -> None:
        self._child = child

    def observe(self, value: float) -> None:
        self._child.observe(value)

    def observe_now(self, value: float, exemplar: dict[str, str]) -> None:
        self._child.observe(value, exemplar)

    def fold(self, values: array[float]) -> None:
        observe = self._child.observe
        for value in values:
            observe(value)


class _FoldsByLabel(Protocol):
    """What ``Groups`` folds into: ``telemetry.metrics``' histogram children, typed here so as not to import them."""

    def fold(self, by_label: Mapping[str, array[float]]) -> None: ...


class Groups:
    """A one-label histogram's observations, one group (a task's stages) appended at a time.

    Recording a group is one ``list.append`` where observing its values
    would be a look-up and an append per value; a fold sorts the values
    into their series and folds each series' values into its child as
    ``BatchedHistogram`` does, so what a scrape reads is the same. Flushed
    with the batches (``_FLUSHER``): after ``FLUSH_EVERY`` groups, on the
    timer, before a collection and at exit.
    """

    __slots__ = ("__weakref__", "_histograms", "_pending")

    def __init__(self, histograms: _FoldsByLabel) -> None:
        self._histograms = histograms
        self._pending: list[tuple[tuple[str, float], ...]] = []
        _FLUSHER.track(self)

    def observe(self, group: tuple[tuple[str, float], ...]) -> None:
        """Record ``group``'s ``(label value, value)`` pairs; fold once ``FLUSH_EVERY`` groups are pending."""
        pending = self._pending
        pending.append(group)
        if len(pending) >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        """Fold the pending groups into the histogram's children."""
        if not self._pending:
            return
        by_label: dict[str, array[float]] = {}
        for group in _take(self._pending):
            for label, value in group:
                values = by_label.get(label)
                if values is None:
                    values = by_label[label] = array("d")
                values.append(value)
        self._histograms.fold(by_label)


class _Flusher:
    """Flushes every batch of the process: before a collection, on a timer, at exit."""

    def __init__(self) -> None:
        self._batches: weakref.WeakSet[_Batch | Groups] = weakref.WeakSet()
        self._lock = threading.Lock()
        # Held by a batch's flush while it pops its values (never by the hot path).
        self.lock = threading.Lock()
        self._thread_pid = 0
        atexit.register(self.flush)
        # A forked worker (gunicorn) inherits the batches but not the thread: start its own.
        os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self.lock = threading.Lock()
        self._thread_pid = 0
        if self._batches:
            self._start()

    def _start(self) -> None:
        self._thread_pid = os.getpid()
        threading.Thread(target=self._run, name="metrics-flush", daemon=True).start()

    def track(self, batch: _Batch | Groups) -> None:
        with self._lock:
            self._batches.add(batch)
            if self._thread_pid != os.getpid():  # none yet, or we are a forked worker
                self._start()

    def flush(self) -> None:
        with self._lock:
            batches = list(self._batches)
        for batch in batches:
            batch.flush()

    def _run(self) -> None:
        pid = os.getpid()
        while self._thread_pid == pid:
            time.sleep(FLUSH_SECONDS)
            self.flush()


_FLUSHER = _Flusher()


def flush_pending() -> None:
    """Fold every batched event into its counter or histogram now (a worker on its way out, a test)."""
    _FLUSHER.flush()


class FlushBeforeCollect:
    """Registered ahead of the runtime's collectors: a collection first folds in batched observations."""

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        _FLUSHER.flush()
        return iter(())


def batchable(child: Any) -> bool:
    """Whether ``child`` has the prometheus_client internals ``BatchedHistogram`` folds into."""
    return hasattr(child, "_upper_bounds") and hasattr(child, "_buckets") and hasattr(child, "_sum")
