"""Small PromQL building blocks shared by the rules and dashboard generators.

Durations are handled as integer milliseconds so that time-scaling a rule
file (``--time-scale N``) is exact and renders back to the compact
Prometheus form (``1h12m``, ``500ms``).

Example::

    >>> scale_ranges('rate(x[1h]) and rate(x[5m:30s])', 60)
    'rate(x[1m]) and rate(x[5s:500ms])'
    >>> number(14.4 * (1 - 0.99))
    '0.144'
"""

from __future__ import annotations

import re
from typing import Final

from agent_runtime import durations

_UNIT_MS: Final[dict[str, int]] = {
    "y": 365 * 24 * 3600 * 1000,
    "w": 7 * 24 * 3600 * 1000,
    "d": 24 * 3600 * 1000,
    "h": 3600 * 1000,
    "m": 60 * 1000,
    "s": 1000,
    "ms": 1,
}
# Largest unit first; weeks and years are left out on output because
# ``1w`` reads worse than ``7d`` in an alert window.
_OUTPUT_UNITS: Final = ("d", "h", "m", "s", "ms")
_DURATION = r"(?:\d+(?:ms|[smhdwy]))+"
# A range selector ``[5m]`` or a subquery ``[1h:1m]`` / ``[1h:]``.
_RANGE = re.compile(rf"\[(?P<range>{_DURATION})(?P<sub>:(?P<step>{_DURATION})?)?\]")


def parse_duration(text: str) -> int:
    """Milliseconds in a Prometheus duration such as ``5m`` or ``1h30m`` (whole numbers, as PromQL wants)."""
    if "." in text:
        raise ValueError(f"not a Prometheus duration: {text!r} (PromQL durations are whole numbers)")
    return round(durations.parse_duration(text) * 1000)


def format_duration(milliseconds: int) -> str:
    """The compact Prometheus form of ``milliseconds`` (``90000`` -> ``1m30s``)."""
    if milliseconds <= 0:
        raise ValueError(f"a duration must be positive, got {milliseconds}ms")
    parts = []
    rest = milliseconds
    for unit in _OUTPUT_UNITS:
        amount, rest = divmod(rest, _UNIT_MS[unit])
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)


def scale_duration(text: str, factor: int) -> str:
    """``text`` divided by ``factor``, rounded down to the millisecond (at least 1ms)."""
    if factor < 1:
        raise ValueError(f"the time scale must be a positive integer, got {factor}")
    return format_duration(max(1, parse_duration(text) // factor))


def scale_ranges(expr: str, factor: int) -> str:
    """``expr`` with every range selector and subquery range/step divided by ``factor``."""

    def replace(match: re.Match[str]) -> str:
        scaled = scale_duration(match["range"], factor)
        if match["sub"] is None:
            return f"[{scaled}]"
        step = match["step"]
        return f"[{scaled}:{scale_duration(step, factor) if step else ''}]"

    return _RANGE.sub(replace, expr)


def number(value: float) -> str:
    """A threshold as PromQL text, without float noise (``0.14400000000000002`` -> ``0.144``)."""
    return f"{round(value, 9):.9g}"


def le_value(bound: float) -> str:
    """The ``le`` label value prometheus_client exposes for a bucket bound.

    The Python client renders bounds with ``repr`` (``1.0``, ``2.5``), and
    Prometheus 2.42 does not normalise ``le``, so a rule must match that text
    exactly.
    """
    return repr(float(bound))


def regex_alternation(values: tuple[str, ...]) -> str:
    """``values`` as a regex alternation for a ``=~`` matcher (``error|timeout``)."""
    if not values:
        raise ValueError("an alternation needs at least one value")
    for value in values:
        if not re.fullmatch(r"[A-Za-z0-9_]+", value):
            raise ValueError(f"label value {value!r} would need regex escaping")
    return "|".join(values)


def selector(*matchers: str) -> str:
    """A label selector body from non-empty matchers (``job="x",outcome="y"``)."""
    return ",".join(m for m in matchers if m)
