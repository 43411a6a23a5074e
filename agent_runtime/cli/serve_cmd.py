"""``agent-runtime serve``: the HTTP service under gunicorn, or Flask's server with ``--dev``.

Gunicorn runs ``agent_runtime.serving.wsgi:app`` with ``agent_runtime/serving/gunicorn_conf.py``
(multiprocess metrics hooks). Before gunicorn starts, the whole configuration
is built exactly as a worker builds it (``build_runtime``: the file, the
deployment overrides, the tools the agents name and their plans), then
closed; a broken file is one error line here, naming the file, the key and
the fix, instead of workers dying with "Worker failed to boot". The workers
find the file through ``AGENT_RUNTIME_CONFIG``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from agent_runtime.cli.common import CliError, add_config_option, positive_int, progress
from agent_runtime.cli.registry import Command
from agent_runtime.config.loader import CONFIG_ENV
from agent_runtime.errors import ConfigError
from agent_runtime.telemetry.metrics import PrometheusListener

if TYPE_CHECKING:
    from agent_runtime.runtime import Runtime

BIND_ENV: Final = "AGENT_RUNTIME_BIND"
DEFAULT_BIND: Final = "127.0.0.1:8000"
WORKERS_ENV: Final = "WEB_CONCURRENCY"
DEFAULT_WORKERS: Final = 2
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
        default=None,
        help=f"gunicorn worker processes (default: ${WORKERS_ENV}, else {DEFAULT_WORKERS})",
    )
    parser.add_argument(
        "--dev", action="store_true", help="run Flask's development server in this process instead of gunicorn"
    )
    add_config_option(parser)


def config_error_line(exc: ConfigError, config: str | None) -> str:
    """One line for a configuration the workers could not build: the file, the key, the problem and the fix."""
    source = exc.source or config or os.environ.get(CONFIG_ENV) or "the bundled default configuration"
    if exc.problem.startswith("unknown tool"):
        fix = (
            "name a registered tool there or remove it (`agent-runtime tools` lists the registered tools; "
            "built-in ones may need their AGENT_RUNTIME_* settings)"
        )
    else:
        fix = f"fix {exc.key} in that file"
    return f"{source}: {exc.key}: {exc.problem}; {fix}; the server was not started"


def build_checked_runtime(config: str | None, **kwargs: Any) -> Runtime:
    """``build_runtime(config, **kwargs)``, with a bad configuration as a one-line ``CliError``."""
    from agent_runtime.bootstrap import build_runtime

    try:
        return build_runtime(config, **kwargs)
    except ConfigError as exc:
        raise CliError(config_error_line(exc, config)) from None


def check_config(config: str | None) -> int:
    """Build the runtime exactly as a gunicorn worker will (no metrics), close it; how many agents it has.

    The service's own settings (``AGENT_RUNTIME_MAX_BODY_BYTES``, ...) are read too: each worker reads them
    when it loads the app, and a bad one would stop every worker from booting.
    """
    from agent_runtime.service.settings import ServiceSettings

    try:
        ServiceSettings.from_env()
    except ConfigError as exc:
        raise CliError(f"{exc.key}: {exc.problem}; fix it in the environment; the server was not started") from None
    runtime = build_checked_runtime(config, metrics_registry=None)
    try:
        return len(runtime.config.agents)
    finally:
        runtime.close()


def _serve_dev(config: str | None, bind: str) -> int:
    from agent_runtime.service import create_app

    host, port = parse_bind(bind)
    progress("building the runtime")
    runtime = build_checked_runtime(config)
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


def workers_from_env(environ: Mapping[str, str]) -> int:
    """``$WEB_CONCURRENCY`` (gunicorn's own variable), else ``DEFAULT_WORKERS``; a bad value is a ``CliError``."""
    text = environ.get(WORKERS_ENV, "").strip()
    if not text:
        return DEFAULT_WORKERS
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError as exc:
        raise CliError(f"${WORKERS_ENV} {exc}; set it to the number of workers, or pass --workers") from None


def _run(args: argparse.Namespace) -> int:
    if args.dev:
        return _serve_dev(args.config, args.bind)
    if args.workers is None:
        args.workers = workers_from_env(os.environ)
    command = gunicorn_command(args.bind, args.workers)
    # Fail fast, in one line, on a configuration the workers would fail to boot with.
    progress("checking the configuration")
    agents = check_config(args.config)
    if args.config:
        os.environ[CONFIG_ENV] = os.path.abspath(args.config)
    progress(f"starting gunicorn on {args.bind} with {args.workers} workers ({agents} agents)")
    # exec, not a child process: the gunicorn master gets signals (SIGTERM, SIGHUP) directly.
    os.execv(command[0], command)
    return 0  # not reached: execv replaces this process


COMMANDS = (
    Command("serve", "Run the HTTP service (gunicorn, or --dev for Flask's server).", _configure, _run, order=10),
)
