"""Parsing, help and exit codes of the ``agent-runtime`` entry point."""

from __future__ import annotations

import pytest

from agent_runtime import __version__
from agent_runtime.cli.main import main
from agent_runtime.cli.registry import discover

COMMANDS = ["serve", "run", "agents", "tools", "cache", "breakers", "bottlenecks"]


def test_every_command_module_is_discovered_in_help_order() -> None:
    names = [command.name for command in discover()]
    assert [name for name in names if name in COMMANDS] == COMMANDS
    assert len(names) == len(set(names))


def test_help_lists_every_discovered_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in discover():
        assert f"    {command.name} " in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"agent-runtime {__version__}"


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["cache"],
        ["cache", "invalidate"],
        ["cache", "invalidate", "--tool", "a", "--tag", "b"],
        ["cache", "warm", "--top-n", "0"],
        ["breakers", "restart", "x"],
        ["run"],
        ["run", "text", "--context", "no-equals-sign"],
        ["serve", "--workers", "0"],
        ["bottlenecks", "--timeout", "-1"],
    ],
    ids=lambda argv: " ".join(argv) or "nothing",
)
def test_usage_errors_exit_2_with_usage_on_stderr(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "usage: agent-runtime" in captured.err
    assert "Traceback" not in captured.err
