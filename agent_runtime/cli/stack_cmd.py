"""``agent-runtime stack up|down|status``: the whole stack on this machine, on loopback.

``up`` starts the runtime (gunicorn, fault injection on, a fresh admin token
in ``.stack/token``), Prometheus and Alertmanager with the repository's own
configuration, the alert receiver, a background workload and, when the
``local-llm`` extra is installed, llama.cpp's ``llama-server`` as the
runtime's model (``--no-llm``: not), prints where everything is, and runs
until Ctrl-C, ``stack down`` or ``--duration`` seconds. Without the
Prometheus binaries it runs the runtime and workload and says how to
install them; without the extra it says so too.

Examples::

    agent-runtime stack up --duration 120
    agent-runtime stack up --time-scale 60      # windows and for: in seconds, for drills
    agent-runtime stack status
    agent-runtime stack down
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any, Final

import requests

from agent_runtime.cli.common import (
    CliError,
    add_config_option,
    add_json_option,
    positive_float,
    positive_int,
    print_json,
    progress,
)
from agent_runtime.cli.loadgen_cmd import add_mix_option
from agent_runtime.cli.registry import Command
from agent_runtime.ops.stack.launcher import Stack, stop_recorded
from agent_runtime.ops.stack.options import StackInfo, StackOptions
from agent_runtime.ops.stack.processes import PidFile, StackError
from agent_runtime.ops.stack.receiver import alert_names

DEFAULT_STATE_DIR: Final = ".stack"


def find_root(start: Path) -> Path | None:
    """The checkout holding ``prometheus/prometheus.yml``: ``start`` or a parent, else this package's."""
    package_checkout = Path(__file__).resolve().parents[2]
    for folder in (start, *start.parents, package_checkout):
        if (folder / "prometheus" / "prometheus.yml").is_file():
            return folder
    return None


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = actions.add_parser("up", help="start the stack and run until Ctrl-C, `stack down` or --duration")
    up.add_argument("--duration", type=positive_float, help="stop by itself after this many seconds")
    up.add_argument("--workers", type=positive_int, default=2, help="gunicorn workers (default 2)")
    up.add_argument("--rate", type=_non_negative, default=5.0, help="background tasks per second, 0 for none")
    up.add_argument("--concurrency", type=positive_int, default=16, help="workload requests in flight at most")
    add_mix_option(up)
    up.add_argument("--seed", type=int, help="seed of the workload's task sequence")
    up.add_argument("--time-scale", type=positive_int, default=1,
                    help="divide every rule window and for: by N (and scrape that much faster)")  # fmt: skip
    up.add_argument("--interval", type=positive_float, help="scrape and evaluation interval in seconds")
    up.add_argument("--root", type=Path, help="the checkout with prometheus/ and alertmanager/ (default: found)")
    up.add_argument("--no-llm", dest="local_llm", action="store_false",
                    help="do not start llama-server (the local model) even with the local-llm extra")  # fmt: skip
    _state_dir_option(up)
    add_config_option(up)
    add_json_option(up)
    up.set_defaults(handler=_up)
    down = actions.add_parser("down", help="stop a stack started from this directory")
    _state_dir_option(down)
    down.set_defaults(handler=_down)
    status = actions.add_parser("status", help="what runs, where, and which alerts fire")
    _state_dir_option(status)
    add_json_option(status)
    status.set_defaults(handler=_status)


def _state_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", type=Path, default=Path(DEFAULT_STATE_DIR),
                        help=f"where the stack keeps its files (default {DEFAULT_STATE_DIR}/)")  # fmt: skip


def describe(info: StackInfo, rate: float) -> str:
    """The lines ``stack up`` prints: URLs, token, dashboards, how to inject a fault and to stop."""
    token = info.state_dir / "token"
    lines = [
        f"agent runtime stack is up (files in {info.state_dir})",
        f"  runtime          {info.runtime_url}   admin token: {token}",
        f"  prometheus       {info.prometheus_url or '-'}" + (f"   alerts: {info.prometheus_url}/alerts"
                                                           if info.prometheus_url else ""),
        f"  alertmanager     {info.alertmanager_url or '-'}",
        f"  model server     {info.llm_url or '-'}" + (f"   model: {info.llm_model}   metrics: job llama"
                                                       if info.llm_url else ""),
        f"  alerts received  {info.receiver_url}/alerts",
        f"  workload         {rate:g} tasks/s" + (f"   log: {info.state_dir / 'logs' / 'loadgen.log'}" if rate else ""),
        "  dashboards       grafana/dashboards/*.json; Grafana itself runs with docker compose "
        "(`docker compose up -d grafana`, http://localhost:3000)",
        f"  inject a fault   curl -X POST -H \"Authorization: Bearer $(cat {token})\" "
        f"-H 'Content-Type: application/json' "
        f"-d '{{\"kind\": \"error\", \"tool\": \"knowledge_search\", \"duration_seconds\": 300}}' "
        f"{info.runtime_url}/v1/faults",
    ]  # fmt: skip
    lines += [f"  missing: {m}" for m in info.missing] + [f"  note: {n}" for n in info.notes]
    lines.append("Stop with Ctrl-C or `agent-runtime stack down`.")
    return "\n".join(lines)


