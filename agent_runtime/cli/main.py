"""``agent-runtime``: the entry point (console script ``agent_runtime.cli.main:main``).

Examples::

    agent-runtime serve --workers 4 --bind 0.0.0.0:8000
    agent-runtime run "why is the cache hit rate dropping?"
    agent-runtime cache invalidate --tag corpus --token "$AGENT_RUNTIME_ADMIN_TOKEN"

User errors (a bad config file, a service that is not running, a refused
token) are one line on stderr and exit code 1; usage errors exit 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Final

from agent_runtime._version import __version__
from agent_runtime.cli import (
    bottlenecks_cmd,
    breakers_cmd,
    cache_cmd,
    catalog_cmd,
    loadgen_cmd,
    run_cmd,
    serve_cmd,
    stack_cmd,
)
from agent_runtime.cli.common import CliError
from agent_runtime.cli.registry import Command, CommandModule, collect
from agent_runtime.errors import ConfigError

PROG = "agent-runtime"

#: Every module that defines sub-commands (its ``COMMANDS`` tuple); the one list of them.
COMMAND_MODULES: Final[tuple[CommandModule, ...]] = (
    serve_cmd,
    run_cmd,
    catalog_cmd,
    cache_cmd,
    breakers_cmd,
    bottlenecks_cmd,
    loadgen_cmd,
    stack_cmd,
)


def commands() -> list[Command]:
    """Every command of ``COMMAND_MODULES``, in help order."""
    return collect(COMMAND_MODULES)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every command of ``COMMAND_MODULES``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Route tasks to agents and run their tools; serve, run and operate the runtime.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress of the runtime to stderr")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in commands():
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help)
        command.configure(sub)
        sub.set_defaults(handler=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else 1
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        code: int = args.handler(args)
    except (CliError, ConfigError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.exit_code if isinstance(exc, CliError) else 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
