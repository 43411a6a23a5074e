"""Every dashboard query and every runbook PromQL block, against the live Prometheus under load.

Grafana's variables are resolved the way Grafana resolves them: each query
variable's ``label_values(...)`` is asked of Prometheus (after substituting
the variables before it) and its values are joined into the regex Grafana
sends for a multi-value selection; ``$__rate_interval``, ``$__interval`` and
``$__range`` get values fitting the one-second scrape. Panel queries run as
range queries over the last minutes of the session, after the fault drill,
so series that only faults create (retries, open breakers, dropped spans)
exist too.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.drill import DrillResult
from tests.e2e.live import LiveStack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

REPO_ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((REPO_ROOT / "grafana" / "dashboards").glob("*.json"))
RUNBOOKS = sorted((REPO_ROOT / "runbooks").glob("*.md"))
# Grafana's built-in interval variables for a 1 s scrape: $__rate_interval is at least four scrapes;
# 15 s keeps several samples in every window whatever the evaluation jitter.
BUILTINS = {"__rate_interval": "15s", "__interval": "5s", "__range": "5m", "__range_s": "300", "__interval_ms": "5000"}
RANGE_SECONDS = 240
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
_LABEL_VALUES = re.compile(r"^\s*label_values\((?:(.*),\s*)?(\w+)\)\s*$", re.S)
_PROMQL_BLOCK = re.compile(r"```promql\n(.*?)```", re.S)


def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in rows."""
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, expr) for every Prometheus target of every panel."""
    found = []
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        for panel in panels(dashboard.get("panels", [])):
            for target in panel.get("targets", []):
                if target.get("expr"):
                    found.append((path.name, str(panel.get("title")), str(target["expr"])))
    return found


def runbook_blocks() -> list[tuple[str, str]]:
    """(runbook file, PromQL) for every ```promql block."""
    return [(path.name, block.strip()) for path in RUNBOOKS for block in _PROMQL_BLOCK.findall(path.read_text())]


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """``expr`` with ``$name`` / ``${name}`` / ``${name:format}`` replaced; unknown names fail loudly."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise AssertionError(f"unknown variable ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(replace, expr)


def resolve_variables(live: LiveStack, dashboard: dict[str, Any]) -> dict[str, str]:
    """Dashboard variables → the value Grafana would put in a query (all values of each query variable)."""
    values = dict(BUILTINS)
    for variable in dashboard.get("templating", {}).get("list", []):
        name = variable["name"]
        if variable["type"] == "datasource":
            values[name] = "prometheus"
            continue
        query = variable.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        match = _LABEL_VALUES.match(substitute(str(query), values))
        assert match, f"{name}: only label_values(...) variables are supported, got {query!r}"
        selector, label = match.group(1) or "up", match.group(2)
        series = requests.get(f"{live.prometheus_url}/api/v1/series", params={"match[]": selector,
                              "start": str(time.time() - RANGE_SECONDS)}, timeout=10).json()["data"]  # fmt: skip
        options = sorted({s[label] for s in series if label in s})
        assert options, f"variable ${name} ({query}) has no values"
        # Grafana escapes regex metacharacters, then backslashes again for the PromQL string literal.
        escaped = [re.escape(option).replace("\\", "\\\\") for option in options]
        values[name] = options[0] if len(options) == 1 else "(" + "|".join(escaped) + ")"
    return values


@pytest.fixture(scope="module")
def variables(live_stack: LiveStack, drill: DrillResult) -> dict[str, dict[str, str]]:
    """Resolved variables per dashboard file (after the drill, so every series exists)."""
    return {path.name: resolve_variables(live_stack, json.loads(path.read_text())) for path in DASHBOARDS}


def test_there_are_dashboards_and_runbooks_to_check() -> None:
    assert len(DASHBOARDS) >= 4
    assert len(panel_queries()) >= 20
    assert runbook_blocks()


@pytest.fixture(scope="module")
def drill_window(live_stack: LiveStack, drill: DrillResult) -> tuple[str, float]:
    """Prometheus's URL and when the drill's first wave started.

    Panels are queried over the whole drill: some series (the model's, the LLM cache's) move only in the
    waves that send model traffic, which can end more than RANGE_SECONDS before a panel's turn.
    """
    return live_stack.prometheus_url, min((wave.started for wave in drill.waves), default=time.time() - RANGE_SECONDS)


@pytest.mark.parametrize(("dashboard", "title", "expr"), panel_queries(),
                         ids=[f"{d}:{t}" for d, t, _ in panel_queries()])  # fmt: skip
def test_every_panel_query_returns_series(
    drill_window: tuple[str, float], variables: dict[str, dict[str, str]], dashboard: str, title: str, expr: str
) -> None:
    query = substitute(expr, variables[dashboard])
    prometheus_url, start = drill_window
    end = time.time()
    response = requests.post(f"{prometheus_url}/api/v1/query_range", timeout=20, data={
        "query": query, "start": str(start), "end": str(end), "step": "5"})  # fmt: skip
    body = response.json()
    assert body.get("status") == "success", f"{dashboard} / {title}: {body.get('error')}\n{query}"
    assert body["data"]["result"], f"{dashboard} / {title} returned no series:\n{query}"


@pytest.mark.parametrize(("runbook", "promql"), runbook_blocks(), ids=[r for r, _ in runbook_blocks()])
def test_every_runbook_promql_block_runs(live_stack: LiveStack, drill: DrillResult, runbook: str, promql: str) -> None:
    query = substitute(promql, {"job": "agent-runtime", **BUILTINS})
    live_stack.query(query)
