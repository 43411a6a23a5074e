"""``agent-runtime agents`` and ``agent-runtime tools``: what a configuration defines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent_runtime.cli.main import main


def test_agents_table_and_routing(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["agents", "--config", str(config_file)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["agent", "kind", "base", "tools", "domains", "description"]
    assert [line.split()[0] for line in lines[1:4]] == ["summariser", "fetcher", "broken"]
    assert lines[-1] == "routing: min confidence 0.20, fallback chain summariser, planning agent -"


def test_default_agents_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["agents", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert [agent["name"] for agent in body["agents"]] == [
        "diagnostics",
        "researcher",
        "fetcher",
        "writer",
        "investigator",
    ]
    diagnostics = body["agents"][0]
    assert [step["tool"] for step in diagnostics["plan"]] == ["promql_query", "knowledge_search"]


def test_tools_table_shows_settings_from_the_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tools"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert {"knowledge_search", "vector_search", "promql_query", "http_fetch", "write_answer"} <= set(rows)
    assert rows["merge_results"].split()[3] == "never"
    assert rows["vector_search"].split()[-1] == "knowledge_search"
    assert rows["promql_query"].split()[-3] == "3"


def test_tools_as_json(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tools", "--json", "--config", str(config_file)]) == 0
    tools = {tool["name"]: tool for tool in json.loads(capsys.readouterr().out)["tools"]}
    assert tools["knowledge_search"]["cache_tags"] == ["corpus"]
    assert tools["promql_query"]["retry"]["max_attempts"] == 3


def test_agents_with_a_broken_config_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("routing:\n  fallback_chain: [ghost]\n")
    assert main(["agents", "--config", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"agent-runtime: error: {bad}: routing.fallback_chain: names unknown agent 'ghost'"
