"""OTLP trace export settings from the standard ``OTEL_*`` environment variables.

Pure parsing, no SDK import: deciding that tracing is off (no endpoint) costs
nothing. Endpoint rules follow the OTLP exporter specification:

- ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is used as is (for OTLP/HTTP it is
  the full URL, ``/v1/traces`` included);
- otherwise ``OTEL_EXPORTER_OTLP_ENDPOINT`` is a base URL: for OTLP/HTTP
  ``/v1/traces`` is appended to its path (``http://c:4318`` and
  ``http://c:4318/`` both give ``http://c:4318/v1/traces``,
  ``http://c:4318/otlp`` gives ``http://c:4318/otlp/v1/traces``); for gRPC it
  is used as is;
- neither set: tracing is off (the specification's ``localhost`` default is not used,
  so an unconfigured runtime never exports).

Timeouts are in seconds, as the Python OTLP exporters read them (the
specification says milliseconds; the Python SDK documents seconds). The
export timeout defaults to 2 s instead of the SDK's 10 s and never exceeds
``OTEL_BSP_EXPORT_TIMEOUT`` (milliseconds, as in the specification).

Example::

    >>> settings = OtlpSettings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"})
    >>> settings.endpoint, settings.protocol, settings.timeout_seconds
    ('http://collector:4318/v1/traces', 'http/protobuf', 2.0)
    >>> OtlpSettings.from_env({}) is None
    True
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from opentelemetry.util.re import parse_env_headers

_log = logging.getLogger(__name__)

Protocol = Literal["http/protobuf", "grpc"]
HTTP_PROTOBUF: Final = "http/protobuf"
GRPC: Final = "grpc"
TRACES_PATH: Final = "/v1/traces"
DEFAULT_EXPORT_TIMEOUT_SECONDS: Final = 2.0

# Batch processor defaults, as in the OpenTelemetry specification.
DEFAULT_MAX_QUEUE_SIZE: Final = 2048
DEFAULT_MAX_EXPORT_BATCH_SIZE: Final = 512
DEFAULT_SCHEDULE_DELAY_MS: Final = 5000
DEFAULT_BSP_EXPORT_TIMEOUT_MS: Final = 30000


def env_flag(environ: Mapping[str, str], name: str) -> bool:
    """True when ``name`` is set to ``true`` (case-insensitive), as the OpenTelemetry specification defines booleans."""
    return environ.get(name, "").strip().lower() == "true"


def _first(environ: Mapping[str, str], *names: str) -> str | None:
    """The first non-empty value among ``names``."""
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return value
    return None


def _number(environ: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        _log.warning("%s=%r is not a number >= %s; using %s", name, raw, minimum, default)
        return default
    return value


def traces_endpoint(environ: Mapping[str, str], protocol: Protocol) -> str | None:
    """The URL the trace exporter is given, per the OTLP endpoint rules (None: not configured)."""
    signal = _first(environ, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if signal is not None:
        return signal
    base = _first(environ, "OTEL_EXPORTER_OTLP_ENDPOINT")
    if base is None or protocol == GRPC:
        return base
    return base.rstrip("/") + TRACES_PATH


def traces_protocol(environ: Mapping[str, str]) -> Protocol:
    """``grpc`` or ``http/protobuf`` (the default; ``http/json`` is not available in Python)."""
    raw = _first(environ, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL") or HTTP_PROTOBUF
    value = raw.lower()
    if value == GRPC:
        return GRPC
    if value != HTTP_PROTOBUF:
        _log.warning("OTLP protocol %r is not supported here; using http/protobuf", raw)
    return HTTP_PROTOBUF


@dataclass(frozen=True)
class QueueSettings:
    """The span queue and batching (``OTEL_BSP_*``)."""

    max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE
    max_export_batch_size: int = DEFAULT_MAX_EXPORT_BATCH_SIZE
    schedule_delay_seconds: float = DEFAULT_SCHEDULE_DELAY_MS / 1000
    export_timeout_seconds: float = DEFAULT_BSP_EXPORT_TIMEOUT_MS / 1000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> QueueSettings:
        """Read ``OTEL_BSP_MAX_QUEUE_SIZE``, ``_MAX_EXPORT_BATCH_SIZE``, ``_SCHEDULE_DELAY``, ``_EXPORT_TIMEOUT``."""
        env = os.environ if environ is None else environ
        queue = int(_number(env, "OTEL_BSP_MAX_QUEUE_SIZE", DEFAULT_MAX_QUEUE_SIZE, 1))
        batch = int(_number(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", DEFAULT_MAX_EXPORT_BATCH_SIZE, 1))
        if batch > queue:
            _log.warning("batch size %d > queue size %d (OTEL_BSP_*); using %d", batch, queue, queue)
            batch = queue
        return cls(
            max_queue_size=queue,
            max_export_batch_size=batch,
            schedule_delay_seconds=_number(env, "OTEL_BSP_SCHEDULE_DELAY", DEFAULT_SCHEDULE_DELAY_MS, 0) / 1000,
            export_timeout_seconds=_number(env, "OTEL_BSP_EXPORT_TIMEOUT", DEFAULT_BSP_EXPORT_TIMEOUT_MS, 1) / 1000,
        )


@dataclass(frozen=True)
class OtlpSettings:
    """Where and how spans are sent."""

    endpoint: str
    protocol: Protocol = HTTP_PROTOBUF
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout_seconds: float = DEFAULT_EXPORT_TIMEOUT_SECONDS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OtlpSettings | None:
        """The settings, or None when no OTLP endpoint is configured."""
        env = os.environ if environ is None else environ
        protocol = traces_protocol(env)
        endpoint = traces_endpoint(env, protocol)
        if endpoint is None:
            return None
        raw_headers = _first(env, "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS") or ""
        timeout = DEFAULT_EXPORT_TIMEOUT_SECONDS
        for name in ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"):
            if _first(env, name) is not None:
                timeout = _number(env, name, DEFAULT_EXPORT_TIMEOUT_SECONDS, 0.001)
                break
        bsp_timeout = QueueSettings.from_env(env).export_timeout_seconds
        return cls(
            endpoint=endpoint,
            protocol=protocol,
            headers=dict(parse_env_headers(raw_headers, liberal=True)),
            timeout_seconds=min(timeout, bsp_timeout),
        )
