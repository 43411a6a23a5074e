"""``promql_query`` and ``promql_range_query``: PromQL against a Prometheus HTTP API.

Two tools rather than one with a mode argument, because their arguments
differ and a plan reads better with the name saying which one it runs:

- ``promql_query(query, time=None)`` → ``/api/v1/query`` (an instant query);
- ``promql_range_query(query, start, end, step)`` → ``/api/v1/query_range``.

Times are Unix seconds (numbers or numeric strings), RFC 3339 strings, or
``now`` / ``now-<duration>`` (``now-1h30m``), which plans can use without
computing timestamps. ``step`` is seconds or a Prometheus duration (``30s``).

All calls share one pooled ``requests.Session`` with connect and read
timeouts. Queries are POSTed as a form, so long PromQL never hits URL limits,
and carry Prometheus's own ``timeout`` so the server gives up when the client
does. Errors map onto the pipeline's retry policy: a Prometheus error
(``status: error``) is a ``ToolError`` carrying ``errorType: error`` as
Prometheus wrote it, except the transient kinds (``timeout``, ``canceled``,
``unavailable``, any 5xx), which, with connection failures, are
``RetryableToolError``.

The result is compact JSON::

    {"resultType": "vector", "series": 1, "truncated": false,
     "result": [{"metric": {"__name__": "up", "job": "prometheus"}, "value": 1.0, "timestamp": 1700000000.0}]}

A matrix series has ``"values": [[timestamp, value], ...]`` instead, and a
scalar or string result is one ``{"value", "timestamp"}`` object. Values are
floats, except NaN and ±Inf, which stay the strings Prometheus sent (JSON has
no such numbers). At most ``max_series`` series are returned
(``truncated`` says so); Prometheus warnings, if any, are under ``warnings``.
"""

from __future__ import annotations

import math
import re
import time as _time
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from agent_runtime import durations
from agent_runtime.builtin_tools._args import coerce_float, require_text
from agent_runtime.errors import RetryableToolError, ToolError

# Prometheus errorType values that say "try again", not "your query is wrong".
_TRANSIENT_ERROR_TYPES = frozenset({"timeout", "canceled", "unavailable"})
_RELATIVE = re.compile(r"now(?:\s*-\s*(\S+))?")
_MAX_ERROR_BODY = 300


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration such as ``90s``, ``1h30m`` or ``500ms``; ``ToolError`` otherwise."""
    try:
        return durations.parse_duration(text)
    except ValueError:
        raise ToolError(f"invalid duration {text!r}: use e.g. 30s, 5m, 1h30m") from None


def resolve_time(name: str, value: object, now: float) -> str:
    """A time argument as the string Prometheus expects (Unix seconds or RFC 3339)."""
    if isinstance(value, str):
        stripped = value.strip()
        relative = _RELATIVE.fullmatch(stripped)
        if relative is not None:
            offset = relative.group(1)
            return _format_number(now - (parse_duration(offset) if offset else 0.0))
        if stripped and not stripped[0].isdigit() and stripped[0] not in "+-.":
            raise ToolError(f"{name} must be Unix seconds, RFC 3339 or now-<duration>, got {value!r}")
        if "T" in stripped or ":" in stripped:
            return stripped  # RFC 3339: Prometheus parses and validates it
    return _format_number(coerce_float(name, value))


def _format_number(number: float) -> str:
    return f"{number:.3f}"


def _value(sample: str) -> float | str:
    number = float(sample)
    return number if math.isfinite(number) else sample


def compact(data: dict[str, Any], max_series: int) -> dict[str, Any]:
    """Prometheus's ``data`` object reduced to resultType, result and counts."""
    result_type = data.get("resultType")
    raw = data.get("result")
    if result_type in ("scalar", "string") and isinstance(raw, list) and len(raw) == 2:
        timestamp, sample = raw
        value = _value(sample) if result_type == "scalar" else sample
        return {"resultType": result_type, "result": {"value": value, "timestamp": float(timestamp)}}
    if result_type not in ("vector", "matrix") or not isinstance(raw, list):
        raise ToolError(f"unexpected Prometheus result type {result_type!r}")
    series: list[dict[str, Any]] = []
    for item in raw[:max_series]:
        entry: dict[str, Any] = {"metric": item.get("metric", {})}
        if result_type == "vector":
            timestamp, sample = item["value"]
            entry["value"] = _value(sample)
            entry["timestamp"] = float(timestamp)
        else:
            entry["values"] = [[float(t), _value(v)] for t, v in item.get("values", [])]
        series.append(entry)
    return {
        "resultType": result_type,
        "series": len(raw),
        "truncated": len(raw) > max_series,
        "result": series,
    }


