"""The annotation templates and their renderer (used for exact promtool expectations)."""

from __future__ import annotations

import pytest

from observability.rules.templates import (
    VALUE,
    VALUE_DURATION,
    VALUE_FIXED2,
    VALUE_INTEGER,
    VALUE_PERCENT,
    label,
    render,
)


def test_labels_and_value_forms() -> None:
    template = f"{label('tool')} on {label('job')}: {VALUE_PERCENT}, {VALUE_FIXED2}/s, {VALUE_INTEGER}, {VALUE}"
    assert render(template, {"tool": "search", "job": "agent-runtime"}, 0.25) == (
        "search on agent-runtime: 25%, 0.25/s, 0, 0.25"
    )


def test_missing_label_renders_empty_like_go() -> None:
    assert render(f"[{label('instance')}]", {}, 1) == "[]"


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "0s"), (0.4875, "487.5ms"), (0.0005, "500us"), (2.425, "2.425s"), (90, "1m 30s"),
     (3 * 3600 + 5, "3h 0m 5s"), (2 * 86400 + 60, "2d 0h 1m 0s")],
)
def test_humanize_duration_matches_prometheus(value: float, text: str) -> None:
    assert render(VALUE_DURATION, {}, value) == text


def test_percentages_hide_float_noise() -> None:
    assert render(VALUE_PERCENT, {}, 1 - 0.8) == "20%"
    assert render(VALUE_PERCENT, {}, 0.9375) == "93.75%"


def test_integers_print_like_go() -> None:
    assert render(VALUE, {}, 2.0) == "2"


def test_unsupported_forms_are_refused() -> None:
    with pytest.raises(ValueError, match="not supported"):
        render("{{ $value | humanize }}", {}, 1)
    with pytest.raises(ValueError, match="finite"):
        render(VALUE, {}, float("nan"))
