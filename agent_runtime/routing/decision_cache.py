"""The routing decision cache: exact by fingerprint, approximate by SimHash sketch.

Exact entries are keyed by the task fingerprint. Entries may also be indexed
by their 64-bit similarity sketch, so a paraphrase (a different fingerprint
whose sketch is within the similarity threshold) can reuse a decision.

The similarity index is banded LSH: the sketch is cut into ``b`` bands and
each entry is bucketed under each band's value. Two sketches at hamming
distance ``d`` differ in at most ``d`` bands, so with ``b = d_max + 1`` bands
they share at least one band exactly (pigeonhole): a look-up visits only the
entries in the ``b`` matching buckets and still finds every sketch within the
threshold. Buckets hold distinct sketches (paraphrases that differ only in
stop words share one), each verified once by exact hamming distance. (For
thresholds below ``1 - (MAX_BANDS - 1) / 64`` the band count is capped at
``MAX_BANDS``; recall then stays high but is no longer guaranteed.)

Versions: every entry is stored under the current ``CacheVersions`` (config
version, health version, experience epoch). A look-up or store under
different versions drops every entry first, because all of them were made
under the old versions; a stale decision is never served.

Example::

    >>> from agent_runtime.results import RoutingDecision
    >>> cache = DecisionCache(max_entries=100, similarity_threshold=0.9)
    >>> v1 = CacheVersions("cfg-1", 0, 0)
    >>> cache.put("fp-a", 0b1011, RoutingDecision("writer", 0.8, "scored", "..."), v1)
    >>> cache.get("fp-a", v1).agent
    'writer'
    >>> round(cache.get_similar(0b1001, v1).similarity, 4)  # one bit away
    0.9844
    >>> cache.get("fp-a", CacheVersions("cfg-2", 0, 0)) is None, len(cache)
    (True, 0)
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass

from agent_runtime.config.models import RoutingSettings
from agent_runtime.results import RoutingDecision
from agent_runtime.scoring.text import SKETCH_BITS, hamming, max_distance
from agent_runtime.telemetry.listener import RuntimeListener
from agent_runtime.vocabulary import CacheLayer, CacheName

MAX_BYTES = 3 * 1024 * 1024
"""Default byte bound on top of ``max_entries``: a decision's explanations vary in length."""

_CHANGE_LOG = 512
"""Index changes remembered for re-validating answered paraphrase look-ups."""

MAX_BANDS = 16
"""Most bands a sketch is cut into (4-bit bands: finer ones stop narrowing the search)."""


@dataclass(frozen=True, slots=True)
class CacheVersions:
    """What a decision depends on besides the task: config, tool health, experience."""

    config: str
    health: int
    experience: int


@dataclass(frozen=True, slots=True)
class SimilarHit:
    """A paraphrase hit: the cached decision, how similar the sketches were, and whose it was."""

    decision: RoutingDecision
    similarity: float
    fingerprint: str


@dataclass(slots=True)
class _Entry:
    decision: RoutingDecision
    sketch: int
    indexed: bool
    size: int = 0


def decision_bytes(fingerprint: str, decision: RoutingDecision) -> int:
    """About what a cached decision holds: the objects, the explanations, the index entries."""
    explained = len(decision.explanation) + sum(len(c.explanation) for c in decision.candidates)
    return 900 + len(fingerprint) + explained + 250 * len(decision.candidates)


def band_layout(threshold: float) -> tuple[tuple[int, int], ...]:
    """``(shift, mask)`` per band for a similarity threshold: ``max_distance + 1`` near-equal bands.

    >>> [bin(mask).count("1") for _, mask in band_layout(0.9)]
    [10, 9, 9, 9, 9, 9, 9]
    """
    count = min(MAX_BANDS, max_distance(threshold) + 1)
    width, extra = divmod(SKETCH_BITS, count)
    layout: list[tuple[int, int]] = []
    shift = 0
    for band in range(count):
        bits = width + (1 if band < extra else 0)
        layout.append((shift, (1 << bits) - 1))
        shift += bits
    return tuple(layout)


