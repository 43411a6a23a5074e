"""docs/observability.md's alert table says what every alert's rules hold for (`for:`, `keep_firing_for:`)."""

from __future__ import annotations

import re
from pathlib import Path

from observability.rules.model import Alert

TABLE_ROW = re.compile(r"^\|\s*(AgentRuntime\w+)?\s*\| ([a-z /]+) \| .* \| ([^|]+) \|$")


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
            rows[(name, severity.strip())] = match.group(3).strip()
    expected = {(alert.name, rule.severity): held_for(alert, rule.severity)
                for alert in alerts for rule in alert.rules}  # fmt: skip
    # A row may say "as above" for a family whose windows repeat the one before it.
    stated = {key: cell for key, cell in rows.items() if cell != "as above"}
    assert {key for key in rows} == set(expected), "every alert and severity has a row"
    assert {key: expected[key] for key in stated} == stated
    assert set(by_name) == {name for name, _ in rows}
