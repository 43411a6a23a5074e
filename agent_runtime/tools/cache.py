"""The tool cache: L0 in-process LRU → L1 diskcache → L2 Redis (docs/architecture.md).

Keys come from canonical arguments: the tool name plus the arguments as
JSON with sorted keys (so ``{"a": 1, "b": 2}`` and ``{"b": 2, "a": 1}`` are
the same call), hashed. Each tool has its own TTL; tools with
``cacheable=False`` (side effects) bypass every layer.

The in-process L0 needs no hashing: its key is a tuple of the tool, the
generations and the arguments themselves (sorted ``(name, value)`` pairs
when every value is a ``str`` or an ``int``, the canonical JSON otherwise),
equal exactly when the canonical JSON is. The shared layers' digest is
computed only when the L0 misses. Popularity for warming counts every miss
and one hit in ``HIT_SAMPLE`` (with that weight), so a hit takes no lock
for it. The L0 is bounded in entries and in bytes (``l0_max_bytes``).

Invalidation is O(1) and works across processes: every key embeds the
current generations of the whole cache, of its tool and of its tags
(``Generations``, in ``generations.py``), and invalidating bumps one of
them, so old keys are never asked for again. This process drops its own L0
entries at once through a tool → keys index.

A hit in a lower layer is promoted to the layers above it with its
remaining lifetime. Each hit reports what it saved: the original call's
duration and, for model calls, their cost in dollars (both stored with the
value) to ``listener.cache_saved``, and to ``stats()`` (with the tool's
``cost_per_call`` where a call has no cost of its own). A tool registered
with another cache name (``llm`` for model calls) is counted under it, and
a single call can bypass every layer (a model call with temperature > 0). Look-ups are counted per call in
a bounded, decaying frequency table, from which ``warm`` re-runs the most
popular calls.

Example::

    >>> from agent_runtime.config.models import CacheSettings, ToolSpec
    >>> cache = ToolCache(CacheSettings())
    >>> spec = ToolSpec(name="search", ttl_seconds=60, cache_tags=("web",))
    >>> first = cache.lookup(spec, {"q": "otel"})
    >>> first.hit
    False
    >>> cache.store(first, ["result"], seconds=0.8)
    >>> again = cache.lookup(spec, {"q": "otel"})
    >>> again.hit, again.layer, again.value
    (True, 'l0', ['result'])
    >>> cache.invalidate(tag="web")
    1
    >>> cache.lookup(spec, {"q": "otel"}).hit
    False
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final

from agent_runtime.config.models import CacheSettings, ToolSpec
from agent_runtime.telemetry.listener import RuntimeListener
from agent_runtime.tools.cache_entries import CacheEntry
from agent_runtime.tools.calls import CallFrequency, args_key, canonical_args, hash_canonical
from agent_runtime.tools.generations import Generations
from agent_runtime.tools.layers import DiskLayer, RedisLayer, SharedLayer
from agent_runtime.tools.lru import LRUCache, approx_size
from agent_runtime.vocabulary import CacheName

logger = logging.getLogger(__name__)

HIT_SAMPLE: Final = 8
"""One L0 hit in this many is counted for popularity, with this weight (misses always count)."""
_HIT_SAMPLE_MASK: Final = HIT_SAMPLE - 1


@dataclass(slots=True)
class CacheLookup:
    """The result of ``ToolCache.lookup``; pass it back to ``store`` on a miss.

    ``key`` (the L0 key) is None when the tool bypasses the cache. The key
    embeds the generations current at look-up time, so a result computed
    while an invalidation happened is stored under the old generation, never
    served as fresh. ``shared_key`` is the L1/L2 key (a digest), computed on
    an L0 miss when shared layers exist.
    """

    spec: ToolSpec
    key: Hashable | None
    hit: bool = False
    value: Any = None
    layer: str | None = None
    saved_seconds: float = 0.0
    cache: str = CacheName.TOOL
    shared_key: str | None = None
    args: Mapping[str, Any] | None = None


class _LayerCounts:
    __slots__ = ("hits", "misses")

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0


class ToolCache:
    """Layered tool-result cache with generations, accounting and warming.

    Thread-safe. ``clock`` is wall-clock seconds (entries and their expiry
    travel between processes through L1/L2); inject one in tests.
    ``generation_refresh_seconds`` bounds how long another process's
    invalidation may go unnoticed here (0 re-reads generations on every
    look-up). ``retry_after_seconds`` replaces the configured
    ``layer_initial_backoff_seconds`` (tests pass 0: a failed layer is tried
    again on the next call).
    """

    def __init__(
        self,
        settings: CacheSettings,
        listener: RuntimeListener | None = None,
        *,
        clock: Callable[[], float] = time.time,
        generation_refresh_seconds: float = 1.0,
        frequency_capacity: int = 1024,
        namespace: str = "agent_runtime:tool_cache:",
        retry_after_seconds: float | None = None,
    ) -> None:
        self._settings = settings
        self._listener = listener or RuntimeListener()
        self._clock = clock
        self._l0: LRUCache[Hashable, CacheEntry] = LRUCache(
            settings.l0_max_entries, clock=clock, on_evict=self._forget_l0_key, max_bytes=settings.l0_max_bytes
        )
        if retry_after_seconds is None:
            retry_after_seconds = settings.layer_initial_backoff_seconds
        shared: list[SharedLayer] = []
        if settings.directory is not None:
            shared.append(
                DiskLayer(
                    settings.directory,
                    size_limit_bytes=settings.l1_size_limit_bytes,
                    retry_after_seconds=retry_after_seconds,
                    max_retry_after_seconds=settings.layer_max_backoff_seconds,
                    cache=CacheName.TOOL,
                    listener=self._listener,
                )
            )
        if settings.redis_url is not None:
            shared.append(
                RedisLayer(
                    settings.redis_url,
                    timeout_seconds=settings.redis_timeout_seconds,
                    namespace=namespace,
                    retry_after_seconds=retry_after_seconds,
                    max_retry_after_seconds=settings.layer_max_backoff_seconds,
                    cache=CacheName.TOOL,
                    listener=self._listener,
                )
            )
        self._shared: tuple[SharedLayer, ...] = tuple(shared)
        # The most shared layer holds the generation counters everyone agrees on.
        self._generations = Generations(shared[-1] if shared else None, clock, generation_refresh_seconds)
        self._frequency = CallFrequency(frequency_capacity)

        self._index_lock = threading.Lock()
        self._keys_by_tool: dict[str, set[Hashable]] = {}
        self._tools_by_tag: dict[str, set[str]] = {}
        self._specs: dict[str, ToolSpec] = {}
        self._hit_tick = 0

        self._stats_lock = threading.Lock()
        self._layer_counts = {"l0": _LayerCounts(), **{layer.name: _LayerCounts() for layer in shared}}
        self._hits = 0
        self._misses = 0
        self._bypassed = 0
        self._stores = 0
        self._invalidations = 0
        self._warmed = 0
        self._saved_seconds = 0.0
        self._saved_cost = 0.0

    @property
    def settings(self) -> CacheSettings:
        """The settings this cache was built from."""
        return self._settings

    @property
    def layers(self) -> tuple[str, ...]:
        """The enabled layers, fastest first (``("l0", "l1", "l2")`` at most)."""
        return ("l0", *(layer.name for layer in self._shared))

    def lookup(
        self, spec: ToolSpec, args: Mapping[str, Any], *, cache: str = CacheName.TOOL, bypass: bool = False
    ) -> CacheLookup:
        """Look ``spec.name(**args)`` up, fastest layer first, and count the call under ``cache``.

        ``bypass`` skips the cache for this one call (nothing is read or stored).
        """
        if bypass:
            with self._stats_lock:
                self._bypassed += 1
            return CacheLookup(spec, None, cache=cache)
        return self._lookup(spec, args, cache, report=True)

    def peek(self, spec: ToolSpec, args: Mapping[str, Any]) -> bool:
        """True when the L0 holds a live result for ``spec.name(**args)``; nothing is counted."""
        key = self._l0_key(spec, args)
        return key is not None and key[0] in self._l0

    def lookup_l0(self, spec: ToolSpec, args: Mapping[str, Any], *, cache: str = CacheName.TOOL) -> CacheLookup | None:
        """``lookup`` when the L0 answers now (counted and reported as a hit), else None with nothing counted.

        What ``peek`` and then ``lookup`` do on a hit, with the key built once.
        """
        key = self._l0_key(spec, args)
        if key is None:
            return None
        l0_key, call_key = key
        entry = self._l0.get(l0_key)
        if entry is None:
            return None
        self._hit_l0(spec, args, cache, call_key, entry)
        return CacheLookup(spec, l0_key, True, entry.value, "l0", entry.seconds, cache)

    def _l0_key(self, spec: ToolSpec, args: Mapping[str, Any]) -> tuple[tuple[Any, ...], Hashable] | None:
        """(the L0 key, the arguments' key), or None when the call is not cacheable."""
        if not (spec.cacheable and spec.ttl_seconds > 0):
            return None
        try:
            call_key = args_key(args)
        except (ValueError, TypeError, RecursionError):
            return None
        name = spec.name
        if self._specs.get(name) is not spec:
            self._remember_spec(spec)
        return (name, self._generations.of(name), call_key), call_key

    def store(self, lookup: CacheLookup, value: Any, seconds: float, dollars: float = 0.0) -> None:
        """Store ``value`` for the missed ``lookup``; ``seconds`` and ``dollars`` are what computing it cost."""
        if lookup.key is None or lookup.hit:
            return
        spec = lookup.spec
        ttl = spec.ttl_seconds
        entry = CacheEntry(spec.name, value, seconds, self._clock() + ttl, dollars)
        self._put_l0(lookup.key, entry, ttl)
        if self._shared:
            shared_key = lookup.shared_key or self._shared_key(spec.name, lookup.key, lookup.args or {})
            for layer in self._shared:
                layer.set(shared_key, entry, ttl)
        with self._stats_lock:
            self._stores += 1

    def invalidate(self, tool: str | None = None, tag: str | None = None) -> int:
        """Invalidate one tool's entries, one tag's, or (neither given) everything.

        Returns how many entries were dropped from this process's L0; entries
        in L1/L2 become unreachable at once and expire with their TTL.
        """
        with self._index_lock:
            tools: set[str] = set()
            if tool is None and tag is None:
                tools.update(self._keys_by_tool)
            if tool is not None:
                tools.add(tool)
            if tag is not None:
                tools.update(self._tools_by_tag.get(tag, ()))
            keys = [key for name in tools for key in self._keys_by_tool.pop(name, ())]
        self._generations.invalidate(tool, tag)
        dropped = self._l0.discard_many(keys)
        with self._stats_lock:
            self._invalidations += 1
        return dropped

    def warm(
        self,
        call: Callable[[str, Mapping[str, Any]], Any],
        top_n: int | None = None,
        cost_of: Callable[[str, Any], float] | None = None,
    ) -> int:
        """Re-run the ``top_n`` most frequent recorded calls that are not cached.

        ``call(tool, args)`` must run the tool (without consulting this cache)
        and return its result or raise; results are stored with the time they
        took and ``cost_of(tool, result)`` dollars (what a hit on them saves).
        Failures are logged and skipped. Returns how many were stored.

        >>> cache = ToolCache(CacheSettings())
        >>> spec = ToolSpec(name="echo")
        >>> _ = cache.lookup(spec, {"x": 1})
        >>> cache.warm(lambda tool, args: args["x"], top_n=5)
        1
        >>> cache.lookup(spec, {"x": 1}).value
        1
        """
        limit = self._settings.warm_top_n if top_n is None else top_n
        warmed = 0
        for tool, args in self._frequency.top(limit):
            spec = self._specs.get(tool)
            if spec is None or not _cacheable(spec):
                continue
            lookup = self._lookup(spec, args, CacheName.TOOL, report=False)
            if lookup.hit:
                continue
            started = time.perf_counter()
            try:
                value = call(tool, args)
            except Exception as exc:  # warming is best effort
                logger.info("cache warming: %s failed (%s: %s); skipped", tool, type(exc).__name__, exc)
                continue
            dollars = cost_of(tool, value) if cost_of is not None else 0.0
            self.store(lookup, value, time.perf_counter() - started, dollars)
            warmed += 1
        with self._stats_lock:
            self._warmed += warmed
        return warmed

    def stats(self) -> dict[str, Any]:
        """Hits, misses, entries and health per layer, plus what hits saved (JSON-ready)."""
        layers: dict[str, dict[str, Any]] = {}
        with self._stats_lock:
            counts = {name: (c.hits, c.misses) for name, c in self._layer_counts.items()}
            totals = {
                "hits": self._hits,
                "misses": self._misses,
                "bypassed": self._bypassed,
                "stores": self._stores,
                "invalidations": self._invalidations,
                "warmed": self._warmed,
                "saved_seconds": round(self._saved_seconds, 6),
                "saved_cost": round(self._saved_cost, 6),
            }
        layers["l0"] = {
            "hits": counts["l0"][0],
            "misses": counts["l0"][1],
            "entries": len(self._l0),
            "errors": 0,
            "degraded": False,
        }
        for layer in self._shared:
            hits, misses = counts[layer.name]
            layers[layer.name] = {
                "hits": hits,
                "misses": misses,
                "entries": layer.entries(),
                "errors": layer.health.errors,
                "degraded": layer.health.degraded,
                "unstorable": layer.unstorable,
            }
        return {
            "layers": layers,
            **totals,
            "tracked_calls": len(self._frequency),
        }

    def close(self) -> None:
        """Close L1/L2 connections. The L0 stays usable."""
        for layer in self._shared:
            layer.close()

    def __enter__(self) -> ToolCache:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _lookup(self, spec: ToolSpec, args: Mapping[str, Any], cache: str, *, report: bool) -> CacheLookup:
        if not (spec.cacheable and spec.ttl_seconds > 0):
            if report:
                with self._stats_lock:
                    self._bypassed += 1
            return CacheLookup(spec, None)
        try:
            call_key = args_key(args)
        except (ValueError, TypeError, RecursionError) as exc:
            # Arguments with no canonical form (cycles, mixed key types) are simply not cached.
            logger.debug("tool %s call not cacheable: %s: %s", spec.name, type(exc).__name__, exc)
            if report:
                with self._stats_lock:
                    self._bypassed += 1
            return CacheLookup(spec, None)
        name = spec.name
        if self._specs.get(name) is not spec:
            self._remember_spec(spec)
        key = (name, self._generations.of(name), call_key)

        entry = self._l0.get(key)
        if entry is not None:
            if report:
                self._hit_l0(spec, args, cache, call_key, entry)
            return CacheLookup(spec, key, True, entry.value, "l0", entry.seconds, cache)

        if report:
            self._frequency.record((name, call_key), name, args)
            self._count_miss(cache, "l0")
        shared_key = None
        if self._shared:
            shared_key = self._shared_key(name, key, args)
            entry, layer_name = self._find_shared(shared_key, key, cache, report=report)
            if entry is not None:
                if report:
                    self._count_hit(spec, cache, layer_name, entry)
                return CacheLookup(spec, key, True, entry.value, layer_name, entry.seconds, cache, shared_key)
        if report:
            with self._stats_lock:
                self._misses += 1
        return CacheLookup(spec, key, cache=cache, shared_key=shared_key, args=args)

    def _hit_l0(
        self, spec: ToolSpec, args: Mapping[str, Any], cache: str, call_key: Hashable, entry: CacheEntry
    ) -> None:
        """Count an L0 hit: popularity (one in ``HIT_SAMPLE``), the stats and the listener."""
        tick = self._hit_tick = (self._hit_tick + 1) & _HIT_SAMPLE_MASK
        if not tick:
            name = spec.name
            self._frequency.record((name, call_key), name, args, weight=HIT_SAMPLE)
        self._count_hit(spec, cache, "l0", entry)

    def _count_hit(self, spec: ToolSpec, cache: str, layer: str, entry: CacheEntry) -> None:
        # One critical section for everything a hit updates: this is the hot path.
        with self._stats_lock:
            self._layer_counts[layer].hits += 1
            self._hits += 1
            self._saved_seconds += entry.seconds
            self._saved_cost += entry.dollars or spec.cost_per_call
        self._listener.cache_looked_up(cache, layer, True)
        self._listener.cache_saved(cache, entry.seconds, entry.dollars)

    @staticmethod
    def _shared_key(name: str, key: Hashable, args: Mapping[str, Any]) -> str:
        """The L1/L2 key: tool, generations and a digest of the canonical arguments (stable across processes)."""
        assert isinstance(key, tuple)
        generations, call_key = key[1], key[2]
        canonical = call_key if isinstance(call_key, str) else canonical_args(args)
        return f"{name}:{'.'.join(map(str, generations))}:{hash_canonical(name, canonical)}"

    def _find_shared(
        self, key: str, l0_key: Hashable, cache: str, *, report: bool
    ) -> tuple[CacheEntry | None, str]:
        for depth, layer in enumerate(self._shared):
            if not layer.health.available():
                continue
            entry = layer.get(key)
            remaining = entry.expires_at - self._clock() if entry is not None else 0.0
            if entry is not None and remaining > 0:
                # Promote with the remaining lifetime, so a promotion never extends it.
                self._put_l0(l0_key, entry, remaining)
                for upper in self._shared[:depth]:
                    upper.set(key, entry, remaining)
                return entry, layer.name
            if report:
                self._count_miss(cache, layer.name)
        return None, ""

    def _count_miss(self, cache: str, layer: str) -> None:
        counts = self._layer_counts[layer]
        with self._stats_lock:
            counts.misses += 1
        self._listener.cache_looked_up(cache, layer, False)

    def _put_l0(self, key: Hashable, entry: CacheEntry, ttl: float) -> None:
        with self._index_lock:
            self._keys_by_tool.setdefault(entry.tool, set()).add(key)
        if not self._l0.set(key, entry, ttl, size=_L0_OVERHEAD + approx_size(key) + approx_size(entry.value)):
            # Refused (larger than the whole L0): not held, so not indexed either (the index would only grow).
            self._forget_l0_key(key, entry)

    def _forget_l0_key(self, key: Hashable, entry: CacheEntry) -> None:
        with self._index_lock:
            keys = self._keys_by_tool.get(entry.tool)
            if keys is not None:
                keys.discard(key)

    def _remember_spec(self, spec: ToolSpec) -> None:
        with self._index_lock:
            previous = self._specs.get(spec.name)
            for tag in previous.cache_tags if previous is not None else ():
                self._tools_by_tag.get(tag, set()).discard(spec.name)
            for tag in spec.cache_tags:
                self._tools_by_tag.setdefault(tag, set()).add(spec.name)
            # The names before the spec: a look-up that finds the spec reads them without the lock.
            self._generations.track(spec.name, spec.cache_tags)
            self._specs[spec.name] = spec
            self._generations.forget(spec.name)


# What an L0 entry costs besides its key and value: the LRU's tuple and node, the entry, the index.
_L0_OVERHEAD: Final = 400


def _cacheable(spec: ToolSpec) -> bool:
    return spec.cacheable and spec.ttl_seconds > 0
