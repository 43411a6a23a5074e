"""The shared tool-cache layers: L1 (diskcache, local) and L2 (Redis, shared).

Both layers store ``CacheEntry`` objects under string keys with a TTL and
hold the invalidation *generation counters* (see ``ToolCache``). Neither
ever raises into the caller: a failing operation is counted, the layer is
skipped for ``retry_after_seconds`` and the outage is logged once (DESIGN
§7); the first success after an outage logs the recovery.

Values are pickled (diskcache does so itself; Redis gets ``pickle`` bytes),
so point ``redis_url`` only at a Redis you trust, as with any shared pickle
cache.

Example::

    >>> import tempfile
    >>> layer = DiskLayer(tempfile.mkdtemp())
    >>> layer.set("k", CacheEntry("search", 42, 0.5, expires_at=2e9), 60.0)
    >>> layer.get("k").value
    42
    >>> layer.close()
"""

from __future__ import annotations

import logging
import pickle
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import diskcache

from agent_runtime.errors import ConfigError

logger = logging.getLogger(__name__)

# How long a failing layer is skipped before it is tried again: an unreachable
# Redis then costs one connect timeout per period, not one per call.
DEFAULT_RETRY_AFTER_SECONDS = 5.0
# SQLite's busy timeout for L1: diskcache's default (60 s) would let a locked
# database stall tool calls; a miss is cheaper than waiting.
DISK_TIMEOUT_SECONDS = 0.5

_GENERATION_PREFIX = "gen:"


@dataclass(frozen=True)
class CacheEntry:
    """A cached tool result with what it cost to compute.

    ``seconds`` is the original call's duration (what a hit saves);
    ``expires_at`` is wall-clock time, so a promoted entry keeps its
    remaining lifetime instead of a fresh TTL.
    """

    tool: str
    value: Any
    seconds: float
    expires_at: float


class SharedLayer(Protocol):
    """What ``ToolCache`` needs from L1 and L2."""

    name: str
    health: LayerHealth

    def get(self, key: str) -> CacheEntry | None: ...
    def set(self, key: str, entry: CacheEntry, ttl_seconds: float) -> None: ...
    def generations(self, names: Sequence[str]) -> list[int] | None: ...
    def bump_generation(self, name: str) -> int | None: ...
    def entries(self) -> int | None: ...
    def close(self) -> None: ...


