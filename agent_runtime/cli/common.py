"""What CLI commands share: the user-error type, progress lines and common options."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Any, Final

URL_ENV: Final = "AGENT_RUNTIME_URL"
TOKEN_ENV: Final = "AGENT_RUNTIME_ADMIN_TOKEN"
DEFAULT_URL: Final = "http://127.0.0.1:8000"


class CliError(Exception):
    """A user error: printed as one line on stderr, exit code ``exit_code``, no traceback."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def progress(message: str) -> None:
    """A progress line on stderr (stdout stays clean for output and ``--json``)."""
    print(f"… {message}", file=sys.stderr, flush=True)


def print_json(value: Any) -> None:
    """``value`` as indented JSON on stdout."""
    print(json.dumps(value, indent=2, default=str))


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """``--config PATH``: the YAML configuration (default: $AGENT_RUNTIME_CONFIG, else the bundled one)."""
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="YAML configuration file (default: $AGENT_RUNTIME_CONFIG, else the bundled default agents)",
    )


def add_json_option(parser: argparse.ArgumentParser) -> None:
    """``--json``: machine-readable output."""
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def add_service_options(parser: argparse.ArgumentParser) -> None:
    """``--url``, ``--token`` and ``--timeout`` for commands that talk to a running service."""
    parser.add_argument(
        "--url",
        default=os.environ.get(URL_ENV) or DEFAULT_URL,
        help=f"service base URL (default: ${URL_ENV}, else {DEFAULT_URL})",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get(TOKEN_ENV) or None,
        help=f"admin bearer token (default: ${TOKEN_ENV})",
    )
    parser.add_argument("--timeout", type=positive_float, default=30.0, help="seconds to wait for the service")
    add_json_option(parser)


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer > 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value
