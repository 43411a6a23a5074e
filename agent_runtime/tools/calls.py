"""Canonical call keys and the table of popular calls (for cache warming).

A call is identified by its tool name and its arguments as canonical JSON:
sorted keys, no whitespace, so argument order never matters. ``call_hash``
turns that into a short stable digest for cache keys; ``args_key`` is the
same identity without the digest (nor, usually, the JSON), for in-process keys.

Example::

    >>> call_hash("search", {"q": "otel", "n": 3}) == call_hash("search", {"n": 3, "q": "otel"})
    True
    >>> popular = CallFrequency(capacity=100)
    >>> for query in ("a", "b", "a"):
    ...     popular.record(call_hash("search", {"q": query}), "search", {"q": query})
    >>> popular.top(1)
    [('search', {'q': 'a'})]
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Hashable, Mapping
from dataclasses import asdict, is_dataclass
from typing import Any, Final


def canonical_args(args: Mapping[str, Any]) -> str:
    """The arguments as canonical JSON: sorted keys, no whitespace.

    Values JSON cannot encode are made stable where possible (sets sorted,
    dataclasses as dicts, bytes as hex) and otherwise use their type and repr.

    >>> canonical_args({"b": 2, "a": [1, {"y": 1, "x": 0}]})
    '{"a":[1,{"x":0,"y":1}],"b":2}'
    """
    return _ENCODER.encode(args)


def _encode(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return sorted(value, key=_canonical_value)
    if isinstance(value, bytes | bytearray):
        return value.hex()
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return f"{type(value).__qualname__}:{value!r}"


def _canonical_value(value: Any) -> str:
    return _ENCODER.encode(value)


# Built once: json.dumps with options would build a new encoder per call.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_encode)


def call_hash(tool: str, args: Mapping[str, Any]) -> str:
    """A short stable hash of one call (tool name and canonical arguments)."""
    return hash_canonical(tool, canonical_args(args))


def hash_canonical(tool: str, canonical: str) -> str:
    """``call_hash`` of arguments already in canonical form."""
    payload = f"{tool}\x00{canonical}".encode()
    return hashlib.blake2b(payload, digest_size=16).hexdigest()


_FAST_ARG_TYPES: Final = frozenset({str, int})


def args_key(args: Mapping[str, Any]) -> Hashable:
    """The arguments as an L0 key: equal exactly when their canonical JSON is (no digest).

    Sorted ``(name, value)`` pairs when every value is exactly a ``str`` or an
    ``int``, or a ``list``/``tuple`` of those (as a tuple: both are the same
    JSON array) — the usual cases; ``True`` and ``1.0`` are not ``int`` here,
    as they are not in JSON — else the canonical JSON string itself. Raises
    ``ValueError``/``TypeError``/``RecursionError`` for arguments with no
    canonical form.

    >>> args_key({"b": 2, "a": "x"}) == args_key({"a": "x", "b": 2})
    True
    >>> args_key({"a": 1}) == args_key({"a": 1.0}), args_key({"a": 1}) == args_key({"a": True})
    (False, False)
    >>> args_key({"a": ["x", 1]}) == args_key({"a": ("x", 1)})
    True
    """
    fast = _FAST_ARG_TYPES
    lists = False
    for value in args.values():
        kind = type(value)
        if kind in fast:
            continue
        if (kind is list or kind is tuple) and all(type(item) in fast for item in value):
            lists = lists or kind is list
            continue
        return canonical_args(args)
    items: Any = args.items()
    if lists:  # a list is not hashable: its items as a tuple
        items = [(name, tuple(value) if type(value) is list else value) for name, value in items]
    if len(args) == 1:
        return tuple(items)
    try:
        return tuple(sorted(items))
    except TypeError:  # keys of mixed types: let the canonical form decide
        return canonical_args(args)


class CallFrequency:
    """Bounded counts of recent calls, for warming.

    When full, the less popular half is forgotten and the rest's counts are
    halved, so old popularity decays and new calls can enter.
    """

    def __init__(self, capacity: int = 1024) -> None:
        if capacity < 2:
            raise ValueError(f"capacity must be >= 2, got {capacity}")
        self._capacity = capacity
        self._lock = threading.Lock()
        self._counts: dict[Hashable, int] = {}
        self._calls: dict[Hashable, tuple[str, dict[str, Any]]] = {}

    def record(self, key: Hashable, tool: str, args: Mapping[str, Any], weight: int = 1) -> None:
        """Count one call identified by ``key`` (``weight`` times: a sampled count stands for several)."""
        with self._lock:
            count = self._counts.get(key)
            if count is not None:
                self._counts[key] = count + weight
                return
            if len(self._counts) >= self._capacity:
                self._decay()
            self._counts[key] = weight
            self._calls[key] = (tool, dict(args))

    def top(self, n: int) -> list[tuple[str, dict[str, Any]]]:
        """The ``n`` most frequent calls as (tool, args), most frequent first."""
        with self._lock:
            keys = sorted(self._counts, key=self._counts.__getitem__, reverse=True)[: max(n, 0)]
            return [self._calls[key] for key in keys]

    def __len__(self) -> int:
        return len(self._counts)

    def _decay(self) -> None:
        keep = sorted(self._counts, key=self._counts.__getitem__, reverse=True)[: self._capacity // 2]
        self._counts = {key: max(1, self._counts[key] // 2) for key in keep}
        self._calls = {key: self._calls[key] for key in keep}
