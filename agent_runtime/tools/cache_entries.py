"""The tool cache's entries and their JSON wire format, shared by L1 and L2.

A ``CacheEntry`` is a tool result with what it cost to compute. Values are
JSON, never pickles: an entry is stored as the JSON text of
``{"v": 1, "tool", "value", "seconds", "expires_at", "dollars"}``, in Redis
as UTF-8 bytes and in diskcache as text (with ``JsonOnlyDisk``, a
``diskcache.Disk`` that refuses to pickle or unpickle anything), so whoever
can write to the Redis or the cache directory can change cached results but
cannot run code in a worker. A value that is not plain JSON (dict with string
keys, list, tuple, str, int, finite float, bool, None; tuples come back as
lists) has no encoding (``NotJsonError``): the layers keep it out of L1/L2
(``agent_runtime.tools.layers``), and it is logged once per tool
(``log_unstorable_once``). Anything that does not decode is None, which the
layers read as a miss.

Example::

    >>> entry = CacheEntry("search", {"pair": (1, 2)}, 0.5, expires_at=2e9)
    >>> encode_entry(entry)
    '{"v":1,"tool":"search","value":{"pair":[1,2]},"seconds":0.5,"expires_at":2000000000.0,"dollars":0.0}'
    >>> decode_entry(encode_entry(entry)).value
    {'pair': [1, 2]}
    >>> decode_entry(b"not an entry") is None
    True
"""

from __future__ import annotations

import json
import logging
import math
import threading
from dataclasses import dataclass
from typing import Any, Final

import diskcache
from diskcache.core import MODE_PICKLE, UNKNOWN

logger = logging.getLogger(__name__)

# The version of the JSON entry format ("v").
ENTRY_FORMAT: Final = 1

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


def log_unstorable_once(layer: str, tool: str, exc: Exception) -> None:
    """Say, once per tool (for the first ``_MAX_LOGGED_TOOLS`` tools), that its values stay out of ``layer``."""
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


class JsonOnlyDisk(diskcache.Disk):  # type: ignore[misc]
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