class DecisionCache:
    """Bounded, thread-safe LRU of routing decisions with a paraphrase index.

    ``similarity_threshold`` in (0, 1] enables ``get_similar``; any other value
    disables it. Look-ups report ``cache_looked_up("decision", "exact" |
    "similar", hit)`` to ``listener``.
    """

    def __init__(
        self,
        max_entries: int = 4096,
        similarity_threshold: float = 0.9,
        listener: RuntimeListener | None = None,
        *,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self._listener = listener if listener is not None else RuntimeListener()
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._max_bytes = max_bytes
        self._bytes = 0
        self._versions: CacheVersions | None = None
        self._configure(max_entries, similarity_threshold)

    @classmethod
    def from_settings(cls, settings: RoutingSettings, listener: RuntimeListener | None = None) -> DecisionCache:
        """A cache sized by ``decision_cache_size`` with ``similarity_threshold`` from ``settings``."""
        return cls(settings.decision_cache_size, settings.similarity_threshold, listener)

    def _configure(self, max_entries: int, similarity_threshold: float) -> None:
        if max_entries < 0:
            raise ValueError(f"max_entries must be >= 0, got {max_entries}")
        self._max_entries = max_entries
        self._threshold = similarity_threshold
        self._similar = 0.0 < similarity_threshold <= 1.0
        self._max_distance = max_distance(similarity_threshold) if self._similar else -1
        self._bands = band_layout(similarity_threshold) if self._similar else ()
        # Buckets hold distinct sketches, not fingerprints: paraphrases that
        # differ only in stop words share a sketch, and are verified once.
        self._buckets: list[dict[int, set[int]]] = [{} for _ in self._bands]
        self._holders: dict[int, set[str]] = {}  # sketch -> fingerprints indexed under it
        # Answers of get_similar by sketch, with the index generation they were given at. Every
        # change of what is indexed (a fingerprint indexed or unindexed under a sketch) moves the
        # generation and is logged with its sketch: a remembered answer still holds when no sketch
        # changed since is within the threshold of the one asked about (the search would visit
        # exactly the same candidates), so only those are searched again.
        self._index_generation = 0
        self._answers: dict[int, tuple[int, SimilarHit | None]] = {}
        self._changes: deque[tuple[int, int]] = deque(maxlen=_CHANGE_LOG)

    @property
    def max_entries(self) -> int:
        """Capacity (0 disables caching)."""
        return self._max_entries

    @property
    def similarity_threshold(self) -> float:
        """Minimum sketch similarity for a paraphrase hit."""
        return self._threshold

    @property
    def similar_enabled(self) -> bool:
        """Whether paraphrase look-ups are on."""
        return self._similar

    @property
    def band_count(self) -> int:
        """Number of LSH bands the sketch is cut into (0 when paraphrase look-ups are off)."""
        return len(self._bands)

    def __len__(self) -> int:
        return len(self._entries)

    def reconfigure(self, max_entries: int, similarity_threshold: float) -> None:
        """Change capacity and threshold; drops every entry."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0
            self._versions = None
            self._configure(max_entries, similarity_threshold)

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._drop_all()

    def get(self, fingerprint: str, versions: CacheVersions) -> RoutingDecision | None:
        """The decision cached for exactly this fingerprint under ``versions``, or None."""
        if versions is self._versions:
            # The versions in force (the router hands the same object while they hold):
            # a read needs no lock, the dictionary's operations are atomic.
            entry = self._entries.get(fingerprint)
            if entry is not None:
                try:  # noqa: SIM105 (contextlib.suppress costs more than the hit)
                    self._entries.move_to_end(fingerprint)
                except KeyError:  # evicted meanwhile: it was current when read
                    pass
        else:
            with self._lock:
                self._sync(versions)
                entry = self._entries.get(fingerprint)
                if entry is not None:
                    self._entries.move_to_end(fingerprint)
        self._listener.cache_looked_up(CacheName.DECISION, CacheLayer.EXACT, entry is not None)
        return entry.decision if entry is not None else None

    def get_similar(self, sketch: int, versions: CacheVersions) -> SimilarHit | None:
        """The closest indexed decision within the threshold, or None.

        Ties on distance go to the smallest fingerprint, so the answer does not
        depend on insertion order.
        """
        if not self._similar:
            return None
        with self._lock:
            self._sync(versions)
            remembered = self._answers.get(sketch)
            if remembered is not None and self._still_holds(sketch, remembered[0]):
                # Nothing near this sketch changed since it was answered: the same answer.
                answered = remembered[1]
                if answered is not None:
                    self._entries.move_to_end(answered.fingerprint)
            else:
                answered = self._search(sketch)
        self._listener.cache_looked_up(CacheName.DECISION, CacheLayer.SIMILAR, answered is not None)
        return answered

    def _still_holds(self, sketch: int, generation: int) -> bool:
        """True when no sketch indexed or unindexed since ``generation`` is within the threshold of ``sketch``."""
        current = self._index_generation
        if generation == current:
            return True
        changes = self._changes
        if not changes or changes[0][0] > generation + 1:
            return False  # the log no longer reaches back that far
        limit = self._max_distance
        for changed_at, changed in reversed(changes):
            if changed_at <= generation:
                break
            if (sketch ^ changed).bit_count() <= limit:
                return False
        self._answers[sketch] = (current, self._answers[sketch][1])
        return True

    def _changed(self, sketch: int) -> None:
        """Log a change of what is indexed under ``sketch`` (caller holds the lock)."""
        self._index_generation += 1
        self._changes.append((self._index_generation, sketch))

    def _search(self, sketch: int) -> SimilarHit | None:
        """The closest indexed decision within the threshold (caller holds the lock), remembered by sketch."""
        best: tuple[int, str] | None = None
        seen: set[int] = set()
        for (shift, mask), buckets in zip(self._bands, self._buckets, strict=True):
            for candidate in buckets.get((sketch >> shift) & mask, ()):
                if candidate in seen:
                    continue
                seen.add(candidate)
                distance = hamming(sketch, candidate)
                if distance <= self._max_distance and (best is None or distance <= best[0]):
                    key = min(self._holders[candidate])
                    if best is None or (distance, key) < best:
                        best = (distance, key)
        hit: SimilarHit | None = None
        if best is not None:
            distance, key = best
            self._entries.move_to_end(key)
            similarity = 1.0 - distance / SKETCH_BITS
            hit = SimilarHit(self._entries[key].decision, similarity, key)
        if len(self._answers) >= min(max(self._max_entries, 1), 1024):
            self._answers.clear()
        self._answers[sketch] = (self._index_generation, hit)
        return hit

    def put(
        self,
        fingerprint: str,
        sketch: int,
        decision: RoutingDecision,
        versions: CacheVersions,
        *,
        similar: bool = True,
    ) -> None:
        """Cache ``decision`` for ``fingerprint``; index its sketch for paraphrases when ``similar``."""
        if self._max_entries == 0:
            return
        with self._lock:
            self._sync(versions)
            old = self._entries.pop(fingerprint, None)
            if old is not None:
                self._bytes -= old.size
                if old.indexed:
                    self._unindex(fingerprint, old.sketch)
            indexed = similar and self._similar
            size = decision_bytes(fingerprint, decision)
            self._entries[fingerprint] = _Entry(decision, sketch, indexed, size)
            self._bytes += size
            if indexed:
                holders = self._holders.setdefault(sketch, set())
                if not holders:
                    for (shift, mask), buckets in zip(self._bands, self._buckets, strict=True):
                        buckets.setdefault((sketch >> shift) & mask, set()).add(sketch)
                holders.add(fingerprint)
                self._changed(sketch)
            while len(self._entries) > self._max_entries or (self._bytes > self._max_bytes and len(self._entries) > 1):
                key, evicted = self._entries.popitem(last=False)
                self._bytes -= evicted.size
                if evicted.indexed:
                    self._unindex(key, evicted.sketch)

    def _sync(self, versions: CacheVersions) -> None:
        """Drop everything when the versions moved (caller holds the lock)."""
        if versions is not self._versions:
            if versions != self._versions:
                self._drop_all()
            self._versions = versions

    def _drop_all(self) -> None:
        self._index_generation += 1
        self._answers.clear()
        self._changes.clear()
        self._entries.clear()
        self._bytes = 0
        self._holders.clear()
        for buckets in self._buckets:
            buckets.clear()

    def _unindex(self, fingerprint: str, sketch: int) -> None:
        self._changed(sketch)
        holders = self._holders[sketch]
        holders.discard(fingerprint)
        if holders:
            return
        del self._holders[sketch]
        for (shift, mask), buckets in zip(self._bands, self._buckets, strict=True):
            value = (sketch >> shift) & mask
            members = buckets[value]
            members.discard(sketch)
            if not members:
                del buckets[value]
