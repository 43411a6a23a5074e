"""``agent-runtime cache stats|invalidate|warm``: the tool cache of a running service."""

from __future__ import annotations

import argparse

from agent_runtime.cli import render
from agent_runtime.cli.client import ServiceClient
from agent_runtime.cli.common import add_service_options, positive_int, print_json, progress
from agent_runtime.cli.registry import Command


def _stats(args: argparse.Namespace) -> int:
    stats = ServiceClient.from_args(args).get("/v1/cache/stats")
    if args.json:
        print_json(stats)
    else:
        print(render.figures(stats))
    return 0


def _invalidate(args: argparse.Namespace) -> int:
    body = {"tool": args.tool} if args.tool else {"tag": args.tag}
    reply = ServiceClient.from_args(args).post("/v1/cache/invalidate", body)
    if args.json:
        print_json(reply)
    else:
        what = f"tool {args.tool}" if args.tool else f"tag {args.tag}"
        print(f"invalidated {reply.get('invalidated', 0)} cached entries of {what}")
    return 0


def _warm(args: argparse.Namespace) -> int:
    client = ServiceClient.from_args(args)
    progress(f"warming the cache of {client.url} (re-running popular calls)")
    reply = client.post("/v1/cache/warm", {"top_n": args.top_n} if args.top_n else {})
    if args.json:
        print_json(reply)
    else:
        print(f"warmed {reply.get('warmed', 0)} calls into the cache")
    return 0


def _configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    stats = actions.add_parser("stats", help="hits, misses and entries per cache layer")
    add_service_options(stats)
    stats.set_defaults(handler=_stats)
    invalidate = actions.add_parser("invalidate", help="drop cached results of one tool or tag (admin)")
    which = invalidate.add_mutually_exclusive_group(required=True)
    which.add_argument("--tool", help="a tool name, e.g. knowledge_search")
    which.add_argument("--tag", help="a cache tag, e.g. corpus")
    add_service_options(invalidate)
    invalidate.set_defaults(handler=_invalidate)
    warm = actions.add_parser("warm", help="re-run the most popular recorded calls into the cache (admin)")
    warm.add_argument("--top-n", type=positive_int, help="how many calls (default: the configured warm_top_n)")
    add_service_options(warm)
    warm.set_defaults(handler=_warm)


# ACTION is required and each action sets its own handler; ``_stats`` is the one for ``cache stats``.
COMMANDS = (Command("cache", "Inspect or operate a running service's tool cache.", _configure, _stats, order=40),)
