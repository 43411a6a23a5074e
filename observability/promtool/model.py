"""Scenarios for ``promtool test rules`` and their rendering to test-file YAML.

A scenario is a set of input series plus checks at given evaluation times.
Alert checks name the alert and the labels and value each firing instance
must have; the expected annotations are derived from the alert definition
(``templates.render``), so a test states *what* fires and the file states
exactly what on-call will read. An alert check with no firing instances
asserts silence.

Example::

    >>> counter((10, 2), (0, 2))
    '0 10+10x1 20+0x1'
    >>> gauge((1, 2), (None, 1), (0, 1))
    '1x1 _ 0'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from observability.config import ObservabilityConfig
from observability.promql import number
from observability.rules.model import Alert, AlertRule
from observability.rules.templates import render

INSTANCE = "runtime:8000"


def counter(*segments: tuple[float, int]) -> str:
    """A counter starting at 0, then ``steps`` samples growing by ``increment`` per segment."""
    parts, current = ["0"], 0.0
    for increment, steps in segments:
        start = current + increment
        parts.append(f"{number(start)}+{number(increment)}x{steps - 1}")
        current += increment * steps
    return " ".join(parts)


def gauge(*segments: tuple[float | None, int]) -> str:
    """A gauge holding each ``value`` for ``count`` samples; ``None`` is a missed scrape."""
    parts = []
    for value, count in segments:
        if value is None:
            parts.extend(["_"] * count)
        else:
            parts.append(f"{number(value)}x{count - 1}" if count > 1 else number(value))
    return " ".join(parts)


@dataclass(frozen=True)
class Series:
    """One input series: metric name, labels, and promtool's expanding value notation."""

    name: str
    labels: Mapping[str, str]
    values: str

    def text(self) -> str:
        """The series in PromQL selector syntax."""
        body = ",".join(f'{k}="{v}"' for k, v in self.labels.items())
        return f"{self.name}{{{body}}}"


@dataclass(frozen=True)
class Firing:
    """An alert instance expected to fire: its labels (beyond severity and static ones) and value."""

    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class AlertCheck:
    """``alertname`` at ``eval_time`` fires exactly ``firing`` (nothing, if empty)."""

    alertname: str
    eval_time: str
    firing: tuple[Firing, ...] = ()


@dataclass(frozen=True)
class ExprCheck:
    """``expr`` at ``eval_time`` returns exactly ``samples`` (labels as a selector string, value)."""

    expr: str
    eval_time: str
    samples: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Scenario:
    """Input series and the checks run against them; ``name`` says what is being shown."""

    name: str
    series: tuple[Series, ...]
    alerts: tuple[AlertCheck, ...] = ()
    exprs: tuple[ExprCheck, ...] = ()
    interval: str = "1m"


def _rule_for(alert: Alert, firing: Firing) -> AlertRule:
    """The one rule of ``alert`` whose static labels match ``firing``."""
    matches = [r for r in alert.rules if all(firing.labels.get(k) == v for k, v in r.labels.items())]
    if len(matches) != 1:
        raise ValueError(f"{alert.name}: {dict(firing.labels)} matches {len(matches)} rules, expected 1")
    return matches[0]


def _expected(alert: Alert, firing: Firing, config: ObservabilityConfig) -> dict[str, Any]:
    rule = _rule_for(alert, firing)
    labels = {"severity": rule.severity, **rule.labels, **firing.labels}
    return {
        "exp_labels": labels,
        "exp_annotations": {
            "summary": alert.summary,
            "description": render(rule.description, labels, firing.value),
            "runbook_url": config.runbook_url(alert.name),
        },
    }


def promtool_document(
    scenarios: Sequence[Scenario],
    alerts: Mapping[str, Alert],
    rule_files: Sequence[str],
    group_order: Sequence[str],
    config: ObservabilityConfig,
) -> dict[str, Any]:
    """A promtool test document for ``scenarios``."""
    tests: list[dict[str, Any]] = []
    for scenario in scenarios:
        test: dict[str, Any] = {
            "name": scenario.name,
            "interval": scenario.interval,
            "input_series": [{"series": s.text(), "values": s.values} for s in scenario.series],
        }
        if scenario.alerts:
            test["alert_rule_test"] = [
                {
                    "eval_time": check.eval_time,
                    "alertname": check.alertname,
                    "exp_alerts": [_expected(alerts[check.alertname], f, config) for f in check.firing],
                }
                for check in scenario.alerts
            ]
        if scenario.exprs:
            test["promql_expr_test"] = [
                {
                    "expr": check.expr,
                    "eval_time": check.eval_time,
                    "exp_samples": [{"labels": labels, "value": value} for labels, value in check.samples],
                }
                for check in scenario.exprs
            ]
        tests.append(test)
    return {
        "rule_files": list(rule_files),
        "evaluation_interval": "1m",
        "group_eval_order": list(group_order),
        "tests": tests,
    }
