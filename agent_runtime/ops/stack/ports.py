"""Pick loopback ports for the servers the stack and the tests start.

A port from ``bind(("127.0.0.1", 0))`` comes from the kernel's ephemeral
range, the same range it draws the source port of every outgoing connection
from. Between picking such a port and the server binding it, a health poll, a
scrape or a keep-alive connection can take it as its source port, and the
server dies with "Address already in use" (CI saw a replica die so, started
seconds after its port was picked while the stack polled the others). So
:func:`free_port` picks below the ephemeral range, where the kernel never
assigns a port on its own, walking it from a random start.

Another process picking at the same moment (a second test run, a stack
started beside the tests) must not get the same port either, so a picked
port is *reserved*: claimed by a plain ``bind``, connected to once and
closed from its own side, which leaves it in TIME_WAIT for a minute. A plain
``bind`` (every picker's claim) then fails on it, while a server binding with
``SO_REUSEADDR`` takes it at once, as every server we start does (gunicorn,
Prometheus, Alertmanager, Redis, llama-server, Python's ``http.server`` and
gRPC; ``tests/unit/ops_stack/test_ports.py`` shows the mechanism).
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
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

logger = logging.getLogger(__name__)


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
    below = range(LOWEST_PORT, min(max(low, LOWEST_PORT), HIGHEST_PORT + 1))
    return [*below, *range(max(high + 1, LOWEST_PORT), HIGHEST_PORT + 1)]


def reserve(port: int) -> int | None:
    """Claim ``port`` (0: one the kernel picks) and leave it in TIME_WAIT, so plain binds fail on it for a minute.

    Returns the port, or None when some socket holds it (a listener, a
    connection, another picker's reservation). The claim is the bind itself,
    made without ``SO_REUSEADDR`` so that it fails on any of those: checking
    and claiming are one step, and two pickers cannot both win. The option is
    set before ``listen`` so the connection's TIME_WAIT lets a server's
    ``SO_REUSEADDR`` bind through; the accepted side closes first, since
    TIME_WAIT stays with the side that closes first and that side's local
    port is ``port``.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        try:
            server.bind(("127.0.0.1", port))
        except OSError:
            return None
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.listen(1)
        bound = int(server.getsockname()[1])
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
            client.connect(("127.0.0.1", bound))
            accepted, _ = server.accept()
            accepted.close()
    return bound


class PortWalk:
    """Hands out ``candidates`` in turn from ``start`` (random by default), skipping ports in use, each reserved."""

    def __init__(self, candidates: Sequence[int], start: int | None = None) -> None:
        if not candidates:
            raise ValueError("a port walk needs at least one candidate port")
        self._count = len(candidates)
        first = random.randrange(self._count) if start is None else start % self._count
        self._walk: Iterator[int] = itertools.islice(itertools.cycle(candidates), first, None)
        self._lock = threading.Lock()

    def next_free(self) -> int | None:
        """The next candidate nothing holds on 127.0.0.1, reserved; None after a whole round found none."""
        with self._lock:
            for port in itertools.islice(self._walk, self._count):
                if reserve(port) is not None:
                    return port
        return None

    def after_fork(self) -> None:
        """In a forked child: a new lock (a thread of the parent may have held the old one at the fork)."""
        self._lock = threading.Lock()


@functools.cache
def _walk() -> PortWalk | None:
    """This process's walk, built on first use (every ``agent-runtime`` command imports this module)."""
    candidates = candidate_ports(ephemeral_range())
    if len(candidates) < _MIN_CANDIDATES:
        # A kernel configured with an unusually wide ephemeral range: the kernel's own pick is the better bet.
        return None
    walk = PortWalk(candidates)
    os.register_at_fork(after_in_child=walk.after_fork)
    return walk


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free, reserved for a minute, and not one the kernel gives to connections.

    Bind it with ``SO_REUSEADDR`` (servers do). Example: ``port = free_port()``,
    then start a server with ``--port {port}``.
    """
    walk = _walk()
    port = walk.next_free() if walk is not None else None
    if port is None:
        # Still reserved, but from the ephemeral range, where an outgoing connection may take it first.
        logger.warning("no free port outside the kernel's ephemeral range: taking one from it")
        port = reserve(0)
    if port is None:
        raise OSError("no free TCP port on 127.0.0.1")
    return port


def port_in_use(port: int) -> bool:
    """True when something accepts connections on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0
