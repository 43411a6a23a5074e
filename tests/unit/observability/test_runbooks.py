"""Runbooks: one per alert, the four sections, parseable PromQL, working links."""

from __future__ import annotations

import re
from pathlib import Path

import promql_parser

from observability.config import ObservabilityConfig
from observability.links import DASHBOARDS
from observability.rules.model import Alert
from observability.runbooks import SECTIONS
from tests.unit.observability.helpers import code_blocks


def _runbook(artifacts: dict[str, str], name: str) -> str:
    return artifacts[f"runbooks/{name}.md"]


def test_one_runbook_per_alert_and_an_index(artifacts: dict[str, str], alerts: tuple[Alert, ...]) -> None:
    files = {p.removeprefix("runbooks/") for p in artifacts if p.startswith("runbooks/")}
    assert files == {f"{a.name}.md" for a in alerts} | {"README.md"}


def test_runbook_sections_in_order_and_not_empty(artifacts: dict[str, str], alerts: tuple[Alert, ...]) -> None:
    for alert in alerts:
        text = _runbook(artifacts, alert.name)
        assert f"\n# {alert.name}\n" in text
        positions = [text.index(f"\n{section}\n") for section in SECTIONS]
        assert positions == sorted(positions), alert.name
        bodies = re.split(r"^## .*$", text, flags=re.M)[1:]
        assert len(bodies) == 4 and all(body.strip() for body in bodies), alert.name


def test_diagnosis_has_promql_a_dashboard_and_a_command(artifacts: dict[str, str], alerts: tuple[Alert, ...]) -> None:
    for alert in alerts:
        text = _runbook(artifacts, alert.name)
        diagnosis = text[text.index("## Diagnosis"):text.index("## Mitigation")]
        mitigation = text[text.index("## Mitigation"):]
        assert code_blocks(diagnosis, "promql"), alert.name
        assert code_blocks(diagnosis, "shell"), alert.name
        assert "panel **" in diagnosis, alert.name
        assert code_blocks(mitigation, "shell"), alert.name


def test_every_promql_block_parses(artifacts: dict[str, str], alerts: tuple[Alert, ...]) -> None:
    count = 0
    for alert in alerts:
        for block in code_blocks(_runbook(artifacts, alert.name), "promql"):
            promql_parser.parse(block)
            count += 1
    assert count >= 2 * len(alerts)


def test_code_block_extraction_keeps_the_query_intact() -> None:
    markdown = "1. Step:\n\n   ```promql\n   sum(\n     x\n   )\n   ```\n"
    assert code_blocks(markdown, "promql") == ["sum(\n  x\n)"]


def test_runbook_shows_the_alert_rules_and_summary(artifacts: dict[str, str], alerts: tuple[Alert, ...]) -> None:
    for alert in alerts:
        text = _runbook(artifacts, alert.name)
        assert f"> {alert.summary}" in text
        assert text.count("\n| ") - 1 == len(alert.rules), alert.name


def test_dashboard_links_use_the_grafana_url(
    artifacts: dict[str, str], alerts: tuple[Alert, ...], config: ObservabilityConfig
) -> None:
    valid = {d.url(config.grafana_url) for d in DASHBOARDS.values()}
    for alert in alerts:
        links = re.findall(r"\]\((http[^)]+)\), panel", _runbook(artifacts, alert.name))
        assert links and set(links) <= valid, alert.name


def test_index_lists_every_alert_with_its_severities(artifacts: dict[str, str], alerts: tuple[Alert, ...]) -> None:
    index = artifacts["runbooks/README.md"]
    for alert in alerts:
        assert f"| [{alert.name}]({alert.name}.md) | {', '.join(alert.severities)} | {alert.summary} |" in index
    assert "| [AgentRuntimeTaskErrorBudgetBurn](AgentRuntimeTaskErrorBudgetBurn.md) | critical, warning |" in index


def test_the_docs_describe_every_alert(repo_root: Path, alerts: tuple[Alert, ...]) -> None:
    docs = (repo_root / "docs/observability.md").read_text()
    for alert in alerts:
        assert f"| {alert.name} |" in docs, alert.name
