"""The tool cache: L0 in-process LRU → L1 diskcache → L2 Redis (DESIGN §3).

Keys come from canonical arguments: the tool name plus the arguments as
JSON with sorted keys (so ``{"a": 1, "b": 2}`` and ``{"b": 2, "a": 1}`` are
the same call), hashed. Each tool has its own TTL; tools with
``cacheable=False`` (side effects) bypass every layer.

Invalidation is O(1) and works across processes: every key embeds the
current *generation* of the whole cache, of its tool and of each of its
tags. Invalidating bumps one counter (an atomic INCR in Redis, or in the
diskcache directory when there is no Redis), so old keys are simply never
asked for again and expire with their TTL. Other processes pick the new
generation up within ``generation_refresh_seconds`` (one round trip per tool
per period, not per call); this process drops its own L0 entries at once
through a tool → keys index.

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from agent_runtime.config.models import CacheSettings, ToolSpec
from agent_runtime.telemetry.listener import RuntimeListener
from agent_runtime.tools.calls import CallFrequency, call_hash
from agent_runtime.tools.layers import (
    DEFAULT_RETRY_AFTER_SECONDS,
    CacheEntry,
    DiskLayer,
    RedisLayer,
    SharedLayer,
)
from agent_runtime.tools.lru import LRUCache
from agent_runtime.vocabulary import CacheName

logger = logging.getLogger(__name__)

_ALL = "all"


@dataclass(frozen=True)
class CacheLookup:
    """The result of ``ToolCache.lookup``; pass it back to ``store`` on a miss.

    ``key`` is None when the tool bypasses the cache. The key embeds the
    generations current at look-up time, so a result computed while an
    invalidation happened is stored under the old generation, never served
    as fresh.
    """

    spec: ToolSpec
    key: str | None
    hit: bool = False
    value: Any = None
    layer: str | None = None
    saved_seconds: float = 0.0
    cache: str = CacheName.TOOL


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
    look-up).
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
        retry_after_seconds: float = DEFAULT_RETRY_AFTER_SECONDS,
    ) -> None:
        self._settings = settings
        self._listener = listener or RuntimeListener()
        self._clock = clock
        self._refresh = generation_refresh_seconds
        self._l0: LRUCache[str, CacheEntry] = LRUCache(
            settings.l0_max_entries, clock=clock, on_evict=self._forget_l0_key
        )
        shared: list[SharedLayer] = []
        if settings.directory is not None:
            shared.append(
                DiskLayer(
                    settings.directory,
                    size_limit_bytes=settings.l1_size_limit_bytes,
                    retry_after_seconds=retry_after_seconds,
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
                    cache=CacheName.TOOL,
                    listener=self._listener,
                )
            )
        self._shared: tuple[SharedLayer, ...] = tuple(shared)
        # The most shared layer holds the generation counters everyone agrees on.
        self._authority: SharedLayer | None = shared[-1] if shared else None
        self._frequency = CallFrequency(frequency_capacity)

        self._index_lock = threading.Lock()
        self._keys_by_tool: dict[str, set[str]] = {}
        self._tools_by_tag: dict[str, set[str]] = {}
        self._specs: dict[str, ToolSpec] = {}
        self._generation_names: dict[str, tuple[str, ...]] = {}

        self._gen_lock = threading.Lock()
        self._gen_values: dict[str, int] = {}
        self._gen_fetched_at: dict[str, float] = {}
        # Bumps the authority never saw (it was down): kept as a local minimum.
        self._gen_floor: dict[str, int] = {}

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

    def store(self, lookup: CacheLookup, value: Any, seconds: float, dollars: float = 0.0) -> None:
        """Store ``value`` for the missed ``lookup``; ``seconds`` and ``dollars`` are what computing it cost."""
        if lookup.key is None or lookup.hit:
            return
        spec = lookup.spec
        ttl = spec.ttl_seconds
        entry = CacheEntry(spec.name, value, seconds, self._clock() + ttl, dollars)
        self._put_l0(lookup.key, entry, ttl)
        for layer in self._shared:
            layer.set(lookup.key, entry, ttl)
        with self._stats_lock:
            self._stores += 1

    def invalidate(self, tool: str | None = None, tag: str | None = None) -> int:
        """Invalidate one tool's entries, one tag's, or (neither given) everything.

        Returns how many entries were dropped from this process's L0; entries
        in L1/L2 become unreachable at once and expire with their TTL.
        """
        names: list[str] = []
        with self._index_lock:
            tools: set[str] = set()
            if tool is None and tag is None:
                names.append(_ALL)
                tools.update(self._keys_by_tool)
            if tool is not None:
                names.append(f"tool:{tool}")
                tools.add(tool)
            if tag is not None:
                names.append(f"tag:{tag}")
                tools.update(self._tools_by_tag.get(tag, ()))
            keys = [key for name in tools for key in self._keys_by_tool.pop(name, ())]
        for name in names:
            self._bump_generation(name)
        dropped = self._l0.discard_many(keys)
        with self._stats_lock:
            self._invalidations += 1
        return dropped

    def warm(self, call: Callable[[str, Mapping[str, Any]], Any], top_n: int | None = None) -> int:
        """Re-run the ``top_n`` most frequent recorded calls that are not cached.

        ``call(tool, args)`` must run the tool (without consulting this cache)
        and return its result or raise; results are stored with the time they
        took. Failures are logged and skipped. Returns how many were stored.

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
            self.store(lookup, value, time.perf_counter() - started)
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
        if not _cacheable(spec):
            if report:
                with self._stats_lock:
                    self._bypassed += 1
            return CacheLookup(spec, None)
        try:
            digest = call_hash(spec.name, args)
        except (ValueError, TypeError, RecursionError) as exc:
            # Arguments with no canonical form (cycles, mixed key types) are simply not cached.
            logger.debug("tool %s call not cacheable: %s: %s", spec.name, type(exc).__name__, exc)
            if report:
                with self._stats_lock:
                    self._bypassed += 1
            return CacheLookup(spec, None)
        if self._specs.get(spec.name) is not spec:
            self._remember_spec(spec)
        if report:
            self._frequency.record(digest, spec.name, args)
        generations = self._generations(self._generation_names[spec.name])
        key = f"{spec.name}:{'.'.join(map(str, generations))}:{digest}"

        layer_name = "l0"
        entry = self._l0.get(key)
        if entry is None:
            if report:
                self._count_miss(cache, "l0")
            entry, layer_name = self._find_shared(key, cache, report=report)
            if entry is None:
                if report:
                    with self._stats_lock:
                        self._misses += 1
                return CacheLookup(spec, key, cache=cache)
        if report:
            # One critical section for everything a hit updates: this is the hot path.
            with self._stats_lock:
                self._layer_counts[layer_name].hits += 1
                self._hits += 1
                self._saved_seconds += entry.seconds
                self._saved_cost += entry.dollars or spec.cost_per_call
            self._listener.cache_looked_up(cache, layer_name, True)
            self._listener.cache_saved(cache, entry.seconds, entry.dollars)
        return CacheLookup(spec, key, True, entry.value, layer_name, entry.seconds, cache)

    def _find_shared(self, key: str, cache: str, *, report: bool) -> tuple[CacheEntry | None, str]:
        for depth, layer in enumerate(self._shared):
            if not layer.health.available():
                continue
            entry = layer.get(key)
            remaining = entry.expires_at - self._clock() if entry is not None else 0.0
            if entry is not None and remaining > 0:
                # Promote with the remaining lifetime, so a promotion never extends it.
                self._put_l0(key, entry, remaining)
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

    def _put_l0(self, key: str, entry: CacheEntry, ttl: float) -> None:
        with self._index_lock:
            self._keys_by_tool.setdefault(entry.tool, set()).add(key)
        self._l0.set(key, entry, ttl)

    def _forget_l0_key(self, key: str, entry: CacheEntry) -> None:
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
            self._generation_names[spec.name] = (
                _ALL,
                f"tool:{spec.name}",
                *(f"tag:{tag}" for tag in sorted(set(spec.cache_tags))),
            )
            self._specs[spec.name] = spec

    def _generations(self, names: Sequence[str]) -> tuple[int, ...]:
        authority = self._authority
        if authority is not None:
            now = self._clock()
            fetched_at = self._gen_fetched_at
            if any(now - fetched_at.get(name, -float("inf")) >= self._refresh for name in names):
                fetched = authority.generations(names)
                if fetched is not None:
                    with self._gen_lock:
                        for name, value in zip(names, fetched, strict=True):
                            self._gen_values[name] = max(value, self._gen_floor.get(name, 0))
                            self._gen_fetched_at[name] = now
        values = self._gen_values
        return tuple(values.get(name, 0) for name in names)

    def _bump_generation(self, name: str) -> None:
        bumped = self._authority.bump_generation(name) if self._authority is not None else None
        with self._gen_lock:
            local = self._gen_values.get(name, 0) + 1
            if bumped is None:
                # Nobody else will see this bump; never fall back below it here.
                self._gen_floor[name] = local
                self._gen_values[name] = local
            else:
                self._gen_values[name] = max(bumped, self._gen_floor.get(name, 0))
                self._gen_fetched_at[name] = self._clock()


def _cacheable(spec: ToolSpec) -> bool:
    return spec.cacheable and spec.ttl_seconds > 0
