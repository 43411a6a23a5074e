"""Argument checks shared by the built-in tools.

Plan arguments are templates rendered to text, so numbers may arrive as
strings; these helpers accept both and turn anything else into a ``ToolError``
that names the argument.
"""

from __future__ import annotations

import math

from agent_runtime.errors import ToolError


def require_text(name: str, value: object) -> str:
    """``value`` as a non-blank string."""
    if not isinstance(value, str) or not value.strip():
        raise ToolError(f"{name} must be a non-empty string, got {type(value).__name__}")
    return value


def coerce_int(name: str, value: object, low: int, high: int) -> int:
    """``value`` (an int or a decimal string) as an int within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ToolError(f"{name} must be an integer, got {type(value).__name__}")
    try:
        number = int(value)
    except ValueError:
        raise ToolError(f"{name} must be an integer, got {value!r}") from None
    if not low <= number <= high:
        raise ToolError(f"{name} must be between {low} and {high}, got {number}")
    return number


def coerce_float(name: str, value: object) -> float:
    """``value`` (a number or a numeric string) as a finite float."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ToolError(f"{name} must be a number, got {type(value).__name__}")
    try:
        number = float(value)
    except ValueError:
        raise ToolError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ToolError(f"{name} must be finite, got {value!r}")
    return number