def _up(args: argparse.Namespace) -> int:
    root = args.root or find_root(Path.cwd())
    if root is None:
        progress("no checkout with prometheus/prometheus.yml found: Prometheus and Alertmanager are not started")
        root = Path.cwd()
    stack = Stack(StackOptions(
        root=root, state_dir=args.state_dir, workers=args.workers, time_scale=args.time_scale,
        interval_seconds=args.interval, rate=args.rate, mix=args.mix, concurrency=args.concurrency, seed=args.seed,
        config_path=args.config, local_llm=args.local_llm))  # fmt: skip
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        progress(f"starting the stack in {args.state_dir}/")
        try:
            info = stack.up()
        except StackError as exc:
            raise CliError(str(exc)) from None
        print_json(info.to_dict()) if args.json else print(describe(info, args.rate), flush=True)
        reason = stack.wait(args.duration, stop)
        progress(f"stopping the stack: {reason}")
    finally:
        stack.down()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print(_closing_summary(args.state_dir))
    return 0


def _closing_summary(state_dir: Path) -> str:
    """What the run produced: alert deliveries by alert and status, and the workload's last words."""
    deliveries: Counter[str] = Counter()
    log = state_dir / "alerts.jsonl"
    if log.is_file():
        for line in log.read_text().splitlines():
            delivery = json.loads(line)
            status = delivery.get("payload", {}).get("status", "?")
            for name in alert_names(delivery):
                deliveries[f"{name} ({status}, to {delivery['receiver']})"] += 1
    lines = ["alert deliveries: " + (", ".join(f"{k} x{v}" for k, v in sorted(deliveries.items())) or "none")]
    report = _workload_report(state_dir / "logs" / "loadgen.log")
    if report is not None:
        p95 = report["latency_seconds"]["p95"]
        lines.append(f"workload: {report['completed']} tasks answered of {report['sent']} sent, "
                     f"{report['errors']} errors, p95 {'-' if p95 is None else f'{p95 * 1000:.0f}ms'}, "
                     f"status {report['statuses']}")  # fmt: skip
    return "\n".join(lines)


def _workload_report(log: Path) -> dict[str, Any] | None:
    """The JSON report the background ``loadgen --json`` printed when it stopped (after its progress lines)."""
    try:
        text = log.read_text()
    except OSError:
        return None
    start = text.find("\n{")
    try:
        report = json.loads(text[start + 1 :]) if start >= 0 else None
    except ValueError:
        return None
    return report if isinstance(report, dict) else None


def _down(args: argparse.Namespace) -> int:
    stopped = stop_recorded(args.state_dir)
    print(f"stopped: {', '.join(stopped)}" if stopped else f"no stack is running from {args.state_dir}/")
    return 0


def _status(args: argparse.Namespace) -> int:
    pidfile = PidFile(args.state_dir / "stack.json")
    data = pidfile.read()
    if data is None:
        raise CliError(f"no stack is running from {args.state_dir}/; start one with `agent-runtime stack up`")
    running = {p["name"] for p in pidfile.running()}
    info: dict[str, Any] = data.get("info", {})
    report = {
        "processes": {p["name"]: ("running" if p["name"] in running else "gone") for p in data.get("processes", [])},
        **info,
        "firing": _firing(info.get("prometheus_url")),
        "deliveries": _delivery_count(info.get("receiver_url")),
    }
    if args.json:
        print_json(report)
        return 0
    for name, state in report["processes"].items():
        print(f"{name:<14} {state}")
    for key in ("runtime_url", "prometheus_url", "alertmanager_url", "llm_url", "alerts_url", "token_file"):
        print(f"{key:<17} {report.get(key) or '-'}")
    if not report.get("llm_url") and report.get("llm_note"):
        print(f"{'':<17} {report['llm_note']}")
    print(f"firing alerts     {', '.join(report['firing']) or 'none'}")
    print(f"deliveries        {report['deliveries']}")
    return 0


def _firing(prometheus_url: str | None) -> list[str]:
    if not prometheus_url:
        return []
    try:
        alerts = requests.get(f"{prometheus_url}/api/v1/alerts", timeout=2).json()["data"]["alerts"]
    except (requests.RequestException, ValueError, KeyError):
        return ["(Prometheus is not answering)"]
    return sorted({a["labels"]["alertname"] for a in alerts if a.get("state") == "firing"})


def _delivery_count(receiver_url: str | None) -> int | None:
    if not receiver_url:
        return None
    try:
        return len(requests.get(f"{receiver_url}/alerts", timeout=2).json()["deliveries"])
    except (requests.RequestException, ValueError, KeyError):
        return None


COMMANDS = (
    Command(
        "stack", "Run the runtime with Prometheus, Alertmanager and a workload locally.", _configure, _up, order=80
    ),
)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m agent_runtime.cli.stack_cmd ...``: the command without the CLI around it."""
    parser = argparse.ArgumentParser(prog="agent-runtime stack", description=COMMANDS[0].help)
    _configure(parser)
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except CliError as exc:
        print(f"agent-runtime stack: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return code


if __name__ == "__main__":
    raise SystemExit(main())