class PrometheusClient:
    """A Prometheus HTTP API client backing the two PromQL tools."""

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout_seconds: float = 2.0,
        read_timeout_seconds: float = 15.0,
        max_series: int = 200,
        pool_size: int = 8,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout_seconds, read_timeout_seconds)
        self.max_series = max_series
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers["Accept"] = "application/json"

    def __repr__(self) -> str:
        return f"PrometheusClient({self.base_url!r})"

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()

    def query(self, query: str, time: object = None) -> dict[str, Any]:
        """Evaluate ``query`` at ``time`` (default: now, as Prometheus sees it); a compact result."""
        form = {"query": require_text("query", query), "timeout": self._server_timeout()}
        if time is not None:
            form["time"] = resolve_time("time", time, _time.time())
        return self._post("/api/v1/query", form)

    def query_range(self, query: str, start: object, end: object, step: object) -> dict[str, Any]:
        """Evaluate ``query`` from ``start`` to ``end`` every ``step``; a compact matrix result."""
        now = _time.time()
        if isinstance(step, str) and step.strip() and not step.strip()[-1].isdigit():
            step_seconds = parse_duration(step)
        else:
            step_seconds = coerce_float("step", step)
        if step_seconds <= 0:
            raise ToolError(f"step must be positive, got {step!r}")
        form = {
            "query": require_text("query", query),
            "start": resolve_time("start", start, now),
            "end": resolve_time("end", end, now),
            "step": _format_number(step_seconds),
            "timeout": self._server_timeout(),
        }
        return self._post("/api/v1/query_range", form)

    def _server_timeout(self) -> str:
        # Plain seconds: Prometheus durations ("5s") cannot be fractional, floats can.
        return f"{self.timeout[1]:g}"

    def _post(self, path: str, form: dict[str, str]) -> dict[str, Any]:
        url = self.base_url + path
        try:
            response = self._session.post(url, data=form, timeout=self.timeout)
        except requests.Timeout:
            raise RetryableToolError(f"Prometheus at {self.base_url} timed out") from None
        except requests.RequestException as exc:
            raise RetryableToolError(f"Prometheus at {self.base_url} is unreachable: {type(exc).__name__}") from None
        with response:
            try:
                body = response.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                excerpt = response.text[:_MAX_ERROR_BODY]
                error_class = RetryableToolError if response.status_code >= 500 else ToolError
                raise error_class(f"Prometheus returned HTTP {response.status_code}, not JSON: {excerpt!r}")
        if body.get("status") != "success":
            error_type = str(body.get("errorType", "unknown"))
            message = f"{error_type}: {body.get('error', 'no error message')}"
            if response.status_code >= 500 or error_type in _TRANSIENT_ERROR_TYPES:
                raise RetryableToolError(message)
            raise ToolError(message)
        try:
            result = compact(body.get("data") or {}, self.max_series)
        except (KeyError, TypeError, ValueError) as exc:
            raise ToolError(f"malformed Prometheus response: {type(exc).__name__}: {exc}") from None
        if body.get("warnings"):
            result["warnings"] = list(body["warnings"])
        return result
