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
version, health version, experience epoch) with the agents whose experience
it depends on. A look-up or store under a new config or health version drops
every entry first, because all of them were made under the old versions. A
new experience epoch drops only the entries that depend on an agent whose
term changed (when the versions name the terms of both epochs; otherwise
every entry): under live traffic some agent's term moves every few seconds,
and emptying the whole cache each time kept its hit rate near 5%. A stale
decision is never served either way.

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
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from agent_runtime.config.models import RoutingSettings
from agent_runtime.results import RoutingDecision
from agent_runtime.scoring.text import SKETCH_BITS, max_distance
from agent_runtime.telemetry.listener import RuntimeListener
from agent_runtime.vocabulary import CacheLayer, CacheName

MAX_BYTES = RoutingSettings.decision_cache_max_bytes
"""Default byte bound on top of ``max_entries``: a decision's explanations vary in length."""

MAX_ANSWERS = 256
"""Most paraphrase hits remembered (by sketch) at once, the oldest forgotten first: each is filed in
every band too (about 1 KB with the default seven), and 1,024 of them grew a worker by about 1 MB for
little speed."""

MAX_BANDS = 16
"""Most bands a sketch is cut into (4-bit bands: finer ones stop narrowing the search)."""

# Where decisions that depend on every agent's experience are filed among the agents' dependents:
# no agent has this name (the config loader refuses an empty one).
_EVERY_AGENT = ""


@dataclass(frozen=True, slots=True)
class CacheVersions:
    """What a decision depends on besides the task: config, tool health, experience.

    ``terms``: the quantised experience terms of epoch ``experience``, when
    known. With the terms of both epochs, a change of epoch drops only the
    decisions that depend on an agent whose term changed.
    """

    config: str
    health: int
    experience: int
    terms: Mapping[str, float] | None = field(default=None, compare=False)


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
    depends_on: tuple[str, ...] = ()  # the keys of _dependents it is filed under (_EVERY_AGENT: every agent)


def decision_bytes(fingerprint: str, decision: RoutingDecision, depends_on: Collection[str] = ()) -> int:
    """About what a cached decision holds: the objects, the explanations, the index entries."""
    explained = len(decision.explanation) + sum(len(c.explanation) for c in decision.candidates)
    return 900 + len(fingerprint) + explained + 250 * len(decision.candidates) + 80 * len(depends_on)


