"""``agent-runtime loadgen``: a realistic, bounded workload against a running service.

Example::

    agent-runtime loadgen --url http://127.0.0.1:8000 --rate 20 --duration 60 \\
        --concurrency 16 --mix diagnostics=0.5,researcher=0.3,writer=0.2 --seed 7 --json

A status line on stderr shows progress while it runs; the report (text, or
JSON with ``--json``) goes to stdout, also when Ctrl-C or SIGTERM ends the
run early. The exit code is 0 when at least one request was answered, 1
otherwise (the service is not reachable).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence

from agent_runtime.cli.common import URL_ENV, CliError, add_json_option, positive_float, positive_int, print_json
from agent_runtime.cli.registry import Command
from agent_runtime.ops.loadgen import LoadGenerator, LoadReport, progress_line
from agent_runtime.ops.workload import DEFAULT_MIX, Workload, parse_mix

DEFAULT_URL = "http://127.0.0.1:8000"


def _mix(text: str) -> dict[str, float]:
    try:
        return parse_mix(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_mix_option(parser: argparse.ArgumentParser) -> None:
    """``--mix FAMILY=WEIGHT,...``: the workload's task families (``loadgen`` and ``stack up``)."""
    default_mix = ",".join(f"{k}={v:g}" for k, v in DEFAULT_MIX.items())
    parser.add_argument("--mix", type=_mix, help=f"weights of the task families (default: {default_mix})")


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default=os.environ.get(URL_ENV) or DEFAULT_URL,
        help=f"service base URL (default: ${URL_ENV}, else {DEFAULT_URL})",
    )
    parser.add_argument("--rate", type=positive_float, required=True, help="requests per second (open loop)")
    parser.add_argument("--duration", type=positive_float, required=True, help="seconds to run")
    parser.add_argument("--concurrency", type=positive_int, default=16, help="requests in flight at most (default 16)")
    parser.add_argument(
        "--requests", type=positive_int, help="stop after this many requests (default: rate * duration)"
    )
    add_mix_option(parser)
    parser.add_argument("--seed", type=int, help="seed for a reproducible task sequence")
    parser.add_argument(
        "--fetch-base",
        metavar="URL",
        help="URL prefix of pages for the fetcher family (needs the host on the service's http_fetch "
        "allow-list); without it the fetcher family is left out",
    )
    parser.add_argument("--timeout", type=positive_float, default=30.0, help="seconds to wait for each answer")
    parser.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    add_json_option(parser)


def _progress(report: LoadReport, in_flight: int) -> None:
    # A rewritten line on a terminal; whole lines in logs.
    end = "\r" if sys.stderr.isatty() else "\n"
    print(f"… {progress_line(report, in_flight)}", end=end, file=sys.stderr, flush=True)


def _run(args: argparse.Namespace) -> int:
    stop = threading.Event()
    try:
        workload = Workload(args.mix, seed=args.seed, fetch_base=args.fetch_base)
        generator = LoadGenerator(
            args.url,
            workload,
            rate=args.rate,
            duration_seconds=args.duration,
            concurrency=args.concurrency,
            max_requests=args.requests,
            timeout_seconds=args.timeout,
            progress=None if args.quiet else _progress,
            # Logs (not a terminal) get a line every 10 s, not every second.
            progress_seconds=1.0 if sys.stderr.isatty() else 10.0,
            stop=stop,
        )
    except ValueError as exc:
        raise CliError(str(exc)) from None
    # Ctrl-C or SIGTERM (``stack down``) end the run early, and the report still comes out.
    handlers = {}
    if threading.current_thread() is threading.main_thread():
        handlers = {s: signal.signal(s, lambda signum, frame: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        report = generator.run()
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    if not args.quiet and sys.stderr.isatty():
        print(file=sys.stderr)
    print_json(report.to_dict()) if args.json else print(report.summary())
    return 0 if report.completed else 1


COMMANDS = (Command("loadgen", "Send a realistic, bounded workload to a running service.", _configure, _run, order=70),)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m agent_runtime.cli.loadgen_cmd ...``: the command without the CLI around it."""
    parser = argparse.ArgumentParser(prog="agent-runtime loadgen", description=COMMANDS[0].help)
    _configure(parser)
    try:
        return _run(parser.parse_args(argv))
    except CliError as exc:
        print(f"agent-runtime loadgen: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
