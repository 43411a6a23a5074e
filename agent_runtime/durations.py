"""Prometheus durations (``90s``, ``1h30m``, ``500ms``), parsed in one place.

The PromQL tool, the local stack and the on-call kit's generator all read
durations; they all call ``parse_duration`` and wrap its ``ValueError`` in
their own error type.

Example::

    >>> parse_duration("1h30m"), parse_duration("500ms")
    (5400.0, 0.5)
    >>> parse_duration("5 minutes")
    Traceback (most recent call last):
    ...
    ValueError: not a Prometheus duration: '5 minutes' (use e.g. 30s, 5m, 1h30m)
"""

from __future__ import annotations

import re
from typing import Final

_PART: Final = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
UNIT_SECONDS: Final[dict[str, float]] = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
    "y": 31536000.0,
}


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration; ``ValueError`` naming the text when it is not one."""
    stripped = text.strip()
    parts = _PART.findall(stripped)
    if not parts or "".join(number + unit for number, unit in parts) != stripped:
        raise ValueError(f"not a Prometheus duration: {text!r} (use e.g. 30s, 5m, 1h30m)")
    return sum(float(number) * UNIT_SECONDS[unit] for number, unit in parts)
