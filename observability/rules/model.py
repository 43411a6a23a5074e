"""The data model of generated rules: recording rules, alerts and their runbooks.

An ``Alert`` is one alert *name*: a static summary, a runbook, and one or
more Prometheus rules (the burn-rate alerts have one rule per window pair,
each with its own severity). Runbook text lives next to the alert so the
rule, its runbook and its ``runbook_url`` cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from observability import alert_names
from observability.config import Severity


def _no_labels() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True)
class RecordingRule:
    """``record: name`` = ``expr``, with optional static labels."""

    record: str
    expr: str
    labels: Mapping[str, str] = field(default_factory=_no_labels)


@dataclass(frozen=True)
class RecordingGroup:
    """A named group of recording rules (evaluated in order, so later rules may use earlier ones)."""

    name: str
    rules: tuple[RecordingRule, ...]


@dataclass(frozen=True)
class PanelRef:
    """A dashboard panel a runbook tells the reader to open."""

    dashboard: str
    panel: str


@dataclass(frozen=True)
class Step:
    """One runbook step: prose, optionally with a PromQL query or a shell command."""

    text: str
    promql: str | None = None
    shell: str | None = None


@dataclass(frozen=True)
class Runbook:
    """The four sections every runbook has (see ``observability.runbooks``)."""

    meaning: str
    impact: str
    panels: tuple[PanelRef, ...]
    diagnosis: tuple[Step, ...]
    mitigation: tuple[Step, ...]


@dataclass(frozen=True)
class AlertRule:
    """One Prometheus alerting rule of an ``Alert``."""

    severity: Severity
    expr: str
    description: str
    for_: str | None = None
    # Prometheus's keep_firing_for: how long the alert stays firing after its condition last held, for
    # conditions computed from sparse events whose window can empty between two bursts.
    keep_firing_for: str | None = None
    labels: Mapping[str, str] = field(default_factory=_no_labels)


@dataclass(frozen=True)
class Alert:
    """An alert name with its summary, rules and runbook."""

    name: str
    summary: str
    rules: tuple[AlertRule, ...]
    runbook: Runbook

    def __post_init__(self) -> None:
        if not self.summary.endswith(".") or "{{" in self.summary:
            raise ValueError(f"{self.name}: the summary must be static and end with a full stop")
        if not self.name.startswith(alert_names.PREFIX) or not self.name.isalnum():
            raise ValueError(f"{self.name}: alert names are CamelCase with the {alert_names.PREFIX} prefix")

    @property
    def severities(self) -> tuple[Severity, ...]:
        """The distinct severities of this alert's rules, most severe first."""
        order: tuple[Severity, ...] = ("critical", "warning", "info")
        return tuple(s for s in order if any(r.severity == s for r in self.rules))


@dataclass(frozen=True)
class AlertGroup:
    """A named group of alerts."""

    name: str
    alerts: tuple[Alert, ...]
