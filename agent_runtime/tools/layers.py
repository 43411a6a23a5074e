"""The shared tool-cache layers: L1 (diskcache, local) and L2 (Redis, shared).

Both layers store ``CacheEntry`` objects under string keys with a TTL and
hold the invalidation *generation counters* (see ``ToolCache``). Neither
ever raises into the caller, and neither stays broken: both are
``ReopeningLayer``s (``agent_runtime.tools.layer_health``: back-off,
re-opening, probing while degraded, health reported on changes).

- L1 also notices, within ``DISK_CHECK_SECONDS``, that its database file
  was removed or replaced (the cache directory deleted and re-created), which
  connections opened before would not report, and re-opens it.
- Entries are stored as JSON text, never pickles
  (``agent_runtime.tools.cache_entries``). A value that is not plain JSON is
  not stored in L1/L2: it stays in L0, is counted per layer (``unstorable``)
  and logged once per tool. An entry that does not decode is a miss.

Example::

    >>> import tempfile
    >>> layer = DiskLayer(tempfile.mkdtemp())
    >>> layer.set("k", CacheEntry("search", {"hits": [1, 2]}, 0.5, expires_at=2e9), 60.0)
    >>> layer.get("k").value
    {'hits': [1, 2]}
    >>> layer.close()
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import diskcache

from agent_runtime.errors import ConfigError
from agent_runtime.telemetry.listener import RuntimeListener
from agent_runtime.tools.cache_entries import (
    CacheEntry,
    JsonOnlyDisk,
    NotJsonError,
    decode_entry,
    encode_entry,
    log_unstorable_once,
)
from agent_runtime.tools.layer_health import (
    DEFAULT_MAX_RETRY_AFTER_SECONDS,
    DEFAULT_RETRY_AFTER_SECONDS,
    LayerHealth,
    ReopeningLayer,
    guarded,
)
from agent_runtime.vocabulary import CacheName

logger = logging.getLogger(__name__)

# SQLite's busy timeout for L1: diskcache's default (60 s) would let a locked
# database stall tool calls; a miss is cheaper than waiting.
DISK_TIMEOUT_SECONDS = 0.5
# How often L1 checks that its database file is still the one it opened.
DISK_CHECK_SECONDS = 1.0

_GENERATION_PREFIX = "gen:"
_PROBE_KEY = "probe"
_DISK_DATABASE = diskcache.core.DBNAME


class SharedLayer(Protocol):
    """What ``ToolCache`` needs from L1 and L2."""

    name: str
    health: LayerHealth
    unstorable: int

    def get(self, key: str) -> CacheEntry | None: ...
    def set(self, key: str, entry: CacheEntry, ttl_seconds: float) -> None: ...
    def generations(self, names: Sequence[str]) -> list[int] | None: ...
    def bump_generation(self, name: str) -> int | None: ...
    def entries(self) -> int | None: ...
    def close(self) -> None: ...


def _encode(layer: DiskLayer | RedisLayer, entry: CacheEntry) -> str | None:
    """``entry`` as JSON text; None, counted on ``layer`` and logged once per tool, when it is not plain JSON."""
    try:
        return encode_entry(entry)
    except NotJsonError as exc:
        layer.unstorable += 1
        log_unstorable_once(layer.name, entry.tool, exc)
        return None


class DiskLayer(ReopeningLayer):
    """L1: a diskcache directory, shared by the processes of one host.

    A directory that cannot be opened, or that breaks later (deleted,
    re-created, unwritable), degrades L1 and is re-opened with back-off;
    re-opening creates it again when it is missing.
    """

    name = "l1"

    def __init__(
        self,
        directory: str,
        *,
        size_limit_bytes: int = 256 * 1024 * 1024,
        retry_after_seconds: float = DEFAULT_RETRY_AFTER_SECONDS,
        max_retry_after_seconds: float = DEFAULT_MAX_RETRY_AFTER_SECONDS,
        cache: str = CacheName.TOOL,
        listener: RuntimeListener | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            cache=cache,
            listener=listener,
            retry_after_seconds=retry_after_seconds,
            max_retry_after_seconds=max_retry_after_seconds,
            clock=clock,
        )
        self.unstorable = 0
        self._directory = directory
        self._size_limit = size_limit_bytes
        self._cache: diskcache.Cache | None = None
        self._database: tuple[int, int] | None = None
        self._checked_at = clock()
        self._start()

    def _open(self) -> None:
        cache = diskcache.Cache(
            self._directory, size_limit=self._size_limit, timeout=DISK_TIMEOUT_SECONDS, disk=JsonOnlyDisk
        )
        self._database = self._database_identity()
        self._cache = cache

    def _discard(self) -> None:
        cache, self._cache = self._cache, None
        if cache is not None:
            try:
                cache.close()
            except Exception:  # closing what broke may fail too
                logger.debug("closing the l1 handle failed", exc_info=True)

    def _ping(self) -> None:
        # A real read of the database (a key nobody writes: tool keys are "tool:generations:digest").
        self._handle().get(_PROBE_KEY)

    def _database_identity(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(os.path.join(self._directory, _DISK_DATABASE))
        except OSError:
            return None
        return stat.st_dev, stat.st_ino

    def _ready(self) -> bool:
        now = self._clock()
        if now - self._checked_at >= DISK_CHECK_SECONDS:
            self._checked_at = now
            if self._cache is not None and self._database_identity() != self._database:
                return self._reopen_replaced()
        return super()._ready()

    def _reopen_replaced(self) -> bool:
        """The database file was removed or replaced under us: connections opened before would
        keep using the deleted file, or fail with "no such table". Re-open it at once."""
        with self._open_lock:
            if self._cache is not None and self._database_identity() == self._database:
                return self.health.available()  # another thread re-opened it already
            self._opened_at_errors = self.health.errors
            try:
                self._discard()
                self._open()
            except Exception as exc:
                self.health.failed("re-open", exc)
                return False
        logger.info("tool cache l1: %s was removed or replaced; re-opened it", self._directory)
        self.health.succeeded()  # a fresh database: usable now, even during a back-off
        self.health.clear_backoff()
        return True

    def _handle(self) -> diskcache.Cache:
        if self._cache is None:
            raise RuntimeError("the l1 cache directory is not open")
        return self._cache

    def get(self, key: str) -> CacheEntry | None:
        """The entry under ``key`` or None (a miss, or L1 unavailable)."""
        return decode_entry(self._get_text(key))

    def set(self, key: str, entry: CacheEntry, ttl_seconds: float) -> None:
        """Store ``entry`` for ``ttl_seconds`` (not at all when its value is not plain JSON)."""
        text = _encode(self, entry)
        if text is not None:
            self._set_text(key, text, ttl_seconds)

    @guarded("get")
    def _get_text(self, key: str) -> Any:
        return self._handle().get(key)

    @guarded("set")
    def _set_text(self, key: str, text: str, ttl_seconds: float) -> None:
        self._handle().set(key, text, expire=ttl_seconds)

    @guarded("read generations")
    def generations(self, names: Sequence[str]) -> list[int]:
        """The current generation of each name (0 if never bumped), or None when down."""
        cache = self._handle()
        return [int(cache.get(_GENERATION_PREFIX + name, default=0)) for name in names]

    @guarded("invalidate")
    def bump_generation(self, name: str) -> int:
        """Atomically increment a generation (across processes); the new value or None."""
        return int(self._handle().incr(_GENERATION_PREFIX + name, default=0))

    @guarded("count")
    def entries(self) -> int:
        """Items stored (entries and generation counters), or None when unavailable."""
        return len(self._handle())


class RedisLayer(ReopeningLayer):
    """L2: Redis, shared by every process pointed at it.

    The ``redis`` package is optional (``pip install 'agent-runtime[redis]'``)
    and imported only when a ``redis_url`` is configured. Creating the layer
    does not connect; the first operation does. After a failure the client
    is rebuilt (a new connection pool) before the next attempt.
    """

    name = "l2"

    def __init__(
        self,
        url: str,
        *,
        timeout_seconds: float = 0.25,
        namespace: str = "agent_runtime:tool_cache:",
        retry_after_seconds: float = DEFAULT_RETRY_AFTER_SECONDS,
        max_retry_after_seconds: float = DEFAULT_MAX_RETRY_AFTER_SECONDS,
        cache: str = CacheName.TOOL,
        listener: RuntimeListener | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        try:
            import redis
        except ImportError:
            raise ConfigError(
                "cache.redis_url",
                "is set but the optional 'redis' package is not installed: pip install 'agent-runtime[redis]'",
            ) from None
        super().__init__(
            cache=cache,
            listener=listener,
            retry_after_seconds=retry_after_seconds,
            max_retry_after_seconds=max_retry_after_seconds,
            clock=clock,
        )
        self.unstorable = 0
        self._redis = redis
        self._url = url
        self._timeout = timeout_seconds
        self._namespace = namespace
        self._client: Any = None
        try:
            self._open()  # builds the client only (no connection): what fails here is the URL
        except ValueError as exc:
            raise ConfigError("cache.redis_url", f"is not a valid Redis URL: {exc}") from None
        self.health.report_up()

    def _open(self) -> None:
        self._client = self._redis.Redis.from_url(
            self._url, socket_timeout=self._timeout, socket_connect_timeout=self._timeout
        )

    def _discard(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:
                logger.debug("closing the l2 client failed", exc_info=True)

    def _handle(self) -> Any:
        if self._client is None:
            raise RuntimeError("the l2 client is not open")
        return self._client

    def _ping(self) -> None:
        self._handle().ping()

    def get(self, key: str) -> CacheEntry | None:
        """The entry under ``key`` or None (a miss, or Redis unavailable)."""
        return decode_entry(self._get_bytes(key))

    def set(self, key: str, entry: CacheEntry, ttl_seconds: float) -> None:
        """Store ``entry`` for ``ttl_seconds`` (at least one millisecond; not at all when not plain JSON)."""
        text = _encode(self, entry)
        if text is not None:
            self._set_bytes(key, text.encode("utf-8"), ttl_seconds)

    @guarded("get")
    def _get_bytes(self, key: str) -> Any:
        return self._handle().get(self._namespace + key)

    @guarded("set")
    def _set_bytes(self, key: str, payload: bytes, ttl_seconds: float) -> None:
        self._handle().set(self._namespace + key, payload, px=max(1, int(ttl_seconds * 1000)))

    @guarded("read generations")
    def generations(self, names: Sequence[str]) -> list[int]:
        """The current generation of each name in one round trip, or None when down."""
        values = self._handle().mget([self._namespace + _GENERATION_PREFIX + name for name in names])
        return [int(value) if value is not None else 0 for value in values]

    @guarded("invalidate")
    def bump_generation(self, name: str) -> int:
        """Atomically increment a generation (INCR); the new value or None when down."""
        return int(self._handle().incr(self._namespace + _GENERATION_PREFIX + name))

    def entries(self) -> int | None:
        """Not counted: the Redis may hold other data, and SCAN is not free."""
        return None
