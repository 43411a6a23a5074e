"""The tool cache's L2 against a real redis-server."""

from __future__ import annotations

import json
import logging
import pickle
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent_runtime.config.models import CacheSettings, ToolSpec
from agent_runtime.ops.stack.ports import free_port
from agent_runtime.registry import ToolRegistry
from agent_runtime.tools.cache import ToolCache
from agent_runtime.tools.pipeline import ToolPipeline

pytestmark = pytest.mark.integration
redis = pytest.importorskip("redis", reason="the optional redis package: pip install 'agent-runtime[redis]'")

SEARCH = ToolSpec(name="search", ttl_seconds=30, cache_tags=("web",))
QUOTE = ToolSpec(name="quote", ttl_seconds=30, cache_tags=("finance",))
HEALTH_LOGGER = "agent_runtime.tools.layer_health"


@pytest.fixture()
def caches(redis_url: str) -> Iterator[tuple[ToolCache, ToolCache]]:
    """Two caches as two processes would have them: separate L0, no L1, one Redis."""
    settings = CacheSettings(redis_url=redis_url)
    first = ToolCache(settings, generation_refresh_seconds=0)
    second = ToolCache(settings, generation_refresh_seconds=0)
    yield first, second
    first.close()
    second.close()


def remember(cache: ToolCache, spec: ToolSpec, args: dict[str, Any], value: Any) -> None:
    lookup = cache.lookup(spec, args)
    assert not lookup.hit
    cache.store(lookup, value, 0.4)


def test_a_result_stored_by_one_cache_is_a_hit_in_the_other(caches: tuple[ToolCache, ToolCache]) -> None:
    first, second = caches
    remember(first, SEARCH, {"q": "otel", "n": 3}, {"hits": (1, 2, 3)})

    shared = second.lookup(SEARCH, {"n": 3, "q": "otel"})

    # Values travel as JSON: a tuple comes back from L2 as a list.
    assert (shared.hit, shared.layer, shared.value) == (True, "l2", {"hits": [1, 2, 3]})
    assert shared.saved_seconds == pytest.approx(0.4)
    assert second.lookup(SEARCH, {"q": "otel", "n": 3}).layer == "l0"  # promoted
    assert second.stats()["layers"]["l2"]["hits"] == 1


def test_tag_invalidation_in_one_cache_is_seen_by_the_other(caches: tuple[ToolCache, ToolCache]) -> None:
    first, second = caches
    remember(first, SEARCH, {"q": "a"}, 1)
    remember(first, QUOTE, {"sym": "X"}, 2)
    assert second.lookup(SEARCH, {"q": "a"}).hit  # now in second's L0 as well

    first.invalidate(tag="web")

    assert not second.lookup(SEARCH, {"q": "a"}).hit
    assert not first.lookup(SEARCH, {"q": "a"}).hit
    assert second.lookup(QUOTE, {"sym": "X"}).hit


def test_entries_carry_the_tool_ttl_in_redis(redis_url: str, caches: tuple[ToolCache, ToolCache]) -> None:
    first, _ = caches
    remember(first, SEARCH, {"q": "ttl"}, 1)

    client = redis.Redis.from_url(redis_url)
    [key] = [k for k in client.scan_iter("agent_runtime:tool_cache:search:*")]
    assert 0 < client.pttl(key) <= 30_000
    client.close()


def test_pipelines_in_two_processes_share_results_through_redis(redis_url: str) -> None:
    calls: list[str] = []
    registry = ToolRegistry()

    @registry.tool(ttl_seconds=30)
    def lookup_host(host: str) -> str:
        calls.append(host)
        return f"{host}=10.0.0.1"

    settings = CacheSettings(redis_url=redis_url)
    with (
        ToolPipeline(registry, ToolCache(settings)) as one,
        ToolPipeline(registry, ToolCache(settings)) as two,
    ):
        assert one.call("lookup_host", {"host": "db"}).cache_layer is None
        report = two.call("lookup_host", {"host": "db"})

    assert (report.outcome, report.cache_layer, report.attempts) == ("success", "l2", 0)
    assert calls == ["db"]


