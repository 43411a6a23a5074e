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
)


@pytest.fixture()
def listener() -> Iterator[int]:
    """A port something listens on for the test's length."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", free_port()))
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


def test_a_free_port_can_be_listened_on() -> None:
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        assert port_in_use(port)
    assert not port_in_use(port)


def test_the_walk_skips_a_port_in_use(listener: int) -> None:
    walk = PortWalk([listener, listener + 1], start=0)
    assert walk.next_free() == listener + 1


def test_the_walk_goes_round_before_repeating() -> None:
    walk = PortWalk([free_port(), free_port(), free_port()], start=1)
    first_round = [walk.next_free() for _ in range(3)]
    assert len(set(first_round)) == 3
    assert [walk.next_free() for _ in range(3)] == first_round


def test_a_walk_with_every_port_taken_says_so(listener: int) -> None:
    assert PortWalk([listener]).next_free() is None


def test_a_walk_needs_candidates() -> None:
    with pytest.raises(ValueError, match="at least one candidate"):
        PortWalk([])
