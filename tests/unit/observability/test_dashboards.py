"""The generated dashboards: schema, SDK round trip and the panel conventions."""

from __future__ import annotations

import json
from datetime import timedelta
from itertools import combinations
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from grafana_foundation_sdk.cog import plugins
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard as DashboardModel

from observability.dashboards.common import PROMETHEUS_UID
from observability.links import DASHBOARD_TAG, DASHBOARDS
from observability.rules.model import Alert
from tests.support.binaries import in_ci
from tests.unit.observability.helpers import (
    RATE_INTERVAL_STANDIN,
    grafana_to_promql,
    nodes,
    panels,
    range_functions,
)

_RATE = timedelta(seconds=int(RATE_INTERVAL_STANDIN.rstrip("s")))


@pytest.fixture(scope="module")
def schema(repo_root: Path) -> dict[str, Any]:
    # The schema lives in shared/, beside the checkout (as in CI).
    path = repo_root.parent / "shared" / "schemas" / "grafana-dashboard.jsonschema.json"
    if not path.is_file():
        message = f"the shared dashboard schema is not at {path}"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    data = json.loads(path.read_text())
    assert isinstance(data, dict)
    return data


def test_every_dashboard_exists(dashboards: dict[str, dict[str, Any]]) -> None:
    assert {d["uid"]: d["title"] for d in dashboards.values()} == {d.uid: d.title for d in DASHBOARDS.values()}
    for board in dashboards.values():
        assert board["tags"] == [DASHBOARD_TAG] and board["editable"] is False


def test_dashboards_validate_against_grafana_schema(
    dashboards: dict[str, dict[str, Any]], schema: dict[str, Any]
) -> None:
    for board in dashboards.values():
        jsonschema.validate(board, schema)


def test_schema_validation_is_strict(dashboards: dict[str, dict[str, Any]], schema: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(dashboards["overview.json"]))
    broken["panelz"] = []
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_dashboards_round_trip_through_the_sdk_models(dashboards: dict[str, dict[str, Any]]) -> None:
    plugins.register_default_plugins()
    for board in dashboards.values():
        decoded = DashboardModel.from_json(board)
        assert json.loads(json.dumps(decoded, cls=JSONEncoder)) == board


def test_every_panel_has_datasource_unit_and_queries(dashboards: dict[str, dict[str, Any]]) -> None:
    for name, board in dashboards.items():
        for panel in panels(board):
            where = f"{name}: {panel['title']}"
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, where
            assert panel["fieldConfig"]["defaults"].get("unit"), where
            assert panel.get("description"), where
            assert panel["targets"], where
            assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"]), where
            for target in panel["targets"]:
                assert target["datasource"] == panel["datasource"] and target["expr"].strip(), where


def test_every_range_uses_the_rate_interval(dashboards: dict[str, dict[str, Any]]) -> None:
    for board in dashboards.values():
        for panel in panels(board):
            for target in panel["targets"]:
                expr = grafana_to_promql(target["expr"])
                functions = range_functions(expr)
                assert all(window == _RATE for _, window in functions), (panel["title"], functions)
                subqueries = [n for n in nodes(expr) if type(n).__name__ == "SubqueryExpr"]
                assert all(s.step == _RATE for s in subqueries), panel["title"]


def test_rate_interval_check_sees_literal_windows() -> None:
    assert range_functions(grafana_to_promql("rate(x[5m])")) == [("rate", timedelta(minutes=5))]


