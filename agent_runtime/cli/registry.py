"""The sub-command registry: the ``Command`` type and how command modules are collected.

Each ``agent_runtime/cli/<name>_cmd.py`` module defines ``COMMANDS``, a tuple
of ``Command``. The modules are listed explicitly, in one place:
``COMMAND_MODULES`` in ``agent_runtime.cli.main``. Adding a command (``stack``,
``loadgen``, ...) is adding one module and one entry to that tuple.

Example (``agent_runtime/cli/hello_cmd.py``)::

    def _configure(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name")

    def _run(args: argparse.Namespace) -> int:
        print(f"hello {args.name}")
        return 0

    COMMANDS = (Command("hello", "Say hello.", _configure, _run, order=90),)

and, in ``main.py``, ``hello_cmd`` added to ``COMMAND_MODULES``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

Handler = Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class Command:
    """One sub-command: its name, one-line help, argument set-up and handler.

    ``configure`` adds the arguments (and may add nested sub-commands that set
    their own ``handler`` default); ``run`` returns the exit code. ``order``
    places the command in ``--help`` (lower first).
    """

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Handler
    order: int = 100


class CommandModule(Protocol):
    """A ``*_cmd`` module: anything with a ``COMMANDS`` sequence."""

    @property
    def COMMANDS(self) -> Sequence[Command]: ...  # noqa: N802 - the module constant's name


def collect(modules: Iterable[CommandModule]) -> list[Command]:
    """Every command of ``modules``, in help order; a name defined twice is an error."""
    found: dict[str, Command] = {}
    for module in modules:
        for command in module.COMMANDS:
            if command.name in found:
                where = getattr(module, "__name__", repr(module))
                raise RuntimeError(f"CLI command {command.name!r} is defined twice (in {where})")
            found[command.name] = command
    return sorted(found.values(), key=lambda c: (c.order, c.name))