def changed_agents(old: Mapping[str, float], new: Mapping[str, float]) -> set[str] | None:
    """The agents whose experience term differs between ``old`` and ``new``; None if that may move any decision.

    A negative term counts for every agent, including those a task does not
    concern (see ``scoring.scorer``): a change on the negative side can move
    an agent in every task's ranking, so it returns None.

    >>> sorted(changed_agents({"a": 0.1, "b": 0.2}, {"a": 0.3, "b": 0.2, "c": 0.1}))
    ['a', 'c']
    >>> changed_agents({"a": 0.1}, {"a": -0.1}) is None
    True
    """
    changed = {agent for agent in old.keys() | new.keys() if old.get(agent, 0.0) != new.get(agent, 0.0)}
    if any(min(old.get(agent, 0.0), 0.0) != min(new.get(agent, 0.0), 0.0) for agent in changed):
        return None
    return changed


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
        """A cache bounded by ``decision_cache_size`` entries and ``decision_cache_max_bytes``, from ``settings``."""
        return cls(
            settings.decision_cache_size,
            settings.similarity_threshold,
            listener,
            max_bytes=settings.decision_cache_max_bytes,
        )

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
        # agent -> fingerprints whose decision depends on its experience (_EVERY_AGENT: on every agent's)
        self._dependents: dict[str, set[str]] = {}
        # Hits of get_similar by sketch. A hit holds while no sketch within the threshold of the
        # one asked about changes what is indexed under it (the search would visit exactly the
        # same candidates), so every change forgets the hits near it, found through the same bands
        # as the index (pigeonhole again): a paraphrase asked about again is one dict read.
        # Misses are not kept: the task missed is scored and filed next, which would forget it.
        self._answers: dict[int, SimilarHit] = {}
        self._answer_buckets: list[dict[int, set[int]]] = [{} for _ in self._bands]

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

    @property
    def max_bytes(self) -> int:
        """The byte bound on top of ``max_entries``."""
        return self._max_bytes

    @property
    def held_bytes(self) -> int:
        """About how many bytes the entries hold now (the estimate the byte bound is checked against)."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def reconfigure(self, max_entries: int, similarity_threshold: float, max_bytes: int | None = None) -> None:
        """Change capacity, threshold and (when given) the byte bound; drops every entry."""
        with self._lock:
            self._drop_all()
            self._versions = None
            if max_bytes is not None:
                self._max_bytes = max_bytes
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
        return self.get_similar_to(lambda: sketch, versions)

    def get_similar_to(self, sketch_of: Callable[[], int], versions: CacheVersions) -> SimilarHit | None:
        """``get_similar`` for the sketch ``sketch_of()``, which is asked for only when something is indexed."""
        if not self._similar:
            return None
        if versions is self._versions and self._holders:
            # The versions in force, as in ``get``: a remembered answer is read without the lock
            # (it was current when read; a change forgets it under the lock).
            sketch = sketch_of()
            answered = self._answers.get(sketch)
            if answered is not None:
                try:  # noqa: SIM105 (contextlib.suppress costs more than the hit)
                    self._entries.move_to_end(answered.fingerprint)
                except KeyError:  # evicted meanwhile: it was current when read
                    pass
                self._listener.cache_looked_up(CacheName.DECISION, CacheLayer.SIMILAR, True)
                return answered
        with self._lock:
            self._sync(versions)
            # With nothing indexed there is nothing to compare a sketch with: it is not computed.
            hit = self._search(sketch_of()) if self._holders else None
        self._listener.cache_looked_up(CacheName.DECISION, CacheLayer.SIMILAR, hit is not None)
        return hit

    def _changed(self, sketch: int) -> None:
        """Forget the answers a change of what is indexed under ``sketch`` could alter (caller holds the lock)."""
        if not self._answers:
            return
        if len(self._bands) > self._max_distance:
            near = _sharing_a_band(self._bands, self._answer_buckets, sketch)
        else:  # too few bands to be sure every near answer shares one: look at them all
            near = list(self._answers)
        for answered in _within(near, sketch, self._max_distance):
            del self._answers[answered]
            _unbucket(self._bands, self._answer_buckets, answered)

    def _search(self, sketch: int) -> SimilarHit | None:
        """The closest indexed decision within the threshold (caller holds the lock); a hit is remembered by sketch."""
        best: tuple[int, str] | None = None
        candidates = _sharing_a_band(self._bands, self._buckets, sketch)
        if candidates:
            # Distances in one pass at C speed; only the closest candidates are looked at again.
            distances = list(map(int.bit_count, map(sketch.__xor__, candidates)))
            closest = min(distances)
            if closest <= self._max_distance:
                holders = self._holders
                key = min(
                    min(holders[candidate])
                    for candidate, distance in zip(candidates, distances, strict=True)
                    if distance == closest
                )
                best = (closest, key)
        if best is None:
            return None
        distance, key = best
        self._entries.move_to_end(key)
        hit = SimilarHit(self._entries[key].decision, 1.0 - distance / SKETCH_BITS, key)
        if sketch not in self._answers:
            if len(self._answers) >= min(max(self._max_entries, 1), MAX_ANSWERS):
                # The oldest goes (first in, first out): clearing them all made every hot paraphrase
                # pay a search again each time the memo filled up.
                oldest = next(iter(self._answers))
                del self._answers[oldest]
                _unbucket(self._bands, self._answer_buckets, oldest)
            _bucket(self._bands, self._answer_buckets, sketch)
        self._answers[sketch] = hit
        return hit

    def put(
        self,
        fingerprint: str,
        sketch: int,
        decision: RoutingDecision,
        versions: CacheVersions,
        *,
        similar: bool = True,
        depends_on: Collection[str] | None = None,
    ) -> None:
        """Cache ``decision`` for ``fingerprint``; index its sketch for paraphrases when ``similar``.

        ``depends_on``: the agents whose experience the decision depends on
        (the router passes the agents the task concerns); None for every
        agent's.
        """
        if self._max_entries == 0:
            return
        agents = tuple(depends_on) if depends_on is not None else (_EVERY_AGENT,)
        with self._lock:
            self._sync(versions)
            old = self._entries.get(fingerprint)
            if old is not None:
                self._forget(fingerprint, old)
            indexed = similar and self._similar
            size = decision_bytes(fingerprint, decision, depends_on or ())
            self._entries[fingerprint] = _Entry(decision, sketch, indexed, size, agents)
            self._bytes += size
            for agent in agents:
                dependents = self._dependents.get(agent)
                if dependents is None:
                    self._dependents[agent] = {fingerprint}
                else:
                    dependents.add(fingerprint)
            if indexed:
                holders = self._holders.get(sketch)
                if holders is None:
                    self._holders[sketch] = {fingerprint}
                    _bucket(self._bands, self._buckets, sketch)
                else:
                    holders.add(fingerprint)
                self._changed(sketch)
            while len(self._entries) > self._max_entries or (self._bytes > self._max_bytes and len(self._entries) > 1):
                key = next(iter(self._entries))
                self._forget(key, self._entries[key])

    def _forget(self, fingerprint: str, entry: _Entry, *, answers: bool = True) -> None:
        """Remove one entry from the cache and its indexes (caller holds the lock).

        ``answers``: also forget the remembered paraphrase hits it could alter
        (False when the caller forgets them all).
        """
        del self._entries[fingerprint]
        self._bytes -= entry.size
        if entry.indexed:
            self._unindex(fingerprint, entry.sketch, answers=answers)
        for agent in entry.depends_on:
            dependents = self._dependents[agent]
            dependents.discard(fingerprint)
            if not dependents:
                del self._dependents[agent]

    def _sync(self, versions: CacheVersions) -> None:
        """Drop what the versions' move made stale (caller holds the lock)."""
        old = self._versions
        if versions is old:
            return
        self._versions = versions
        if old is None or versions == old:
            return
        same_setting = versions.config == old.config and versions.health == old.health
        if not same_setting or old.terms is None or versions.terms is None:
            self._drop_all()
            return
        changed = changed_agents(old.terms, versions.terms)
        if changed is None:
            self._drop_all()
            return
        stale = set(self._dependents.get(_EVERY_AGENT, ()))
        for agent in changed:
            stale |= self._dependents.get(agent, set())
        if len(stale) * 4 >= len(self._entries) * 3:
            self._drop_all()  # one clear costs less than taking most entries out one by one
            return
        self._forget_answers()
        entries = self._entries
        for fingerprint in stale:
            self._forget(fingerprint, entries[fingerprint], answers=False)

    def _forget_answers(self) -> None:
        self._answers.clear()
        for buckets in self._answer_buckets:
            buckets.clear()

    def _drop_all(self) -> None:
        self._forget_answers()
        self._entries.clear()
        self._dependents.clear()
        self._bytes = 0
        self._holders.clear()
        for buckets in self._buckets:
            buckets.clear()

    def _unindex(self, fingerprint: str, sketch: int, *, answers: bool = True) -> None:
        if answers:
            self._changed(sketch)
        holders = self._holders[sketch]
        holders.discard(fingerprint)
        if holders:
            return
        del self._holders[sketch]
        _unbucket(self._bands, self._buckets, sketch)


