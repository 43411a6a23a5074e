"""The sub-command registry: each ``agent_runtime/cli/*_cmd.py`` module brings its own.

A command module defines ``COMMANDS``, a tuple of ``Command``; ``main``
discovers every ``*_cmd`` module of this package, so adding a command
(``stack``, ``loadgen``, ...) is adding one file, without touching ``main.py``.

Example (``agent_runtime/cli/hello_cmd.py``)::

    def _configure(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name")

    def _run(args: argparse.Namespace) -> int:
        print(f"hello {args.name}")
        return 0

    COMMANDS = (Command("hello", "Say hello.", _configure, _run, order=90),)
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import agent_runtime.cli as cli_package

Handler = Callable[[argparse.Namespace], int]
MODULE_SUFFIX: Final = "_cmd"


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


def discover() -> list[Command]:
    """Every command of every ``*_cmd`` module in ``agent_runtime.cli``, in help order."""
    found: dict[str, Command] = {}
    for module_info in pkgutil.iter_modules(cli_package.__path__):
        if not module_info.name.endswith(MODULE_SUFFIX):
            continue
        module = importlib.import_module(f"{cli_package.__name__}.{module_info.name}")
        for command in getattr(module, "COMMANDS", ()):
            if command.name in found:
                raise RuntimeError(f"CLI command {command.name!r} is defined twice (in {module_info.name})")
            found[command.name] = command
    return sorted(found.values(), key=lambda c: (c.order, c.name))
