"""Fixtures of the CLI tests: an isolated corpus and the test configurations."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFIG_YAML = """
agents:
  - name: summariser
    specialties: [{domain: text, keywords: {summarise: 1.0, summary: 1.0, sentence: 0.8}}]
    plan: [{id: summary, tool: extractive_summary, args: {text: "{task}", max_sentences: 1}}]
  - name: fetcher
    specialties: [{domain: web, keywords: {fetch: 1.0}}]
    plan: [{id: page, tool: extractive_summary, args: {text: "{context[url]}"}}]
  - name: broken
    specialties: [{domain: chaos, keywords: {explode: 1.0}}]
    plan: [{id: boom, tool: extractive_summary, args: {text: "{task}", max_sentences: 0}}]
routing: {fallback_chain: [summariser], min_confidence: 0.2}
"""


@pytest.fixture(autouse=True)
def isolated_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Built-in tools index an empty temp corpus into a temp file, never the user's cache."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    monkeypatch.setenv("AGENT_RUNTIME_CORPUS_PATHS", str(corpus))
    monkeypatch.setenv("AGENT_RUNTIME_CORPUS_INDEX", str(tmp_path / "index.sqlite3"))
    for name in ("AGENT_RUNTIME_CONFIG", "AGENT_RUNTIME_URL", "AGENT_RUNTIME_ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return corpus


@pytest.fixture()
def config_file(tmp_path: Path) -> Path:
    """A config of three agents over the deterministic ``extractive_summary`` tool."""
    path = tmp_path / "agents.yaml"
    path.write_text(CONFIG_YAML)
    return path
