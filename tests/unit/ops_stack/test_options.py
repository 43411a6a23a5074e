"""The stack's options and its port choice: the usual ports where free, else free ones the kernel will not hand out."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_runtime.ops.stack import options
from agent_runtime.ops.stack.options import StackInfo, StackOptions, choose_ports, replica_names
from agent_runtime.ops.stack.ports import ephemeral_range, free_port
from agent_runtime.ops.stack.render import Ports


@pytest.fixture()
def preferred(monkeypatch: pytest.MonkeyPatch) -> Ports:
    """Preferred ports that are free on this machine (the real 8000, 9090... may be taken by anything)."""
    ports = Ports(runtime=free_port(), prometheus=free_port(), alertmanager=free_port(), receiver=free_port(),
                  llama=free_port())  # fmt: skip
    monkeypatch.setattr(options, "PREFERRED_PORTS", ports)
    monkeypatch.setattr(options, "PREFERRED_REDIS_PORT", free_port())
    monkeypatch.setattr(options, "_MORE_RUNTIME_PORTS", (free_port(), free_port()))
    return ports


@pytest.fixture()
def taken(preferred: Ports) -> Iterator[int]:
    """The preferred runtime port, held by a listener for the test's length."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind: the port is reserved
        sock.bind(("127.0.0.1", preferred.runtime))
        sock.listen()
        yield preferred.runtime


def test_free_preferred_ports_are_taken_as_they_are(preferred: Ports) -> None:
    chosen = choose_ports()
    assert chosen == Ports(preferred.runtime, preferred.prometheus, preferred.alertmanager, preferred.receiver,
                           preferred.llama, more_runtimes=(), redis=options.PREFERRED_REDIS_PORT)  # fmt: skip
    assert chosen.redis == options.PREFERRED_REDIS_PORT
    assert chosen.more_runtimes == ()


def test_a_busy_preferred_port_is_replaced_by_one_outside_the_ephemeral_range(taken: int) -> None:
    chosen = choose_ports()
    low, high = ephemeral_range()
    assert chosen.runtime != taken
    assert not low <= chosen.runtime <= high


def test_more_replicas_get_the_next_usual_ports_then_free_ones(preferred: Ports) -> None:
    chosen = choose_ports(replicas=5)
    assert chosen.more_runtimes[:2] == options._MORE_RUNTIME_PORTS
    assert len(chosen.more_runtimes) == 4
    assert len(set(chosen.runtimes)) == 5


def test_replica_names() -> None:
    assert replica_names(1) == ["runtime"]
    assert replica_names(3) == ["runtime-1", "runtime-2", "runtime-3"]


@pytest.mark.parametrize(("replicas", "workers"), [(0, 2), (1, 0)])
def test_options_refuse_fewer_than_one_replica_or_worker(tmp_path: Path, replicas: int, workers: int) -> None:
    with pytest.raises(ValueError, match="replicas and workers must be >= 1"):
        StackOptions(root=tmp_path, state_dir=tmp_path, replicas=replicas, workers=workers)


def test_the_description_leaves_the_token_out(tmp_path: Path) -> None:
    info = StackInfo(tmp_path, Ports(runtime=1, prometheus=2, alertmanager=3, receiver=4), "secret-token",
                     "http://127.0.0.1:1", "http://127.0.0.1:4")  # fmt: skip
    described = info.to_dict()
    assert "secret-token" not in str(described)
    assert described["token_file"] == str(tmp_path / "token")
    assert described["runtime_urls"] == ["http://127.0.0.1:1"]
    assert described["alerts_url"] == "http://127.0.0.1:4/alerts"
