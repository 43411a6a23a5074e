"""Pick loopback ports for the servers the stack and the tests start.

A port from ``bind(("127.0.0.1", 0))`` comes from the kernel's ephemeral
range, the same range it draws the source port of every outgoing connection
from. Between picking such a port and the server binding it, a health poll, a
scrape or a keep-alive connection can take it as its source port, and the
server dies with "Address already in use" (CI saw exactly that: a replica
started seconds after its port was picked, while the stack was polling the
others). So :func:`free_port` picks below the ephemeral range, where the
kernel never assigns a port on its own, and checks the port is free by
binding it. It walks the range from a random start, so one process never
hands out the same port twice until it has gone round, and two processes
rarely meet.
"""

from __future__ import annotations

import itertools
import random
import socket
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

# Ports below this are left to well-known services (Prometheus 9090, Redis 6379, ...).
LOWEST_PORT: Final = 20000
HIGHEST_PORT: Final = 65535
_EPHEMERAL_RANGE_FILE: Final = Path("/proc/sys/net/ipv4/ip_local_port_range")
# Linux's default, used where /proc does not say (another kernel, a sandbox).
_DEFAULT_EPHEMERAL: Final = (32768, 60999)
_MIN_CANDIDATES: Final = 1000


def ephemeral_range(path: Path = _EPHEMERAL_RANGE_FILE) -> tuple[int, int]:
    """The kernel's ephemeral port range (lowest, highest), inclusive."""
    try:
        low, high = (int(field) for field in path.read_text().split())
    except (OSError, ValueError):
        return _DEFAULT_EPHEMERAL
    return low, high


def candidate_ports(ephemeral: tuple[int, int]) -> list[int]:
    """The ports the kernel does not assign on its own: those outside ``ephemeral`` from LOWEST_PORT up."""
    low, high = ephemeral
    return [port for port in range(LOWEST_PORT, HIGHEST_PORT + 1) if not low <= port <= high]


def _bindable(port: int) -> bool:
    # No SO_REUSEADDR: a port some socket still holds (even in TIME_WAIT) is not offered.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _kernel_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PortWalk:
    """Hands out ``candidates`` in turn from ``start`` (random by default), skipping ports in use."""

    def __init__(self, candidates: Sequence[int], start: int | None = None) -> None:
        if not candidates:
            raise ValueError("a port walk needs at least one candidate port")
        self._count = len(candidates)
        first = random.randrange(self._count) if start is None else start % self._count
        self._walk: Iterator[int] = itertools.islice(itertools.cycle(candidates), first, None)
        self._lock = threading.Lock()

    def next_free(self) -> int | None:
        """The next candidate nothing holds on 127.0.0.1; None after a whole round found none."""
        with self._lock:
            return next((port for port in itertools.islice(self._walk, self._count) if _bindable(port)), None)


_CANDIDATES: Final = candidate_ports(ephemeral_range())
# Fewer candidates than that means a kernel configured with an unusually wide
# ephemeral range: the kernel's own pick is then the better bet.
_WALK: Final = PortWalk(_CANDIDATES) if len(_CANDIDATES) >= _MIN_CANDIDATES else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now and that the kernel will not give to an outgoing connection.

    Example: ``port = free_port()``, then start a server with ``--port {port}``.
    """
    port = _WALK.next_free() if _WALK is not None else None
    return port if port is not None else _kernel_port()


def port_in_use(port: int) -> bool:
    """True when something accepts connections on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0
