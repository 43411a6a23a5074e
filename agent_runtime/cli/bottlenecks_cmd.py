"""``agent-runtime bottlenecks``: a running service's stages ranked by share of task time."""

from __future__ import annotations

import argparse

from agent_runtime.cli import render
from agent_runtime.cli.client import ServiceClient
from agent_runtime.cli.common import add_service_options, print_json
from agent_runtime.cli.registry import Command


def _run(args: argparse.Namespace) -> int:
    report = ServiceClient.from_args(args).get("/v1/bottlenecks")
    if args.json:
        print_json(report)
        return 0
    print(f"{report.get('tasks', 0)} tasks, task p95 {render.seconds(report.get('task_p95_seconds'))}")
    rows = [
        [
            stage["stage"],
            f"{stage['share_of_task_time']:.1%}",
            render.seconds(stage["p50_seconds"]),
            render.seconds(stage["p95_seconds"]),
            render.seconds(stage["target_seconds"]),
            "OVER" if stage["over_target"] else "",
        ]
        for stage in report.get("by_share", [])
    ]
    if rows:
        print(render.table(["stage", "share", "p50", "p95", "target", ""], rows))
    over = report.get("over_target") or []
    print(f"over target: {', '.join(over)}" if over else "every stage is within its target")
    return 0


def _configure(parser: argparse.ArgumentParser) -> None:
    add_service_options(parser)


COMMANDS = (
    Command("bottlenecks", "Rank a running service's stages by share of task time.", _configure, _run, order=60),
)
