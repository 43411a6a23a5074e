"""The YAML loader: valid files load, bad ones name the file, key and problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_runtime.config.loader import DEFAULT_CONFIG_PATH, load_config, parse_config
from agent_runtime.errors import ConfigError

GOOD = """
tools:
  search:
    timeout_seconds: 2
    ttl_seconds: 60
    cache_tags: [corpus]
    retry: {max_attempts: 3}
    breaker: {consecutive_failures: 3}
    fallback: backup
  backup: {}
agents:
  - name: researcher
    tools: [search]
    base_confidence: 0.6
    specialties:
      - domain: search
        keywords: {find: 1.0, look: 0.5}
    plan:
      - {id: s, tool: search, args: {query: "{task}"}}
routing:
  fallback_chain: [researcher]
stage_targets_seconds: {route: 0.001}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agents.yaml"
    path.write_text(text)
    return path


def test_loads_a_complete_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    search = config.tool("search")
    assert search is not None
    assert search.timeout_seconds == 2.0
    assert search.retry.max_attempts == 3
    assert search.breaker.consecutive_failures == 3
    assert search.cache_tags == ("corpus",)
    agent = config.agent("researcher")
    assert agent is not None
    assert agent.specialties[0].keywords == {"find": 1.0, "look": 0.5}
    assert agent.plan[0].args == {"query": "{task}"}
    assert config.routing.fallback_chain == ("researcher",)
    assert config.stage_targets_seconds == {"route": 0.001}


def test_routing_caches_take_a_byte_bound(tmp_path: Path) -> None:
    bounds = "decision_cache_max_bytes: 65536\n  analysis_cache_max_bytes: 4096"
    edited = GOOD.replace("fallback_chain: [researcher]", bounds)
    routing = load_config(write(tmp_path, edited)).routing
    assert (routing.decision_cache_max_bytes, routing.analysis_cache_max_bytes) == (65536, 4096)


def test_version_changes_with_content(tmp_path: Path) -> None:
    first = load_config(write(tmp_path, GOOD)).version
    second = load_config(write(tmp_path, GOOD.replace("0.6", "0.7"))).version
    assert first != second
    assert load_config(write(tmp_path, GOOD.replace("0.6", "0.7"))).version == second


@pytest.mark.parametrize(
    ("edit", "key", "problem"),
    [
        (("timeout_seconds: 2", "timeout_seconds: -1"), "tools.search.timeout_seconds", "must be > 0"),
        (("timeout_seconds: 2", "timeout_seconds: soon"), "tools.search.timeout_seconds", "must be a number"),
        (("ttl_seconds: 60", "ttl: 60"), "tools.search.ttl", "unknown key"),
        (("base_confidence: 0.6", "base_confidence: 1.5"), "agents.researcher.base_confidence", "between 0 and 1"),
        (("fallback: backup", "fallback: nowhere"), "tools.search.fallback", "unknown tool 'nowhere'"),
        (("fallback_chain: [researcher]", "fallback_chain: [ghost]"), "routing.fallback_chain", "unknown agent"),
        (("fallback_chain: [researcher]", "decision_cache_max_bytes: 0"), "routing.decision_cache_max_bytes",
         "must be > 0"),
        (("cache_tags: [corpus]", "cache_tags: corpus"), "tools.search.cache_tags", "list of strings"),
        (("{find: 1.0, look: 0.5}", "{find: -1}"), "agents.researcher.specialties[0].keywords.find", "weight"),
        (("- {id: s, tool", "- {tool"), "agents.researcher.plan[0].id", "non-empty string"),
        (("routing:", "cache: {layer_initial_backoff_seconds: 0}\nrouting:"), "cache.layer_initial_backoff_seconds",
         "must be > 0"),
        (("routing:", "cache: {layer_max_backoff_seconds: -1}\nrouting:"), "cache.layer_max_backoff_seconds",
         "must be > 0"),
        (("routing:", "cache: {layer_initial_backoff_seconds: 10, layer_max_backoff_seconds: 5}\nrouting:"),
         "cache.layer_max_backoff_seconds", "must be >= layer_initial_backoff_seconds (10), got 5; raise it or lower"),
    ],
)
def test_bad_values_name_file_key_and_problem(
    tmp_path: Path, edit: tuple[str, str], key: str, problem: str
) -> None:
    path = write(tmp_path, GOOD.replace(*edit))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {key}: ")
    assert problem in message


def test_invalid_yaml_reports_line(tmp_path: Path) -> None:
    path = write(tmp_path, "agents: [\n  - name: x\n   bad")
    with pytest.raises(ConfigError, match=r"agents.yaml: line \d+, column \d+: invalid YAML"):
        load_config(path)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")


def test_duplicate_agent_and_step_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"agents\.a: defined twice"):
        parse_config({"agents": [{"name": "a"}, {"name": "a"}]})
    plan = [{"id": "x", "tool": "t"}, {"id": "x", "tool": "t"}]
    with pytest.raises(ConfigError, match="duplicate step id 'x'"):
        parse_config({"agents": [{"name": "a", "plan": plan}]})


def test_env_var_selects_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_RUNTIME_CONFIG", str(write(tmp_path, GOOD)))
    assert load_config().agent("researcher") is not None


def test_default_file_is_valid() -> None:
    if not DEFAULT_CONFIG_PATH.exists():
        pytest.fail("the packaged default configuration is missing")
    config = load_config(DEFAULT_CONFIG_PATH)
    assert config.agents, "the default configuration declares agents"


def test_cache_layer_back_off_is_configured_in_the_cache_section() -> None:
    default = parse_config({}).cache
    assert (default.layer_initial_backoff_seconds, default.layer_max_backoff_seconds) == (5.0, 60.0)
    cache = parse_config({"cache": {"layer_initial_backoff_seconds": 0.5, "layer_max_backoff_seconds": 2}}).cache
    assert (cache.layer_initial_backoff_seconds, cache.layer_max_backoff_seconds) == (0.5, 2.0)
    packaged = load_config(DEFAULT_CONFIG_PATH).cache
    assert (packaged.layer_initial_backoff_seconds, packaged.layer_max_backoff_seconds) == (5.0, 60.0)
