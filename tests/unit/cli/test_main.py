"""Parsing, help and exit codes of the ``agent-runtime`` entry point."""

from __future__ import annotations

import argparse
import pkgutil
from types import SimpleNamespace

import pytest

import agent_runtime.cli as cli_package
from agent_runtime import __version__
from agent_runtime.cli.main import COMMAND_MODULES, commands, main
from agent_runtime.cli.registry import Command, collect

COMMANDS = ["serve", "run", "agents", "tools", "cache", "breakers", "bottlenecks", "loadgen", "stack"]


def test_every_listed_command_is_in_help_order() -> None:
    names = [command.name for command in commands()]
    assert [name for name in names if name in COMMANDS] == COMMANDS
    assert len(names) == len(set(names))


def test_every_command_module_of_the_package_is_listed() -> None:
    on_disk = {info.name for info in pkgutil.iter_modules(cli_package.__path__) if info.name.endswith("_cmd")}
    listed = {module.__name__.rpartition(".")[2] for module in COMMAND_MODULES}  # type: ignore[attr-defined]
    assert listed == on_disk


def test_a_command_defined_twice_is_an_error() -> None:
    def run(args: argparse.Namespace) -> int:
        return 0

    hello = Command("hello", "Say hello.", lambda parser: None, run)
    with pytest.raises(RuntimeError, match="'hello' is defined twice"):
        collect([SimpleNamespace(COMMANDS=(hello,)), SimpleNamespace(COMMANDS=(hello,))])


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in commands():
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
