"""The bundled agents answer the on-call question end to end: routing, Prometheus, runbooks."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request

from agent_runtime.cli.main import main
from tests.integration.service_fixtures import serve

QUESTION = "why is the cache hit rate dropping?"
FIRING = {"alertname": "AgentRuntimeCacheHitRateDrop", "alertstate": "firing", "severity": "warning"}
RUNBOOK = """# AgentRuntimeCacheHitRateDrop

## Meaning

The tool cache hit rate fell below its floor and well below its own recent baseline.

## Diagnosis

Compare the cache hit rate per layer with the hit rate an hour ago; a deploy or an
invalidation by tag empties the cache and the hit rate drops until it warms again.
"""


@pytest.fixture()
def prometheus_url() -> Iterator[str]:
    """A stand-in Prometheus HTTP API with one firing alert (the real one is tested elsewhere)."""
    fake = Flask("fake_prometheus")
    queries: list[str] = []

    @fake.post("/api/v1/query")
    def query() -> dict[str, Any]:
        queries.append(request.form["query"])
        sample = {"metric": {"__name__": "ALERTS", **FIRING}, "value": [1_700_000_000, "1"]}
        return {"status": "success", "data": {"resultType": "vector", "result": [sample]}}

    with serve(fake) as url:
        yield url
    assert queries == ['ALERTS{alertstate="firing"}']


def run_default(
    repo_root: Path, prometheus_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> dict[str, Any]:
    monkeypatch.chdir(repo_root)
    monkeypatch.setenv("AGENT_RUNTIME_PROMETHEUS_URL", prometheus_url)
    assert main(["run", QUESTION, "--json"]) == 0
    result: dict[str, Any] = json.loads(capsys.readouterr().out)
    return result


def test_cache_question_gets_firing_alerts_and_the_runbook(
    repo_root: Path,
    isolated_corpus: Path,
    prometheus_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (isolated_corpus / "AgentRuntimeCacheHitRateDrop.md").write_text(RUNBOOK)
    (isolated_corpus / "unrelated.md").write_text("# Lunch\n\nThe canteen opens at noon.\n")
    result = run_default(repo_root, prometheus_url, monkeypatch, capsys)
    assert result["agent"] == "diagnostics"
    assert result["decision"]["source"] == "scored"
    assert result["outcome"] == "success"
    calls = {call["tool"]: call for call in result["tool_calls"]}
    assert set(calls) == {"promql_query", "knowledge_search"}
    assert result["output"]["alerts"]["result"][0]["metric"]["alertname"] == "AgentRuntimeCacheHitRateDrop"
    passages = result["output"]["runbooks"]
    assert passages == calls["knowledge_search"]["result"]
    assert {Path(hit["path"]).name for hit in passages} == {"AgentRuntimeCacheHitRateDrop.md"}
    assert all("cache hit rate" in hit["text"].lower() for hit in passages)


def test_cache_question_finds_the_repository_runbook(
    repo_root: Path, prometheus_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The bundled corpus: runbooks/ and docs/ of this checkout.
    monkeypatch.delenv("AGENT_RUNTIME_CORPUS_PATHS")
    result = run_default(repo_root, prometheus_url, monkeypatch, capsys)
    assert result["agent"] == "diagnostics"
    passages = result["output"]["runbooks"]
    assert passages[0]["path"] == "runbooks/AgentRuntimeCacheHitRateDrop.md"
    assert all(re.search(r"hit (rate|ratio)", hit["text"], re.IGNORECASE) for hit in passages[:3])
