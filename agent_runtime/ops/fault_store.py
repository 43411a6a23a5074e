"""What a fault is, and where the active ones are kept: the records ``FaultInjector`` works on.

``KINDS`` names the fault kinds. A ``FaultRequest`` is one kind with its
fields, checked when it is built: a ``FaultError`` says which field is wrong
and what to send. A ``Fault`` is a request resolved to tools, with an id and
wall-clock start and expiry times, and a JSON form (``to_dict`` and
``from_dict``).

The active faults live in a store: ``MemoryFaultStore`` for one process, or
``FileFaultStore``, a JSON file that processes (gunicorn workers) share:
``flock`` for writers, atomic replace for readers, and an unreadable file
reads as no faults. Both drop expired faults on every update.

Example::

    >>> fault = Fault(id="hang-1", kind="hang", tools=("promql_query",), started_at=0.0, expires_at=30.0)
    >>> fault.to_dict(now=10.0)["remaining_seconds"]
    20.0
    >>> Fault.from_dict(fault.to_dict()) == fault
    True
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Final

__all__ = ["KINDS", "Fault", "FaultError", "FaultRequest", "FileFaultStore", "MemoryFaultStore"]

logger = logging.getLogger(__name__)

KINDS: Final[Mapping[str, str]] = {
    "latency": "add `seconds` of latency to every call",
    "error": "fail calls with probability `rate` (a retryable error)",
    "hang": "block calls past the tool's timeout until the fault clears",
    "dependency_down": "fail every call of the tools tagged `dependency` with a connection error",
    "cache_flush": "flush the tool cache once, or every `every_seconds` while active",
}
_MAX_LATENCY_SECONDS: Final = 300.0
_MAX_DURATION_SECONDS: Final = 86_400.0
_MIN_FLUSH_PERIOD_SECONDS: Final = 0.05


class FaultError(ValueError):
    """A fault request is invalid; the message says which field and what to send."""


@dataclass(frozen=True)
class FaultRequest:
    """What to inject. ``tools`` may be ``("*",)`` for every tool; ``dependency_down``
    may name a ``dependency`` (a cache tag) instead, and ``cache_flush`` defaults
    to every tool. ``duration_seconds`` None lasts until cleared.
    """

    kind: str
    tools: tuple[str, ...] = ()
    seconds: float = 0.0
    rate: float = 1.0
    dependency: str | None = None
    every_seconds: float | None = None
    duration_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise FaultError(f"unknown fault kind {self.kind!r}; kinds: {', '.join(KINDS)}")
        if self.kind == "latency" and not 0 < self.seconds <= _MAX_LATENCY_SECONDS:
            raise FaultError(f"a latency fault needs 0 < seconds <= {_MAX_LATENCY_SECONDS:g}, got {self.seconds}")
        if not 0 <= self.rate <= 1:
            raise FaultError(f"rate must be between 0 and 1, got {self.rate}")
        if self.kind == "dependency_down" and not (self.dependency or self.tools):
            raise FaultError('a dependency_down fault needs "dependency" (e.g. prometheus) or "tools"')
        if self.every_seconds is not None and self.every_seconds < _MIN_FLUSH_PERIOD_SECONDS:
            raise FaultError(f"every_seconds must be >= {_MIN_FLUSH_PERIOD_SECONDS}, got {self.every_seconds}")
        if self.duration_seconds is not None and not 0 < self.duration_seconds <= _MAX_DURATION_SECONDS:
            raise FaultError(
                f"duration_seconds must be > 0 and <= {_MAX_DURATION_SECONDS:g}, got {self.duration_seconds}"
            )


@dataclass(frozen=True)
class Fault:
    """An injected fault: the request resolved to tools, with an id and wall-clock times."""

    id: str
    kind: str
    tools: tuple[str, ...]
    started_at: float
    expires_at: float | None = None
    seconds: float = 0.0
    rate: float = 1.0
    dependency: str | None = None
    every_seconds: float | None = None

    def expired(self, now: float) -> bool:
        """True once the fault's duration has passed."""
        return self.expires_at is not None and now >= self.expires_at

    def to_dict(self, now: float | None = None) -> dict[str, Any]:
        """JSON-ready form; with ``now``, also ``remaining_seconds`` (None: until cleared)."""
        data = asdict(self)
        data["tools"] = list(self.tools)
        if now is not None:
            data["remaining_seconds"] = None if self.expires_at is None else max(0.0, self.expires_at - now)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fault:
        """The inverse of ``to_dict`` (extra keys are ignored)."""
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        return cls(**{**values, "tools": tuple(data["tools"])})


class MemoryFaultStore:
    """Faults of this process only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: dict[str, Fault] = {}

    def load(self) -> dict[str, Fault]:
        """The stored faults by id (expired ones too, until the next update)."""
        with self._lock:
            return dict(self._faults)

    def update(self, change: Callable[[dict[str, Fault]], None], now: float) -> None:
        """Let ``change`` edit the faults unexpired at ``now`` (by id) in place, then store them.

        If ``change`` raises, the store is left as it was.
        """
        with self._lock:
            faults = {key: f for key, f in self._faults.items() if not f.expired(now)}
            change(faults)
            self._faults = faults


class FileFaultStore:
    """Faults in a JSON file shared by processes: ``flock`` for writers, atomic replace for readers."""

    def __init__(self, path: str) -> None:
        self._path = Path(path)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._seen: tuple[int, int] | None = None
        self._cached: dict[str, Fault] = {}

    def load(self) -> dict[str, Fault]:
        """The faults in the file by id (expired ones too, until the next update; none if it is missing)."""
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            return {}
        # Re-read only when the file was replaced: a stat per tick, not a parse.
        if (stat.st_ino, stat.st_mtime_ns) != self._seen:
            self._cached = self._read()
            self._seen = (stat.st_ino, stat.st_mtime_ns)
        return dict(self._cached)

    def update(self, change: Callable[[dict[str, Fault]], None], now: float) -> None:
        """Like ``MemoryFaultStore.update``, holding the file's lock so no other process's change is lost."""
        with open(self._path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            faults = {key: f for key, f in self._read().items() if not f.expired(now)}
            change(faults)
            temporary = self._path.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_text(json.dumps({"faults": [f.to_dict() for f in faults.values()]}))
            os.replace(temporary, self._path)

    def _read(self) -> dict[str, Fault]:
        try:
            data = json.loads(self._path.read_text())
            return {item["id"]: Fault.from_dict(item) for item in data["faults"]}
        except FileNotFoundError:
            return {}
        except (ValueError, KeyError, TypeError) as exc:
            logger.error("fault state %s is unreadable (%s); treating it as empty", self._path, exc)
            return {}

