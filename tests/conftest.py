"""Fixtures shared by every test: real binaries on free loopback ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_runtime.ops.stack.ports import free_port, port_in_use
from tests.support.binaries import ManagedProcess, require_binary, wait_until

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository checkout."""
    return REPO_ROOT


@pytest.fixture()
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A real redis-server on a free loopback port, no persistence."""
    binary = require_binary("redis-server")
    port = free_port()
    proc = ManagedProcess(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        tmp_path / "redis.log",
    )
    try:
        wait_until(lambda: port_in_use(port), 10, "redis-server to listen")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.stop()


from tests.support.openai_server import ScriptedChatServer  # noqa: E402  (appended with its fixture)


@pytest.fixture()
def openai_server() -> Iterator[ScriptedChatServer]:
    """A started in-process OpenAI chat-completions server (tests.support.openai_server); stopped afterwards."""
    with ScriptedChatServer() as server:
        yield server
