"""docs/observability.md's alert table says what every alert's rules hold for (`for:`, `keep_firing_for:`),
and its "fires when" cells name only thresholds, windows and rates the alert really uses."""

from __future__ import annotations

import re
from pathlib import Path

from observability.rules.model import Alert

TABLE_ROW = re.compile(r"^\|\s*(AgentRuntime\w+)?\s*\| ([a-z /]+) \| (.*) \| ([^|]+) \|$")
# A figure of a "fires when" cell: 10%, 2.5s, 30m, 1d, 0.05/s, 14.4 (not the digits inside a name such as p95).
FIGURE = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:%|s|m|h|d|/s)?(?![\w.])")


def held_for(alert: Alert, severity: str) -> str:
    """The table's cell for the rules of ``alert`` at ``severity``: each `for:` (and hold), in order."""
    cells = [f"{rule.for_ or '-'}" + (f", keeps firing {rule.keep_firing_for}" if rule.keep_firing_for else "")
             for rule in alert.rules if rule.severity == severity]  # fmt: skip
    return "; ".join(cells)


def test_the_table_gives_each_alerts_hold_as_its_rules_do(alerts: tuple[Alert, ...], repo_root: Path) -> None:
    by_name = {alert.name: alert for alert in alerts}
    rows: dict[tuple[str, str], str] = {}
    name = ""
    for line in (repo_root / "docs" / "observability.md").read_text().splitlines():
        match = TABLE_ROW.match(line)
        if match is None:
            continue
        name = match.group(1) or name  # a row without a name continues the alert above
        for severity in match.group(2).split(" / "):
            rows[(name, severity.strip())] = match.group(4).strip()
    expected = {(alert.name, rule.severity): held_for(alert, rule.severity)
                for alert in alerts for rule in alert.rules}  # fmt: skip
    # A row may say "as above" for a family whose windows repeat the one before it.
    stated = {key: cell for key, cell in rows.items() if cell != "as above"}
    assert {key for key in rows} == set(expected), "every alert and severity has a row"
    assert {key: expected[key] for key in stated} == stated
    assert set(by_name) == {name for name, _ in rows}


def test_every_figure_of_a_fires_when_cell_is_in_the_alert(alerts: tuple[Alert, ...], repo_root: Path) -> None:
    """A threshold, window or rate changed in the config but not in the table fails here."""
    by_name = {alert.name: alert for alert in alerts}
    name, stale = "", []
    for line in (repo_root / "docs" / "observability.md").read_text().splitlines():
        match = TABLE_ROW.match(line)
        if match is None:
            continue
        name = match.group(1) or name
        alert = by_name[name]
        said = " ".join([alert.runbook.meaning, *(r.expr for r in alert.rules), *(r.description for r in alert.rules)])
        stale += [(name, figure) for figure in FIGURE.findall(match.group(3)) if figure.removesuffix("/s") not in said]
    assert stale == []


# A recorded series named in the docs: `job:...:rate10m`, or with window alternatives `...:ratio_rate10m/1d`.
RECORDED_NAME = re.compile(r"`((?:job|stage)\w*:\w+:[\w/]+)`")
WINDOWED = re.compile(r"^(.*?)(\d+[smhd])$")


def documented_records(text: str) -> set[str]:
    """Every fully spelled recorded series the text names, window alternatives expanded.

    Shorthands that do not start with a whole name (``p50/p95/p99_rate5m/1h``) are left out.
    """
    names = set()
    for name in RECORDED_NAME.findall(text):
        first, *more = name.split("/")
        match = WINDOWED.match(first)
        if match is not None:
            names.add(first)
            names.update(match.group(1) + window for window in more if re.fullmatch(r"\d+[smhd]", window))
    return names


def test_every_recorded_series_the_docs_name_is_recorded(artifacts: dict[str, str], repo_root: Path) -> None:
    """A window changed in the config but not in the docs' recording table fails here."""
    recorded = set(re.findall(r"record: (\S+)", artifacts["prometheus/rules/recording.yml"]))
    named = documented_records((repo_root / "docs" / "observability.md").read_text())
    assert len(named) >= 10
    assert sorted(named - recorded) == []


def test_window_alternatives_expand_to_each_window() -> None:
    text = "`job_cache:x_hits:ratio_rate10m/1d`, `job:y:rate<W>`, `job:z:p50/p95_rate5m`"
    assert documented_records(text) == {
        "job_cache:x_hits:ratio_rate10m",
        "job_cache:x_hits:ratio_rate1d",
    }
