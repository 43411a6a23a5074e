"""Alert annotation templates: the few Go-template forms the alerts use.

Descriptions are written with these constants rather than raw ``{{ }}`` so
they read cleanly inside Python f-strings, and ``render`` reproduces what
Prometheus prints for them, which lets the promtool tests state the exact
expected annotation without hand-copying it.

Example::

    >>> render(f"{label('tool')} fails {VALUE_PERCENT}", {"tool": "search"}, 0.25)
    'search fails 25%'
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Final

VALUE: Final = "{{ $value }}"
VALUE_PERCENT: Final = "{{ $value | humanizePercentage }}"
VALUE_DURATION: Final = "{{ $value | humanizeDuration }}"
VALUE_FIXED2: Final = '{{ printf "%.2f" $value }}'
VALUE_INTEGER: Final = '{{ printf "%.0f" $value }}'

_LABEL = re.compile(r"\{\{ \$labels\.([a-zA-Z_][a-zA-Z0-9_]*) \}\}")


def label(name: str) -> str:
    """The template of label ``name`` of the alert."""
    return "{{ $labels." + name + " }}"


def _go_float(value: float) -> str:
    # Go prints a float64 with %v as the shortest representation ("2", "0.5").
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _humanize_duration(value: float) -> str:
    # Prometheus template.go humanizeDuration, for the non-negative values alerts produce.
    if value == 0:
        return "0s"
    if value >= 1:
        whole = int(value)
        days, hours = whole // 86400, whole // 3600 % 24
        minutes, seconds = whole // 60 % 60, whole % 60
        if days:
            return f"{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{minutes}m {seconds}s"
        return f"{value:.4g}s"
    prefix = ""
    for candidate in ("m", "u", "n", "p"):
        if value >= 1:
            break
        prefix, value = candidate, value * 1000
    return f"{value:.4g}{prefix}s"


def render(template: str, labels: Mapping[str, str], value: float) -> str:
    """``template`` as Prometheus renders it for an alert with ``labels`` and ``value``."""
    if math.isnan(value) or math.isinf(value):
        raise ValueError("alert values in tests must be finite")
    text = template.replace(VALUE_PERCENT, f"{value * 100:.4g}%")
    text = text.replace(VALUE_DURATION, _humanize_duration(value))
    text = text.replace(VALUE_FIXED2, f"{value:.2f}")
    text = text.replace(VALUE_INTEGER, f"{value:.0f}")
    text = text.replace(VALUE, _go_float(value))
    text = _LABEL.sub(lambda m: labels.get(m.group(1), ""), text)
    if "{{" in text:
        raise ValueError(f"template form not supported by render(): {template!r}")
    return text
