"""The default runtime that ``agent_runtime.bootstrap`` builds."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_runtime.bootstrap import build_runtime
from agent_runtime.builtin_tools import BuiltinToolSettings
from agent_runtime.config.loader import DEFAULT_CONFIG_PATH


def test_default_runtime_registers_builtin_and_composite_tools(tmp_path: Path) -> None:
    settings = BuiltinToolSettings(corpus_paths=(str(tmp_path),), index_path=str(tmp_path / "index.sqlite3"))
    runtime = build_runtime(DEFAULT_CONFIG_PATH, metrics_registry=None, builtin_settings=settings)
    try:
        specs = {spec.name: spec for spec in runtime.tool_specs()}
        assert {"knowledge_search", "vector_search", "merge_results", "write_answer"} <= set(specs)
        assert "llm_chat" not in specs
        # The investigator is an llm agent: with no model configured it is left out.
        assert [agent.name for agent in runtime.config.agents] == ["diagnostics", "researcher", "fetcher", "writer"]
        assert specs["promql_query"].retry.max_attempts == 3
    finally:
        runtime.close()


@pytest.mark.parametrize(
    ("task", "agent"),
    [
        ("why is the cache hit rate dropping?", "diagnostics"),
        ("p95 latency is high and the error budget is burning", "diagnostics"),
        ("the circuit breaker for promql_query is open", "diagnostics"),
        ("how does routing work?", "researcher"),
        ("explain the architecture of the tool pipeline", "researcher"),
        ("fetch the status page", "fetcher"),
        ("write a postmortem draft", "writer"),
        ("sing me a song", "researcher"),
    ],
)
def test_default_agents_route_on_call_questions(tmp_path: Path, task: str, agent: str) -> None:
    settings = BuiltinToolSettings(corpus_paths=(str(tmp_path),), index_path=str(tmp_path / "index.sqlite3"))
    runtime = build_runtime(DEFAULT_CONFIG_PATH, metrics_registry=None, builtin_settings=settings)
    try:
        assert runtime.route(task).agent == agent
    finally:
        runtime.close()
