"""register_builtin_tools and BuiltinToolSettings: names, default specs, env parsing, end-to-end calls."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agent_runtime.builtin_tools import BuiltinToolSettings, register_builtin_tools
from agent_runtime.builtin_tools.settings import LlmSettings
from agent_runtime.config.models import ToolSpec
from agent_runtime.errors import ConfigError, ToolError
from agent_runtime.registry import ToolRegistry
from agent_runtime.telemetry.listener import RuntimeListener

NETWORK_TOOLS = ("promql_query", "promql_range_query", "http_fetch")


@pytest.fixture()
def settings(corpus_dir: Path, tmp_path: Path) -> BuiltinToolSettings:
    return BuiltinToolSettings(
        corpus_root=str(corpus_dir),
        index_path=str(tmp_path / "index.sqlite3"),
        index_refresh_seconds=0.0,
    )


@pytest.fixture()
def registry(settings: BuiltinToolSettings) -> ToolRegistry:
    registry = ToolRegistry()
    register_builtin_tools(registry, settings, RuntimeListener())
    return registry


def test_registers_every_tool_but_an_unconfigured_llm(settings: BuiltinToolSettings) -> None:
    registry = ToolRegistry()
    names = register_builtin_tools(registry, settings, RuntimeListener())
    assert names == [
        "knowledge_search",
        "vector_search",
        "promql_query",
        "promql_range_query",
        "http_fetch",
        "extractive_summary",
    ]
    assert registry.names() == tuple(sorted(names))


def test_default_specs(registry: ToolRegistry) -> None:
    for name in NETWORK_TOOLS:
        assert registry.get(name).spec.retry.max_attempts == 3, name
    assert registry.get("knowledge_search").spec.retry.max_attempts == 1
    assert registry.get("vector_search").spec.fallback == "knowledge_search"
    assert registry.get("http_fetch").spec.cache_tags == ("web",)
    assert registry.get("promql_query").spec.cache_tags == ("prometheus",)
    assert registry.get("knowledge_search").spec.cache_tags == ("corpus",)
    # The pipeline's timeout leaves room for the tool's own connect + read timeouts.
    assert registry.get("promql_query").spec.timeout_seconds > 2.0 + 15.0
    assert all(tool.spec.description for tool in registry)


def test_registering_twice_is_refused(registry: ToolRegistry, settings: BuiltinToolSettings) -> None:
    with pytest.raises(ConfigError, match="registered twice"):
        register_builtin_tools(registry, settings, RuntimeListener())


def test_yaml_overrides_go_through_configure(registry: ToolRegistry) -> None:
    registry.configure(ToolSpec(name="knowledge_search", ttl_seconds=5.0))
    assert registry.get("knowledge_search").spec.ttl_seconds == 5.0
    assert registry.get("knowledge_search").func(query="breaker")


def test_search_and_summary_chain_through_the_registry(registry: ToolRegistry) -> None:
    hits = registry.get("knowledge_search").func(query="cache hit ratio floor", top_k=3)
    similar = registry.get("vector_search").func(query="cache hit ratio floor", top_k=3)
    assert hits[0]["path"] == similar[0]["path"] == "runbooks/CacheHitRateLow.md"
    summary = registry.get("extractive_summary").func(passages=hits, max_sentences=1)
    assert len(summary["sentences"]) == 1
    json.dumps([hits, similar, summary])


def test_http_fetch_refuses_everything_by_default(registry: ToolRegistry) -> None:
    with pytest.raises(ToolError, match="allows no hosts"):
        registry.get("http_fetch").func(url="https://example.com/")


def test_from_env_reads_every_variable() -> None:
    env = {
        "AGENT_RUNTIME_CORPUS_PATHS": os.pathsep.join(["runbooks", "extra/notes"]),
        "AGENT_RUNTIME_CORPUS_ROOT": "/srv/kb",
        "AGENT_RUNTIME_CORPUS_INDEX": "/var/cache/kb.sqlite3",
        "AGENT_RUNTIME_PROMETHEUS_URL": "http://prometheus:9090",
        "AGENT_RUNTIME_HTTP_ALLOWED_HOSTS": "docs.example.com, *.wiki.example.com ,",
        "AGENT_RUNTIME_HTTP_ALLOW_PRIVATE": "yes",
        "AGENT_RUNTIME_HTTP_MAX_RESPONSE_BYTES": "2048",
        "AGENT_RUNTIME_LLM_BASE_URL": "http://llm:8000/v1",
        "AGENT_RUNTIME_LLM_MODEL": "small",
        "AGENT_RUNTIME_LLM_API_KEY": "sk-abc",
        "AGENT_RUNTIME_LLM_PROVIDER": "vllm",
    }
    settings = BuiltinToolSettings.from_env(env)
    assert settings.corpus_paths == ("runbooks", "extra/notes")
    assert settings.corpus_root == "/srv/kb"
    assert settings.index_path == "/var/cache/kb.sqlite3"
    assert settings.prometheus_url == "http://prometheus:9090"
    assert settings.http_allowed_hosts == ("docs.example.com", "*.wiki.example.com")
    assert settings.allow_private is True
    assert settings.max_response_bytes == 2048
    assert settings.llm == LlmSettings(base_url="http://llm:8000/v1", model="small", api_key="sk-abc", provider="vllm")
    assert settings.llm.is_configured
    assert "sk-abc" not in repr(settings)


def test_from_env_defaults() -> None:
    settings = BuiltinToolSettings.from_env({})
    assert settings == BuiltinToolSettings()
    assert settings.prometheus_url == "http://127.0.0.1:9090"
    assert settings.corpus_paths == ("runbooks", "docs")
    assert not settings.llm.is_configured


@pytest.mark.parametrize(
    ("name", "value"),
    [("AGENT_RUNTIME_HTTP_ALLOW_PRIVATE", "maybe"), ("AGENT_RUNTIME_HTTP_MAX_RESPONSE_BYTES", "1MB")],
)
def test_from_env_rejects_bad_values(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        BuiltinToolSettings.from_env({name: value})


def test_invalid_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="max_response_bytes"):
        BuiltinToolSettings(max_response_bytes=0)
    with pytest.raises(ConfigError, match="http_max_redirects"):
        BuiltinToolSettings(http_max_redirects=-1)


def test_relative_corpus_paths_resolve_against_the_root(tmp_path: Path) -> None:
    settings = BuiltinToolSettings(corpus_paths=("runbooks", "/abs/docs"), corpus_root=str(tmp_path))
    assert settings.resolved_corpus_paths() == (tmp_path.resolve() / "runbooks", Path("/abs/docs"))


def test_default_root_is_the_checkout_or_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, repo_root: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    # From a source checkout, relative paths that exist there resolve against it, wherever the cwd is.
    assert BuiltinToolSettings(corpus_paths=("agent_runtime",)).resolved_corpus_root() == repo_root
    assert BuiltinToolSettings(corpus_paths=("no-such-folder",)).resolved_corpus_root() == tmp_path.resolve()