def _sharing_a_band(bands: tuple[tuple[int, int], ...], buckets: list[dict[int, set[int]]], sketch: int) -> list[int]:
    """Every sketch filed in ``buckets`` with the same value as ``sketch`` in some band, each once."""
    found: set[int] = set()
    for (shift, mask), band in zip(bands, buckets, strict=True):
        members = band.get((sketch >> shift) & mask)
        if members:
            found |= members
    return list(found)


def _within(candidates: list[int], sketch: int, limit: int) -> list[int]:
    """The candidates at most ``limit`` bits from ``sketch``."""
    distances = map(int.bit_count, map(sketch.__xor__, candidates))
    return [candidate for candidate, distance in zip(candidates, distances, strict=True) if distance <= limit]


def _bucket(bands: tuple[tuple[int, int], ...], buckets: list[dict[int, set[int]]], sketch: int) -> None:
    """File ``sketch`` under its value in every band."""
    for (shift, mask), band in zip(bands, buckets, strict=True):
        value = (sketch >> shift) & mask
        members = band.get(value)
        if members is None:  # not ``setdefault(value, set())``, which builds a set on every call
            band[value] = {sketch}
        else:
            members.add(sketch)


def _unbucket(bands: tuple[tuple[int, int], ...], buckets: list[dict[int, set[int]]], sketch: int) -> None:
    """Remove ``sketch`` from every band, dropping buckets left empty."""
    for (shift, mask), band in zip(bands, buckets, strict=True):
        value = (sketch >> shift) & mask
        members = band[value]
        members.discard(sketch)
        if not members:
            del band[value]
