"""``agent-runtime serve``: the HTTP service under gunicorn, or Flask's server with ``--dev``.

Gunicorn runs ``agent_runtime.serving.wsgi:app`` with ``agent_runtime/serving/gunicorn_conf.py``
(multiprocess metrics hooks). The configuration is checked before gunicorn
starts, so a broken file is one error line here instead of a crash loop of
workers; the workers find it through ``AGENT_RUNTIME_CONFIG``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from typing import Final

from agent_runtime.cli.common import CliError, add_config_option, positive_int, progress
from agent_runtime.cli.registry import Command
from agent_runtime.config.loader import CONFIG_ENV, load_config
from agent_runtime.telemetry.metrics import PrometheusListener

BIND_ENV: Final = "AGENT_RUNTIME_BIND"
DEFAULT_BIND: Final = "127.0.0.1:8000"
WSGI_APP: Final = "agent_runtime.serving.wsgi:app"
GUNICORN_CONF_MODULE: Final = "agent_runtime.serving.gunicorn_conf"


def parse_bind(bind: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` too) as ``(host, port)``; a ``CliError`` names what is wrong."""
    host, sep, port_text = bind.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise CliError(f"--bind must be HOST:PORT with a port from 1 to 65535, got {bind!r}")
    return host.strip("[]"), int(port_text)


def gunicorn_command(bind: str, workers: int) -> list[str]:
    """The gunicorn command line serving the app on ``bind`` with ``workers`` processes."""
    if importlib.util.find_spec("gunicorn") is None:
        raise CliError("gunicorn is not installed: pip install 'agent-runtime[server]', or use --dev")
    spec = importlib.util.find_spec(GUNICORN_CONF_MODULE)
    if spec is None or spec.origin is None:
        raise CliError(f"{GUNICORN_CONF_MODULE} is missing: reinstall agent-runtime")
    return [
        sys.executable, "-m", "gunicorn",
        "-c", spec.origin,
        WSGI_APP,
        "--workers", str(workers),
        "--bind", bind,
    ]  # fmt: skip


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bind",
        default=os.environ.get(BIND_ENV) or DEFAULT_BIND,
        metavar="HOST:PORT",
        help=f"address to listen on (default: ${BIND_ENV}, else {DEFAULT_BIND})",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=int(os.environ.get("WEB_CONCURRENCY") or 2),
        help="gunicorn worker processes (default: $WEB_CONCURRENCY, else 2)",
    )
    parser.add_argument(
        "--dev", action="store_true", help="run Flask's development server in this process instead of gunicorn"
    )
    add_config_option(parser)


def _serve_dev(config: str | None, bind: str) -> int:
    from agent_runtime.bootstrap import build_runtime
    from agent_runtime.service import create_app

    host, port = parse_bind(bind)
    progress("building the runtime")
    runtime = build_runtime(config)
    try:
        _configure_tracing(runtime.metrics)
        progress(f"serving on http://{host}:{port} (development server; use gunicorn in production)")
        create_app(runtime).run(host=host, port=port, threaded=True, use_reloader=False)
    finally:
        runtime.close()
    return 0


def _configure_tracing(metrics: PrometheusListener | None) -> None:
    """Install the OTLP SDK from ``OTEL_*`` variables (span drops counted in ``metrics``), if available."""
    try:
        otlp = importlib.import_module("exporters.otlp")
    except ImportError:
        return
    configure = getattr(otlp, "configure_tracing_from_env", None)
    if callable(configure):
        configure(metrics)


def _run(args: argparse.Namespace) -> int:
    # Fail fast, in one line, on a config the workers would crash on.
    config = load_config(args.config)
    if args.dev:
        return _serve_dev(args.config, args.bind)
    command = gunicorn_command(args.bind, args.workers)
    if args.config:
        os.environ[CONFIG_ENV] = os.path.abspath(args.config)
    progress(f"starting gunicorn on {args.bind} with {args.workers} workers ({len(config.agents)} agents)")
    # exec, not a child process: the gunicorn master gets signals (SIGTERM, SIGHUP) directly.
    os.execv(command[0], command)
    return 0  # not reached: execv replaces this process


COMMANDS = (
    Command("serve", "Run the HTTP service (gunicorn, or --dev for Flask's server).", _configure, _run, order=10),
)
