"""Loopback ports for the servers we start: free, outside the kernel's ephemeral range, not handed out twice."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_runtime.ops.stack.ports import (
    LOWEST_PORT,
    PortWalk,
    candidate_ports,
    ephemeral_range,
    free_port,
    port_in_use,
    reserve,
)


def _server_socket(port: int) -> socket.socket:
    """A socket bound to ``port`` the way servers bind (``SO_REUSEADDR``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


def _plain_bind_works(port: int) -> bool:
    """What another process's picker checks: a bind without ``SO_REUSEADDR``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture()
def listener() -> Iterator[int]:
    """A port something listens on for the test's length."""
    with _server_socket(free_port()) as sock:
        sock.listen()
        yield int(sock.getsockname()[1])


def test_the_ephemeral_range_is_read_from_the_kernel(tmp_path: Path) -> None:
    setting = tmp_path / "ip_local_port_range"
    setting.write_text("40000\t50000\n")
    assert ephemeral_range(setting) == (40000, 50000)


@pytest.mark.parametrize("content", [None, "", "not numbers\n", "1 2 3\n"])
def test_an_unreadable_range_falls_back_to_linux_default(tmp_path: Path, content: str | None) -> None:
    setting = tmp_path / "ip_local_port_range"
    if content is not None:
        setting.write_text(content)
    assert ephemeral_range(setting) == (32768, 60999)


def test_candidates_leave_out_the_ephemeral_range_and_the_well_known_ports() -> None:
    candidates = candidate_ports((32768, 60999))
    assert candidates[0] == LOWEST_PORT
    assert 32767 in candidates and 61000 in candidates
    assert not [port for port in candidates if 32768 <= port <= 60999]
    assert len(candidates) == (32768 - LOWEST_PORT) + (65535 - 60999)


def test_free_ports_are_outside_the_ephemeral_range_and_distinct() -> None:
    low, high = ephemeral_range()
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(LOWEST_PORT <= port <= 65535 and not low <= port <= high for port in ports)


def test_a_free_port_is_reserved_from_other_pickers_but_a_server_can_listen_on_it() -> None:
    port = free_port()
    assert not port_in_use(port)
    assert not _plain_bind_works(port)
    with _server_socket(port) as sock:
        sock.listen()
        assert port_in_use(port)
    assert not port_in_use(port)


def test_two_walks_from_the_same_start_never_hand_out_the_same_port() -> None:
    """As two processes whose random starts coincide: the first one's reservation makes the second skip it."""
    candidates = candidate_ports(ephemeral_range())
    start = candidates.index(free_port()) + 1
    first, second = PortWalk(candidates, start=start), PortWalk(candidates, start=start)
    mine = [first.next_free() for _ in range(5)]
    theirs = [second.next_free() for _ in range(5)]
    assert None not in mine and None not in theirs
    assert not set(mine) & set(theirs)


def test_a_port_already_reserved_is_skipped() -> None:
    taken = free_port()
    walk = PortWalk([taken, *candidate_ports(ephemeral_range())], start=0)
    handed = walk.next_free()
    assert handed is not None and handed != taken


def test_the_walk_skips_a_port_in_use(listener: int) -> None:
    walk = PortWalk([listener, *candidate_ports(ephemeral_range())], start=0)
    handed = walk.next_free()
    assert handed is not None and handed != listener


def test_a_reserved_port_cannot_be_reserved_again() -> None:
    """The claim is the bind itself: a second reservation of a reserved port fails, so the check cannot race it."""
    port = free_port()
    assert reserve(port) is None


def test_a_handed_out_port_is_not_handed_out_again_while_reserved() -> None:
    handed = [PortWalk(candidate_ports(ephemeral_range())).next_free() for _ in range(3)]
    assert None not in handed and len(set(handed)) == 3
    assert PortWalk([port for port in handed if port is not None]).next_free() is None


def test_a_walk_with_every_port_taken_says_so(listener: int) -> None:
    assert PortWalk([listener]).next_free() is None


def test_a_walk_needs_candidates() -> None:
    with pytest.raises(ValueError, match="at least one candidate"):
        PortWalk([])
