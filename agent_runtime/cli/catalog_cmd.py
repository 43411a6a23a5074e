"""``agent-runtime agents`` and ``agent-runtime tools``: what a configuration defines.

Both read the configuration in this process (``--config``), so they also
check a config file before it is deployed.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict

from agent_runtime.cli import render
from agent_runtime.cli.common import add_config_option, add_json_option, print_json
from agent_runtime.cli.registry import Command
from agent_runtime.config.loader import load_config
from agent_runtime.service.introspection import agent_view


def _configure(parser: argparse.ArgumentParser) -> None:
    add_json_option(parser)
    add_config_option(parser)


def _agents(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if args.json:
        print_json({"config_version": config.version, "agents": [agent_view(a) for a in config.agents]})
        return 0
    rows = [
        [
            agent.name,
            agent.kind,
            f"{agent.base_confidence:.2f}",
            ", ".join(agent.tools) or "-",
            ", ".join(s.domain for s in agent.specialties) or "-",
            agent.description,
        ]
        for agent in config.agents
    ]
    print(render.table(["agent", "kind", "base", "tools", "domains", "description"], rows))
    routing = config.routing
    print(
        f"\nrouting: min confidence {routing.min_confidence:.2f}, fallback chain "
        f"{' → '.join(routing.fallback_chain) or '-'}, planning agent {routing.planning_agent or '-'}"
    )
    return 0


def _tools(args: argparse.Namespace) -> int:
    from agent_runtime.bootstrap import build_runtime

    runtime = build_runtime(args.config, metrics_registry=None)
    try:
        specs = runtime.tool_specs()
    finally:
        runtime.close()
    if args.json:
        print_json({"tools": [asdict(spec) for spec in specs]})
        return 0
    rows = [
        [
            spec.name,
            render.seconds(spec.timeout_seconds),
            f"{spec.ttl_seconds:g}s" if spec.cacheable else "never",
            ", ".join(spec.cache_tags) or "-",
            spec.retry.max_attempts,
            "on" if spec.breaker.enabled else "off",
            spec.fallback or "-",
        ]
        for spec in specs
    ]
    print(render.table(["tool", "timeout", "cache ttl", "tags", "attempts", "breaker", "fallback"], rows))
    return 0


COMMANDS = (
    Command("agents", "List the configured agents and routing settings.", _configure, _agents, order=30),
    Command("tools", "List the registered tools and their settings.", _configure, _tools, order=31),
)
