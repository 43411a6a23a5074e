"""Durations, time scaling and the small PromQL text helpers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from observability.promql import (
    format_duration,
    le_value,
    number,
    parse_duration,
    regex_alternation,
    scale_duration,
    scale_ranges,
    selector,
)
from tests.unit.observability.helpers import ranges


@pytest.mark.parametrize(
    ("text", "milliseconds"),
    [("500ms", 500), ("5m", 300_000), ("1h30m", 5_400_000), ("3d", 259_200_000), ("1w", 604_800_000)],
)
def test_parse_duration(text: str, milliseconds: int) -> None:
    assert parse_duration(text) == milliseconds


@pytest.mark.parametrize("text", ["", "5", "5x", "m5", "1.5h", "5m junk"])
def test_parse_duration_rejects_invalid_text(text: str) -> None:
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("milliseconds", "text"),
    [(500, "500ms"), (90_000, "1m30s"), (4_320_000, "1h12m"), (604_800_000, "7d"), (1_001, "1s1ms")],
)
def test_format_duration_is_compact(milliseconds: int, text: str) -> None:
    assert format_duration(milliseconds) == text


def test_format_duration_rejects_zero() -> None:
    with pytest.raises(ValueError, match="positive"):
        format_duration(0)


@pytest.mark.parametrize(("text", "factor", "scaled"), [("5m", 60, "5s"), ("3d", 60, "1h12m"), ("2m", 7, "17s142ms")])
def test_scale_duration(text: str, factor: int, scaled: str) -> None:
    assert scale_duration(text, factor) == scaled


def test_scale_duration_never_reaches_zero() -> None:
    assert scale_duration("1ms", 60) == "1ms"


def test_scale_duration_rejects_non_positive_factor() -> None:
    with pytest.raises(ValueError, match="positive integer"):
        scale_duration("5m", 0)


def test_scale_ranges_divides_ranges_and_subqueries_exactly() -> None:
    expr = 'rate(a{le="2.5"}[1h]) / sum_over_time(rate(b[5m])[1d:1m]) and max_over_time(c[30m:])'
    scaled = scale_ranges(expr, 60)
    assert scaled == 'rate(a{le="2.5"}[1m]) / sum_over_time(rate(b[5s])[24m:1s]) and max_over_time(c[30s:])'
    assert ranges(scaled) == [r / 60 for r in ranges(expr)]


def test_scale_ranges_by_one_is_identity() -> None:
    expr = "histogram_quantile(0.95, sum by (le) (rate(x_bucket[5m])))"
    assert scale_ranges(expr, 1) == expr


def test_number_removes_float_noise() -> None:
    assert 14.4 * (1 - 0.99) != 0.144
    assert number(14.4 * (1 - 0.99)) == "0.144"
    assert number(2.0) == "2"
    assert number(0.0005) == "0.0005"


def test_le_value_matches_the_python_client_exposition() -> None:
    assert le_value(1) == "1.0"
    assert le_value(2.5) == "2.5"


def test_regex_alternation() -> None:
    assert regex_alternation(("error", "timeout")) == "error|timeout"
    with pytest.raises(ValueError, match="escaping"):
        regex_alternation(("a.b",))
    with pytest.raises(ValueError, match="at least one"):
        regex_alternation(())


def test_selector_skips_empty_matchers() -> None:
    assert selector('job="x"', "", 'le="1.0"') == 'job="x",le="1.0"'
    assert ranges("rate(x[90s])") == [timedelta(seconds=90)]
