"""The shared tool-cache layers: L1 (diskcache, local) and L2 (Redis, shared).

Both layers store ``CacheEntry`` objects under string keys with a TTL and
hold the invalidation *generation counters* (see ``ToolCache``). Neither
ever raises into the caller, and neither stays broken:

- every operation runs through one guard (``_guarded``): a layer in its
  back-off period is skipped; the first attempt after a failure re-opens
  the layer (a new diskcache handle, a new Redis client) before trying; a
  failure is counted and backs the layer off exponentially, from
  ``retry_after_seconds`` doubling up to ``max_retry_after_seconds``
  (``cache.layer_initial_backoff_seconds`` and
  ``cache.layer_max_backoff_seconds``); a success resets the back-off;
- while a layer is degraded it also probes itself: a thread of its own
  wakes when the back-off expires, re-opens the layer and makes one cheap
  read (``_ping``) through the same guard, and ends once the layer is up
  (or closed). A process that gets no calls after an outage so still
  reports the recovery, and a healthy layer runs no thread at all. The
  prober is started where the failure happens; a process forked while a
  layer is degraded starts its own (threads do not survive ``fork``);
- the outage is logged once and the recovery once (docs/security.md), and both
  are reported to the listener as ``cache_layer_changed(cache, layer, up)``
  (``agent_runtime_cache_layer_up``): up when the layer is built, down when
  it degrades, up again when it recovers, only on changes;
- L1 also notices, within ``DISK_CHECK_SECONDS``, that its database file
  was removed or replaced (the cache directory deleted and re-created), which
  connections opened before would not report, and re-opens it.

Values are JSON, never pickles: an entry is stored as the JSON text of
``{"v": 1, "tool", "value", "seconds", "expires_at", "dollars"}``, in Redis
as UTF-8 bytes and in diskcache as text (with a ``diskcache.Disk`` that
refuses to pickle or unpickle anything), so whoever can write to the Redis
or the cache directory can change cached results but cannot run code in a
worker. A value that is not plain JSON (dict with string keys, list, tuple,
str, int, finite float, bool, None; tuples come back as lists) is not
stored in L1/L2: it stays in L0, is counted per layer (``unstorable``) and
logged once per tool. An entry that does not decode is a miss.

Example::

    >>> import tempfile
    >>> layer = DiskLayer(tempfile.mkdtemp())
    >>> layer.set("k", CacheEntry("search", {"hits": [1, 2]}, 0.5, expires_at=2e9), 60.0)
    >>> layer.get("k").value
    {'hits': [1, 2]}
    >>> layer.close()
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Concatenate, Final, ParamSpec, Protocol, TypeVar

import diskcache
from diskcache.core import MODE_PICKLE, UNKNOWN

from agent_runtime.config.models import CacheSettings
from agent_runtime.errors import ConfigError
from agent_runtime.telemetry.listener import RuntimeListener
from agent_runtime.vocabulary import CacheName

logger = logging.getLogger(__name__)

# How long a failing layer is first skipped before it is re-opened and tried
# again: an unreachable Redis then costs one connect timeout per period, not
# one per call. Each further failure doubles the period, up to the maximum.
# The configuration's defaults, so the two cannot drift apart.
DEFAULT_RETRY_AFTER_SECONDS: Final = CacheSettings.layer_initial_backoff_seconds
DEFAULT_MAX_RETRY_AFTER_SECONDS: Final = CacheSettings.layer_max_backoff_seconds
# The shortest wait between two probes: a zero back-off (re-try on every
# call) must not turn a degraded layer's prober into a busy loop.
MIN_PROBE_SECONDS = 0.05
# SQLite's busy timeout for L1: diskcache's default (60 s) would let a locked
# database stall tool calls; a miss is cheaper than waiting.
DISK_TIMEOUT_SECONDS = 0.5
# How often L1 checks that its database file is still the one it opened.
DISK_CHECK_SECONDS = 1.0
# The version of the JSON entry format ("v").
ENTRY_FORMAT: Final = 1

_GENERATION_PREFIX = "gen:"
_PROBE_KEY = "probe"
_DISK_DATABASE = diskcache.core.DBNAME
_MAX_LOGGED_TOOLS = 1024


@dataclass(frozen=True)
class CacheEntry:
    """A cached tool result with what it cost to compute.

    ``seconds`` is the original call's duration and ``dollars`` its model
    cost (what a hit saves);
    ``expires_at`` is wall-clock time, so a promoted entry keeps its
    remaining lifetime instead of a fresh TTL.
    """

    tool: str
    value: Any
    seconds: float
    expires_at: float
    dollars: float = 0.0


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


# --- the entry format: JSON only -------------------------------------------------------------------


class NotJsonError(ValueError):
    """A value has no exact JSON form (it is not stored in L1/L2)."""


def _check_json(value: Any, depth: int = 0) -> None:
    """Raise ``NotJsonError`` unless ``value`` is plain JSON (tuples allowed, as arrays)."""
    if depth > 200:
        raise NotJsonError("nested too deeply")
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NotJsonError(f"{value} is not a finite number")
        return
    if isinstance(value, list | tuple):
        for item in value:
            _check_json(item, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise NotJsonError(f"a {type(key).__name__} dict key is not a JSON object key")
            _check_json(item, depth + 1)
        return
    raise NotJsonError(f"{type(value).__name__} is not a JSON type")


def encode_entry(entry: CacheEntry) -> str:
    """``entry`` as JSON text; ``NotJsonError`` when its value is not plain JSON."""
    _check_json(entry.value)
    document = {
        "v": ENTRY_FORMAT,
        "tool": entry.tool,
        "value": entry.value,
        "seconds": entry.seconds,
        "expires_at": entry.expires_at,
        "dollars": entry.dollars,
    }
    try:
        return json.dumps(document, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    except (ValueError, TypeError, RecursionError) as exc:
        raise NotJsonError(str(exc)) from None


def decode_entry(data: str | bytes | None) -> CacheEntry | None:
    """The entry encoded in ``data``, or None for anything else (old pickles, garbage, other formats)."""
    if not isinstance(data, str | bytes):
        return None
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(document, dict) or document.get("v") != ENTRY_FORMAT:
        return None
    tool = document.get("tool")
    numbers = [document.get(name) for name in ("seconds", "expires_at", "dollars")]
    if not isinstance(tool, str) or "value" not in document:
        return None
    if not all(isinstance(n, int | float) and not isinstance(n, bool) for n in numbers):
        return None
    seconds, expires_at, dollars = (float(n) for n in numbers)  # type: ignore[arg-type]
    return CacheEntry(tool, document["value"], seconds, expires_at, dollars)


_logged_tools: set[str] = set()
_logged_lock = threading.Lock()


def _log_unstorable_once(layer: str, tool: str, exc: Exception) -> None:
    with _logged_lock:
        if tool in _logged_tools or len(_logged_tools) >= _MAX_LOGGED_TOOLS:
            return
        _logged_tools.add(tool)
    logger.info(
        "tool %s returns values that are not plain JSON (%s); they are cached in l0 only, not in %s",
        tool,
        exc,
        layer,
    )


class _JsonOnlyDisk(diskcache.Disk):  # type: ignore[misc]
    """A diskcache ``Disk`` that stores text and integers only and never unpickles.

    A row written with pickle (by an older version, or by someone with write
    access to the directory) reads as None, which the layer treats as a miss.
    """

    def put(self, key: Any) -> Any:
        if type(key) is not str:
            raise TypeError("the tool cache's L1 keys are strings")
        return super().put(key)

    def get(self, key: Any, raw: bool) -> Any:
        if not raw:
            raise ValueError("pickled keys are not read")
        return super().get(key, raw)

    def store(self, value: Any, read: bool, key: Any = UNKNOWN) -> Any:
        if read or type(value) not in (str, int):
            raise TypeError("the tool cache's L1 stores JSON text and integer counters only")
        return super().store(value, read, key=key)

    def fetch(self, mode: int, filename: Any, value: Any, read: bool) -> Any:
        if mode == MODE_PICKLE:
            return None
        return super().fetch(mode, filename, value, read)


# --- health: back-off, log once, report changes -----------------------------------------------------


class LayerHealth:
    """Failure bookkeeping for one layer: count, back off exponentially, log and report changes once.

    ``available()`` is False for the current back-off period after a
    failure: ``retry_after_seconds``, doubled by each further failure up to
    ``max_retry_after_seconds``, reset by a success. ``on_change(up)`` is
    called on each change of state (and by ``report_up`` once built).
    """

    def __init__(
        self,
        layer: str,
        *,
        retry_after_seconds: float = DEFAULT_RETRY_AFTER_SECONDS,
        max_retry_after_seconds: float = DEFAULT_MAX_RETRY_AFTER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self.layer = layer
        self._retry_after = retry_after_seconds
        self._max_retry_after = max(retry_after_seconds, max_retry_after_seconds)
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._failing = False
        self._consecutive = 0
        self.errors = 0

    def available(self) -> bool:
        """True when the layer should be tried now."""
        return self._clock() >= self._down_until

    def seconds_until_available(self) -> float:
        """How long the current back-off period still runs (0 when the layer may be tried now)."""
        return max(0.0, self._down_until - self._clock())

    @property
    def degraded(self) -> bool:
        """True while the last operation failed."""
        return self._failing

    @property
    def backoff_seconds(self) -> float:
        """The back-off period the next failure would start."""
        with self._lock:
            return self._backoff(self._consecutive + 1)

    def _backoff(self, failures: int) -> float:
        return min(self._retry_after * float(2 ** min(failures - 1, 32)), self._max_retry_after)

    def report_up(self) -> None:
        """Say the layer is up (it was just built)."""
        self._notify(True)

    def failed(self, operation: str, exc: BaseException) -> None:
        """Record a failure and back off; logs and reports only on the change from healthy."""
        with self._lock:
            self.errors += 1
            self._consecutive += 1
            backoff = self._backoff(self._consecutive)
            self._down_until = self._clock() + backoff
            first = not self._failing
            self._failing = True
        if first:
            logger.warning(
                "tool cache %s degraded (%s failed: %s: %s); calls continue without it, "
                "re-opening it with back-off from %gs to %gs",
                self.layer,
                operation,
                type(exc).__name__,
                exc,
                backoff,
                self._max_retry_after,
            )
            self._notify(False)

    def clear_backoff(self) -> None:
        """Make the layer available at once (it was just re-opened successfully)."""
        with self._lock:
            self._down_until = 0.0

    def succeeded(self) -> None:
        """Record a success; logs and reports the recovery after an outage."""
        if not self._failing and not self._consecutive:
            return  # the hot path: healthy, nothing to update
        with self._lock:
            recovered, self._failing = self._failing, False
            self._consecutive = 0
        if recovered:
            logger.info("tool cache %s recovered", self.layer)
            self._notify(True)

    def reset_lock_after_fork(self) -> None:
        """In a forked child: a thread of the parent may have held the lock when it forked."""
        self._lock = threading.Lock()

    def _notify(self, up: bool) -> None:
        if self._on_change is None:
            return
        try:
            self._on_change(up)
        except Exception:  # a listener must not break the cache
            logger.exception("reporting tool cache %s %s failed", self.layer, "up" if up else "down")


_L = TypeVar("_L", bound="_ReopeningLayer")
_P = ParamSpec("_P")
_R = TypeVar("_R")


def _guarded(
    operation: str,
) -> Callable[[Callable[Concatenate[_L, _P], _R]], Callable[Concatenate[_L, _P], _R | None]]:
    """The one place a layer operation is tried: skip while backing off, re-open after a
    failure, count a failure, record a success. The operation answers None when skipped or failed.
    """

    def decorate(method: Callable[Concatenate[_L, _P], _R]) -> Callable[Concatenate[_L, _P], _R | None]:
        def guarded(self: _L, /, *args: _P.args, **kwargs: _P.kwargs) -> _R | None:
            if not self._ready():
                return None
            try:
                result = method(self, *args, **kwargs)
            except Exception as exc:  # connection, timeout, SQLite and disk errors degrade the layer
                self.health.failed(operation, exc)
                return None
            self.health.succeeded()
            return result

        functools.update_wrapper(guarded, method)
        return guarded

    return decorate


class _ReopeningLayer:
    """What L1 and L2 share: health reported to a listener, re-opening after failures, JSON entries."""

    name = ""

    def __init__(
        self,
        *,
        cache: str,
        listener: RuntimeListener | None,
        retry_after_seconds: float,
        max_retry_after_seconds: float,
        clock: Callable[[], float],
    ) -> None:
        self._reporter = listener or RuntimeListener()
        self._cache_name = cache
        self.health = LayerHealth(
            self.name,
            retry_after_seconds=retry_after_seconds,
            max_retry_after_seconds=max_retry_after_seconds,
            clock=clock,
            on_change=self._health_changed,
        )
        self.unstorable = 0
        self._clock = clock
        self._open_lock = threading.Lock()
        # health.errors when the layer was last (re-)opened: a failure since means "re-open first".
        self._opened_at_errors = 0
        # The prober runs only while the layer is degraded; _probe_lock orders its start and end.
        self._probe_lock = threading.Lock()
        self._prober: threading.Thread | None = None
        self._closing = threading.Event()

    def _open(self) -> None:
        """Open the handle (first time and every re-open); raise when that fails."""
        raise NotImplementedError

    def _discard(self) -> None:
        """Drop the current handle, ignoring errors (it may be what broke)."""
        raise NotImplementedError

    def _ping(self) -> None:
        """One cheap real operation on the open handle; raise when it fails."""
        raise NotImplementedError

    @_guarded("probe")
    def _probe(self) -> None:
        self._ping()

    def close(self) -> None:
        """Stop probing (waiting for a probe in flight, which the layer's timeouts bound) and release the handle."""
        with self._probe_lock:
            self._closing.set()
            prober = self._end_probing()
        if prober is not None:
            prober.join()
        self._discard()

    def _health_changed(self, up: bool) -> None:
        if not up:
            self._start_probing()
        self._reporter.cache_layer_changed(self._cache_name, self.name, up)

    def _start_probing(self) -> None:
        with self._probe_lock:
            if self._prober is not None or self._closing.is_set():
                return
            # A weak reference: a layer dropped without close() ends its prober at the next wake-up.
            self._prober = threading.Thread(
                target=_probe_while_degraded,
                args=(weakref.ref(self), self._closing),
                name=f"tool-cache-{self.name}-probe",
                daemon=True,
            )
            self._prober.start()
            _probers.add(self)

    def _next_probe_in(self) -> float | None:
        """Seconds until the prober's next probe, or None when it must end (the layer is up, or closed)."""
        with self._probe_lock:
            if self._closing.is_set() or not self.health.degraded:
                self._end_probing()
                return None
        return max(self.health.seconds_until_available(), MIN_PROBE_SECONDS)

    def _end_probing(self) -> threading.Thread | None:
        """Forget the prober (under ``_probe_lock``); the thread it was."""
        prober, self._prober = self._prober, None
        _probers.discard(self)
        return prober

    def _restart_probing_after_fork(self) -> None:
        """In a forked child: the prober did not survive the fork and may have held these locks."""
        self._open_lock = threading.Lock()
        self._probe_lock = threading.Lock()
        self.health.reset_lock_after_fork()
        self._closing = threading.Event()
        self._prober = None
        if self.health.degraded:
            self._start_probing()

    def _start(self) -> None:
        """Open for the first time: up when it works, degraded (and retried later) when it does not."""
        try:
            self._open()
        except Exception as exc:  # the next attempt, after the back-off, opens it again
            self.health.failed("open", exc)
        else:
            self.health.report_up()

    def _ready(self) -> bool:
        """True when an operation may run now; re-opens first after a failure."""
        if not self.health.available():
            return False
        if self.health.errors != self._opened_at_errors:
            with self._open_lock:
                if self.health.errors != self._opened_at_errors:
                    self._opened_at_errors = self.health.errors
                    try:
                        self._discard()
                        self._open()
                    except Exception as exc:  # counted: the next attempt re-opens again
                        self.health.failed("re-open", exc)
                        return False
        return True

    def _encode(self, entry: CacheEntry) -> str | None:
        try:
            return encode_entry(entry)
        except NotJsonError as exc:
            self.unstorable += 1
            _log_unstorable_once(self.name, entry.tool, exc)
            return None


class DiskLayer(_ReopeningLayer):
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
        self._directory = directory
        self._size_limit = size_limit_bytes
        self._cache: diskcache.Cache | None = None
        self._database: tuple[int, int] | None = None
        self._checked_at = clock()
        self._start()

    def _open(self) -> None:
        cache = diskcache.Cache(
            self._directory, size_limit=self._size_limit, timeout=DISK_TIMEOUT_SECONDS, disk=_JsonOnlyDisk
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
        text = self._encode(entry)
        if text is not None:
            self._set_text(key, text, ttl_seconds)

    @_guarded("get")
    def _get_text(self, key: str) -> Any:
        return self._handle().get(key)

    @_guarded("set")
    def _set_text(self, key: str, text: str, ttl_seconds: float) -> None:
        self._handle().set(key, text, expire=ttl_seconds)

    @_guarded("read generations")
    def generations(self, names: Sequence[str]) -> list[int]:
        """The current generation of each name (0 if never bumped), or None when down."""
        cache = self._handle()
        return [int(cache.get(_GENERATION_PREFIX + name, default=0)) for name in names]

    @_guarded("invalidate")
    def bump_generation(self, name: str) -> int:
        """Atomically increment a generation (across processes); the new value or None."""
        return int(self._handle().incr(_GENERATION_PREFIX + name, default=0))

    @_guarded("count")
    def entries(self) -> int:
        """Items stored (entries and generation counters), or None when unavailable."""
        return len(self._handle())


class RedisLayer(_ReopeningLayer):
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
        text = self._encode(entry)
        if text is not None:
            self._set_bytes(key, text.encode("utf-8"), ttl_seconds)

    @_guarded("get")
    def _get_bytes(self, key: str) -> Any:
        return self._handle().get(self._namespace + key)

    @_guarded("set")
    def _set_bytes(self, key: str, payload: bytes, ttl_seconds: float) -> None:
        self._handle().set(self._namespace + key, payload, px=max(1, int(ttl_seconds * 1000)))

    @_guarded("read generations")
    def generations(self, names: Sequence[str]) -> list[int]:
        """The current generation of each name in one round trip, or None when down."""
        values = self._handle().mget([self._namespace + _GENERATION_PREFIX + name for name in names])
        return [int(value) if value is not None else 0 for value in values]

    @_guarded("invalidate")
    def bump_generation(self, name: str) -> int:
        """Atomically increment a generation (INCR); the new value or None when down."""
        return int(self._handle().incr(self._namespace + _GENERATION_PREFIX + name))

    def entries(self) -> int | None:
        """Not counted: the Redis may hold other data, and SCAN is not free."""
        return None


class _Probers:
    """The layers whose prober runs in this process: a forked child has to start them again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._layers: weakref.WeakSet[_ReopeningLayer] = weakref.WeakSet()

    def add(self, layer: _ReopeningLayer) -> None:
        with self._lock:
            self._layers.add(layer)

    def discard(self, layer: _ReopeningLayer) -> None:
        with self._lock:
            self._layers.discard(layer)

    def restart_after_fork(self) -> None:
        self._lock = threading.Lock()  # a thread of the parent may have held it
        layers = list(self._layers)
        self._layers.clear()
        for layer in layers:
            layer._restart_probing_after_fork()


_probers = _Probers()


def _probe_while_degraded(layer_ref: weakref.ref[_ReopeningLayer], closing: threading.Event) -> None:
    """The prober: wait out the back-off, probe, repeat until the layer is up, closed or gone."""
    while True:
        layer = layer_ref()
        delay = None if layer is None else layer._next_probe_in()
        del layer  # no strong reference while waiting
        if delay is None or closing.wait(delay):
            return
        layer = layer_ref()
        if layer is None:
            return
        layer._probe()
        del layer


os.register_at_fork(after_in_child=_probers.restart_after_fork)