class LayerHealth:
    """Failure bookkeeping for one layer: count, skip for a while, log once.

    ``available()`` is False for ``retry_after_seconds`` after a failure.
    ``disable()`` marks the layer permanently unusable (e.g. a cache
    directory that cannot be opened).
    """

    def __init__(
        self,
        layer: str,
        *,
        retry_after_seconds: float = DEFAULT_RETRY_AFTER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.layer = layer
        self._retry_after = retry_after_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._failing = False
        self._disabled = False
        self.errors = 0

    def available(self) -> bool:
        """True when the layer should be tried now."""
        return not self._disabled and self._clock() >= self._down_until

    @property
    def degraded(self) -> bool:
        """True while the last operation failed or the layer is disabled."""
        return self._failing or self._disabled

    def failed(self, operation: str, exc: BaseException) -> None:
        """Record a failure; logs only on the transition from healthy."""
        with self._lock:
            self.errors += 1
            self._down_until = self._clock() + self._retry_after
            first = not self._failing
            self._failing = True
        if first:
            logger.warning(
                "tool cache %s degraded (%s failed: %s: %s); calls continue without it, retrying every %.0fs",
                self.layer,
                operation,
                type(exc).__name__,
                exc,
                self._retry_after,
            )

    def disable(self, reason: str) -> None:
        """Turn the layer off for good, logging why once."""
        with self._lock:
            self.errors += 1
            self._disabled = True
            self._failing = True
        logger.warning("tool cache %s disabled: %s; calls continue without it", self.layer, reason)

    def succeeded(self) -> None:
        """Record a success; logs the recovery after an outage."""
        if self._failing and not self._disabled:
            with self._lock:
                recovered, self._failing = self._failing, False
            if recovered:
                logger.info("tool cache %s recovered", self.layer)


class DiskLayer:
    """L1: a diskcache directory, shared by the processes of one host."""

    name = "l1"

    def __init__(
        self,
        directory: str,
        *,
        size_limit_bytes: int = 256 * 1024 * 1024,
        retry_after_seconds: float = DEFAULT_RETRY_AFTER_SECONDS,
    ) -> None:
        self.health = LayerHealth(self.name, retry_after_seconds=retry_after_seconds)
        self._cache: diskcache.Cache | None = None
        try:
            self._cache = diskcache.Cache(directory, size_limit=size_limit_bytes, timeout=DISK_TIMEOUT_SECONDS)
        except Exception as exc:  # any failure to open degrades L1 only
            self.health.disable(f"cannot open cache directory {directory!r}: {type(exc).__name__}: {exc}")

    def get(self, key: str) -> CacheEntry | None:
        """The entry under ``key`` or None (also when L1 is unavailable)."""
        if self._cache is None or not self.health.available():
            return None
        try:
            value = self._cache.get(key)
        except Exception as exc:  # SQLite/disk errors degrade the layer
            self.health.failed("get", exc)
            return None
        self.health.succeeded()
        return value if isinstance(value, CacheEntry) else None

    def set(self, key: str, entry: CacheEntry, ttl_seconds: float) -> None:
        """Store ``entry`` for ``ttl_seconds``."""
        if self._cache is None or not self.health.available():
            return
        try:
            self._cache.set(key, entry, expire=ttl_seconds)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            # The result cannot be pickled: not a fault of the layer.
            logger.debug("tool %s result not stored in l1: %s", entry.tool, exc)
        except Exception as exc:
            self.health.failed("set", exc)
        else:
            self.health.succeeded()

    def generations(self, names: Sequence[str]) -> list[int] | None:
        """The current generation of each name (0 if never bumped), or None when down."""
        if self._cache is None or not self.health.available():
            return None
        try:
            values = [self._cache.get(_GENERATION_PREFIX + name, default=0) for name in names]
        except Exception as exc:
            self.health.failed("read generations", exc)
            return None
        self.health.succeeded()
        return [int(value) for value in values]

    def bump_generation(self, name: str) -> int | None:
        """Atomically increment a generation (across processes); the new value or None."""
        if self._cache is None or not self.health.available():
            return None
        try:
            value = self._cache.incr(_GENERATION_PREFIX + name, default=0)
        except Exception as exc:
            self.health.failed("invalidate", exc)
            return None
        self.health.succeeded()
        return int(value)

    def entries(self) -> int | None:
        """Items stored (entries and generation counters), or None when unavailable."""
        if self._cache is None:
            return None
        try:
            return len(self._cache)
        except Exception as exc:
            self.health.failed("count", exc)
            return None

    def close(self) -> None:
        """Close the SQLite connections."""
        if self._cache is not None:
            self._cache.close()


class RedisLayer:
    """L2: Redis, shared by every process pointed at it.

    The ``redis`` package is optional (``pip install 'agent-runtime[redis]'``)
    and imported only when a ``redis_url`` is configured. Creating the layer
    does not connect; the first operation does.
    """

    name = "l2"

    def __init__(
        self,
        url: str,
        *,
        timeout_seconds: float = 0.25,
        namespace: str = "agent_runtime:tool_cache:",
        retry_after_seconds: float = DEFAULT_RETRY_AFTER_SECONDS,
    ) -> None:
        try:
            import redis
        except ImportError:
            raise ConfigError(
                "cache.redis_url",
                "is set but the optional 'redis' package is not installed: pip install 'agent-runtime[redis]'",
            ) from None
        self.health = LayerHealth(self.name, retry_after_seconds=retry_after_seconds)
        self._namespace = namespace
        self._client = redis.Redis.from_url(url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds)

    def get(self, key: str) -> CacheEntry | None:
        """The entry under ``key`` or None (also when Redis is unavailable)."""
        if not self.health.available():
            return None
        try:
            raw = self._client.get(self._namespace + key)
        except Exception as exc:  # connection/timeout errors degrade L2
            self.health.failed("get", exc)
            return None
        self.health.succeeded()
        if not isinstance(raw, bytes):
            return None
        try:
            value = pickle.loads(raw)  # the Redis is trusted configuration
        except Exception:  # a value from another version: treat as a miss
            return None
        return value if isinstance(value, CacheEntry) else None

    def set(self, key: str, entry: CacheEntry, ttl_seconds: float) -> None:
        """Store ``entry`` for ``ttl_seconds`` (at least one millisecond)."""
        if not self.health.available():
            return
        try:
            payload = pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # an unpicklable result is simply not shared
            logger.debug("tool %s result not stored in l2: %s", entry.tool, exc)
            return
        try:
            self._client.set(self._namespace + key, payload, px=max(1, int(ttl_seconds * 1000)))
        except Exception as exc:
            self.health.failed("set", exc)
        else:
            self.health.succeeded()

    def generations(self, names: Sequence[str]) -> list[int] | None:
        """The current generation of each name in one round trip, or None when down."""
        if not self.health.available():
            return None
        try:
            values = self._client.mget([self._namespace + _GENERATION_PREFIX + name for name in names])
        except Exception as exc:
            self.health.failed("read generations", exc)
            return None
        self.health.succeeded()
        return [int(value) if value is not None else 0 for value in values]

    def bump_generation(self, name: str) -> int | None:
        """Atomically increment a generation (INCR); the new value or None when down."""
        if not self.health.available():
            return None
        try:
            value = self._client.incr(self._namespace + _GENERATION_PREFIX + name)
        except Exception as exc:
            self.health.failed("invalidate", exc)
            return None
        self.health.succeeded()
        return int(value)

    def entries(self) -> int | None:
        """Not counted: the Redis may hold other data, and SCAN is not free."""
        return None

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()