def test_panel_titles_are_unique_and_the_grid_does_not_overlap(dashboards: dict[str, dict[str, Any]]) -> None:
    for name, board in dashboards.items():
        titles = [p["title"] for p in panels(board)]
        assert len(titles) == len(set(titles)), name
        boxes = [p["gridPos"] for p in board["panels"]]
        for box in boxes:
            assert box["x"] >= 0 and box["x"] + box["w"] <= 24, (name, box)
        for a, b in combinations(boxes, 2):
            apart = (a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"]
                     or a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"])
            assert apart, (name, a, b)


def test_variables_chain_datasource_job_instance(dashboards: dict[str, dict[str, Any]]) -> None:
    for board in dashboards.values():
        variables = board["templating"]["list"]
        assert [v["name"] for v in variables] == ["datasource", "job", "instance"]
        datasource, job, instance = variables
        assert datasource["type"] == "datasource" and datasource["query"] == "prometheus"
        assert datasource["current"]["value"] == PROMETHEUS_UID
        for variable in (job, instance):
            assert variable["type"] == "query" and variable["datasource"]["uid"] == "${datasource}"
            assert variable["query"].startswith("label_values(") and variable["includeAll"] is True
        assert "$instance" not in job["query"] and '{job=~"$job"}' in instance["query"]


def test_provisioned_datasource_uid_matches_the_dashboards(repo_root: Path) -> None:
    provisioning = yaml.safe_load((repo_root / "grafana/provisioning/datasources/datasources.yaml").read_text())
    by_uid = {ds["uid"]: ds for ds in provisioning["datasources"]}
    assert by_uid[PROMETHEUS_UID]["url"] == "http://prometheus:9090"
    destinations = by_uid[PROMETHEUS_UID]["jsonData"]["exemplarTraceIdDestinations"]
    assert [d["datasourceUid"] for d in destinations] == ["jaeger"] and "jaeger" in by_uid


def test_latency_panels_show_exemplars(dashboards: dict[str, dict[str, Any]]) -> None:
    exemplar_exprs = [t["expr"] for b in dashboards.values() for p in panels(b) for t in p["targets"]
                      if t.get("exemplar")]
    assert any("agent_runtime_task_duration_seconds_bucket" in e for e in exemplar_exprs)
    assert any("agent_runtime_tool_duration_seconds_bucket" in e for e in exemplar_exprs)
    assert any("gen_ai_client_operation_duration_seconds_bucket" in e for e in exemplar_exprs)


def test_agents_dashboard_covers_agents_models_and_the_server(dashboards: dict[str, dict[str, Any]]) -> None:
    titles = {p["title"] for p in panels(dashboards["agents.json"])}
    assert {
        "Tasks by agent kind", "Model turns per task", "Tool calls per task", "Agent stop reasons",
        "Tokens per second", "Model cost per hour", "Cost saved by cache per hour", "Model call latency",
        "Model errors by type", "Model server throughput", "Model server queue", "Invalid actions by kind",
        "Cache layer up",
    } <= titles
    assert "Tasks by agent kind" in {p["title"] for p in panels(dashboards["overview.json"])}
    assert "Cache layer up" in {p["title"] for p in panels(dashboards["tools.json"])}
    kinds = [t["expr"] for p in panels(dashboards["agents.json"]) if p["title"] == "Tasks by agent kind"
             for t in p["targets"]]
    assert kinds and all("group_left (kind)" in e and "agent_runtime_agent_info" in e for e in kinds)


def test_runbook_links_point_at_existing_alerts(
    dashboards: dict[str, dict[str, Any]], alerts: tuple[Alert, ...]
) -> None:
    names = {a.name for a in alerts}
    linked = set()
    for board in dashboards.values():
        for panel in panels(board):
            for link in panel.get("links", []):
                alert = link["url"].rsplit("/", 1)[1].removesuffix(".md")
                assert alert in names, link
                linked.add(alert)
    assert len(linked) >= 8


def test_runbook_panel_references_exist(dashboards: dict[str, dict[str, Any]], alerts: tuple[Alert, ...]) -> None:
    titles = {d["uid"]: {p["title"] for p in panels(d)} for d in dashboards.values()}
    for alert in alerts:
        assert alert.runbook.panels, alert.name
        for ref in alert.runbook.panels:
            assert ref.panel in titles[DASHBOARDS[ref.dashboard].uid], (alert.name, ref)
