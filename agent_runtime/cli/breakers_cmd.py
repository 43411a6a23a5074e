"""``agent-runtime breakers [reset TOOL]``: circuit breakers of a running service."""

from __future__ import annotations

import argparse

from agent_runtime.cli import render
from agent_runtime.cli.client import ServiceClient
from agent_runtime.cli.common import CliError, add_service_options, print_json
from agent_runtime.cli.registry import Command


def _run(args: argparse.Namespace) -> int:
    if args.action == "reset":
        return _reset(args)
    breakers = ServiceClient.from_args(args).get("/v1/breakers").get("breakers", {})
    if args.json:
        print_json(breakers)
        return 0
    rows = [
        [
            name,
            snap.get("state", "-"),
            f"{snap.get('failure_rate', 0.0):.0%}",
            snap.get("calls_in_window", 0),
            snap.get("consecutive_failures", 0),
            render.seconds(snap.get("retry_after_seconds")) if snap.get("state") == "open" else "-",
        ]
        for name, snap in sorted(breakers.items())
    ]
    print(render.table(["breaker", "state", "failures", "calls", "in a row", "retry in"], rows))
    return 0


def _reset(args: argparse.Namespace) -> int:
    if not args.tool:
        raise CliError("breakers reset needs the tool name, e.g. agent-runtime breakers reset promql_query")
    reply = ServiceClient.from_args(args).post(f"/v1/breakers/{args.tool}/reset")
    if args.json:
        print_json(reply)
    else:
        print(f"breaker of {args.tool} reset: {reply.get('breaker', {}).get('state', 'closed')}")
    return 0


def _configure(parser: argparse.ArgumentParser) -> None:
    # Positionals rather than nested sub-commands, so --url/--token may go anywhere on the line.
    parser.add_argument("action", nargs="?", choices=["reset"], help="reset: close TOOL's breaker (admin)")
    parser.add_argument("tool", nargs="?", help="the tool whose breaker to reset")
    add_service_options(parser)


COMMANDS = (
    Command("breakers", "Show a running service's circuit breakers, or reset one.", _configure, _run, order=50),
)