def test_unreachable_redis_degrades_l2_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    closed_port = free_port()  # nothing listens there
    registry = ToolRegistry()
    registry.register(ToolSpec(name="echo", ttl_seconds=30, cache_tags=("t",)), lambda x: x)
    cache = ToolCache(CacheSettings(redis_url=f"redis://127.0.0.1:{closed_port}/0"), retry_after_seconds=0)
    caplog.set_level(logging.WARNING, logger=HEALTH_LOGGER)

    with ToolPipeline(registry, cache) as pipeline:
        reports = [pipeline.call("echo", {"x": n % 5}) for n in range(20)]
        pipeline.invalidate(tag="t")
        after = pipeline.call("echo", {"x": 1})

    assert all(r.outcome == "success" for r in reports)
    assert [r.result for r in reports] == [n % 5 for n in range(20)]
    assert [r.cache_layer for r in reports[5:]] == ["l0"] * 15  # L0 keeps working
    assert after.cache_layer is None  # the local invalidation still applies
    warnings = [r for r in caplog.records if r.name == HEALTH_LOGGER]
    assert len(warnings) == 1
    assert "l2" in warnings[0].getMessage()
    l2 = cache.stats()["layers"]["l2"]
    assert l2["degraded"] is True
    assert l2["errors"] >= 20


class _Exploit:
    """Unpickling this creates ``marker``: proof that reading the cache ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def test_values_in_redis_are_json_and_a_planted_pickle_is_never_run(
    redis_url: str, caches: tuple[ToolCache, ToolCache], tmp_path: Path
) -> None:
    """Anyone who can write to the Redis used to be able to run code in every worker (pickle)."""
    first, second = caches
    remember(first, SEARCH, {"q": "json"}, {"hits": ["a", "b"]})
    client = redis.Redis.from_url(redis_url)
    [key] = list(client.scan_iter("agent_runtime:tool_cache:search:*"))
    stored = json.loads(client.get(key))
    assert stored == {"v": 1, "tool": "search", "value": {"hits": ["a", "b"]}, "seconds": 0.4,
                      "expires_at": stored["expires_at"], "dollars": 0.0}  # fmt: skip

    marker = tmp_path / "pwned"
    planted = second.lookup(SEARCH, {"q": "planted"})
    assert planted.key is not None and not planted.hit
    assert planted.shared_key is not None  # the L1/L2 key; the L0 key is a tuple
    client.set("agent_runtime:tool_cache:" + planted.shared_key, pickle.dumps(_Exploit(marker)))
    client.close()
    fresh = ToolCache(CacheSettings(redis_url=redis_url), generation_refresh_seconds=0)
    try:
        assert not fresh.lookup(SEARCH, {"q": "planted"}).hit
    finally:
        fresh.close()
    assert not marker.exists()
    assert fresh.stats()["layers"]["l2"]["degraded"] is False


def test_an_invalidation_made_while_redis_paused_reaches_the_others_and_hides_none(redis_url: str) -> None:
    """Kept only as a local floor, it never reached the other process and swallowed that one's next invalidation."""
    settings = CacheSettings(redis_url=redis_url, redis_timeout_seconds=0.1)
    first, second = (ToolCache(settings, generation_refresh_seconds=0, retry_after_seconds=0) for _ in range(2))
    admin = redis.Redis.from_url(redis_url)
    try:
        remember(second, SEARCH, {"q": "a"}, "before the change")
        admin.execute_command("CLIENT", "PAUSE", "400", "ALL")  # a blip: the first process's bump times out
        first.invalidate(tool="search")
        assert first._generations._floor
        time.sleep(0.5)
        assert not first.lookup(SEARCH, {"q": "a"}).hit  # Redis answers: the missed bump is made there too
        assert not first._generations._floor
        assert not second.lookup(SEARCH, {"q": "a"}).hit  # so the other process sees it
        remember(first, SEARCH, {"q": "a"}, "computed before the second change")
        second.invalidate(tool="search")  # the next invalidation, by the other process: seen by both
        assert not first.lookup(SEARCH, {"q": "a"}).hit
        assert not second.lookup(SEARCH, {"q": "a"}).hit
    finally:
        admin.close()
        first.close()
        second.close()
