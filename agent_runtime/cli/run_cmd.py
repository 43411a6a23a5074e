"""``agent-runtime run TEXT``: one task in this process, printed for people or as JSON.

The exit code is 0 when the task succeeded and 1 otherwise (the result is
printed either way), so scripts can branch on it.
"""

from __future__ import annotations

import argparse

from agent_runtime.cli import render
from agent_runtime.cli.common import CliError, add_config_option, add_json_option, print_json, progress
from agent_runtime.cli.registry import Command
from agent_runtime.errors import PlanError, RejectedError, UnknownAgentError
from agent_runtime.results import Task
from agent_runtime.vocabulary import TaskOutcome


def context_pair(text: str) -> tuple[str, str]:
    """argparse type: ``KEY=VALUE`` as ``(key, value)``."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"must be KEY=VALUE, got {text!r}")
    return key.strip(), value


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", help='the task, e.g. "why is the cache hit rate dropping?"')
    parser.add_argument("--agent", help="run this agent instead of routing")
    parser.add_argument(
        "--context",
        type=context_pair,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a context value for the agent's plan (repeatable), e.g. --context url=https://example.org",
    )
    add_json_option(parser)
    add_config_option(parser)


def _run(args: argparse.Namespace) -> int:
    from agent_runtime.bootstrap import build_runtime

    if not args.text.strip():
        raise CliError("the task text is empty; pass the task as the first argument")
    progress("loading the configuration and tools")
    # One-shot process: no Prometheus registry to fill that nobody would scrape.
    runtime = build_runtime(args.config, metrics_registry=None)
    try:
        if args.agent is not None and runtime.config.agent(args.agent) is None:
            known = ", ".join(agent.name for agent in runtime.config.agents)
            raise CliError(f"unknown agent {args.agent!r}; configured agents: {known}")
        progress("running the task")
        try:
            result = runtime.handle(Task(args.text, dict(args.context), args.agent))
        except (UnknownAgentError, PlanError, RejectedError) as exc:
            hint = " (pass it with --context KEY=VALUE)" if isinstance(exc, PlanError) else ""
            raise CliError(f"{exc}{hint}") from None
    finally:
        runtime.close()
    if args.json:
        print_json(result.to_dict())
    else:
        print(render.task_result(result.to_dict()))
    return 0 if result.outcome == TaskOutcome.SUCCESS else 1


COMMANDS = (Command("run", "Run one task in this process and print the result.", _configure, _run, order=20),)
