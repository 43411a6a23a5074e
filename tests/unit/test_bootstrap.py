"""build_runtime: deployment overrides from the environment and bounded GenAI labels."""

from __future__ import annotations

from agent_runtime.bootstrap import _with_deployment_overrides
from agent_runtime.config.loader import parse_config


def test_environment_sets_redis_and_cache_directory() -> None:
    config = parse_config({"cache": {"redis_url": "redis://config:6379/0"}})
    changed = _with_deployment_overrides(
        config, {"AGENT_RUNTIME_REDIS_URL": "redis://redis:6379/1", "AGENT_RUNTIME_CACHE_DIR": "/var/cache/x"}
    )
    assert changed.cache.redis_url == "redis://redis:6379/1"
    assert changed.cache.directory == "/var/cache/x"
    assert _with_deployment_overrides(config, {}) is config
