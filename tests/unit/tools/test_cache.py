"""ToolCache: keys, TTL, bypass, invalidation, promotion, warming, accounting, degradation."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import diskcache
import pytest

from agent_runtime.config.models import CacheSettings, ToolSpec
from agent_runtime.tools.cache import HIT_SAMPLE, ToolCache
from agent_runtime.tools.layers import DiskLayer
from tests.unit.tools.conftest import FakeClock, RecordingListener

SEARCH = ToolSpec(name="search", ttl_seconds=60, cache_tags=("web",), cost_per_call=0.02)
FETCH = ToolSpec(name="fetch", ttl_seconds=600, cache_tags=("web", "http"))
QUOTE = ToolSpec(name="quote", ttl_seconds=60, cache_tags=("finance",))
SEND = ToolSpec(name="send_mail", cacheable=False)

HEALTH_LOGGER = "agent_runtime.tools.layer_health"


def remember(cache: ToolCache, spec: ToolSpec, args: Mapping[str, Any], value: Any, seconds: float = 0.5) -> None:
    lookup = cache.lookup(spec, args)
    assert not lookup.hit
    cache.store(lookup, value, seconds)


def test_arguments_without_a_canonical_form_are_not_cached() -> None:
    cache = ToolCache(CacheSettings())
    cyclic: list[Any] = []
    cyclic.append(cyclic)

    for args in ({"x": cyclic}, {"x": {1: "a", "b": 2}}):
        lookup = cache.lookup(SEARCH, args)
        cache.store(lookup, "value", 0.1)
        assert lookup.key is None
        assert not cache.lookup(SEARCH, args).hit


def test_hit_returns_what_the_miss_stored(clock: FakeClock) -> None:
    cache = ToolCache(CacheSettings(), clock=clock)
    value = {"hits": [1, 2, 3], "query": "otel"}
    remember(cache, SEARCH, {"q": "otel", "limit": 3}, value)

    hit = cache.lookup(SEARCH, {"limit": 3, "q": "otel"})

    assert hit.hit
    assert hit.layer == "l0"
    assert hit.value == value
    assert not cache.lookup(SEARCH, {"q": "otel", "limit": 4}).hit


def test_entries_expire_after_the_tool_ttl(clock: FakeClock) -> None:
    cache = ToolCache(CacheSettings(), clock=clock)
    remember(cache, SEARCH, {"q": "a"}, 1)  # ttl 60
    remember(cache, FETCH, {"url": "u"}, 2)  # ttl 600

    clock.advance(59)
    assert cache.lookup(SEARCH, {"q": "a"}).hit
    clock.advance(2)
    assert not cache.lookup(SEARCH, {"q": "a"}).hit
    assert cache.lookup(FETCH, {"url": "u"}).hit
    clock.advance(600)
    assert not cache.lookup(FETCH, {"url": "u"}).hit


def test_never_cache_tools_bypass_every_layer(tmp_path: Path, listener: RecordingListener) -> None:
    cache = ToolCache(CacheSettings(directory=str(tmp_path / "l1")), listener)

    lookup = cache.lookup(SEND, {"to": "ops"})
    cache.store(lookup, "sent", 0.3)

    assert lookup.key is None
    assert not cache.lookup(SEND, {"to": "ops"}).hit
    assert listener.events == []
    stats = cache.stats()
    assert stats["bypassed"] == 2
    assert stats["stores"] == 0
    assert stats["tracked_calls"] == 0


def test_invalidation_by_tool_leaves_other_tools(clock: FakeClock) -> None:
    cache = ToolCache(CacheSettings(), clock=clock)
    remember(cache, SEARCH, {"q": "a"}, 1)
    remember(cache, SEARCH, {"q": "b"}, 2)
    remember(cache, QUOTE, {"sym": "X"}, 3)

    assert cache.invalidate(tool="search") == 2

    assert not cache.lookup(SEARCH, {"q": "a"}).hit
    assert not cache.lookup(SEARCH, {"q": "b"}).hit
    assert cache.lookup(QUOTE, {"sym": "X"}).hit


def test_invalidation_by_tag_covers_every_tool_with_the_tag(clock: FakeClock) -> None:
    cache = ToolCache(CacheSettings(), clock=clock)
    remember(cache, SEARCH, {"q": "a"}, 1)
    remember(cache, FETCH, {"url": "u"}, 2)
    remember(cache, QUOTE, {"sym": "X"}, 3)

    assert cache.invalidate(tag="web") == 2

    assert not cache.lookup(SEARCH, {"q": "a"}).hit
    assert not cache.lookup(FETCH, {"url": "u"}).hit
    assert cache.lookup(QUOTE, {"sym": "X"}).hit
    remember(cache, FETCH, {"url": "u"}, 4)
    assert cache.lookup(FETCH, {"url": "u"}).value == 4


def test_invalidating_everything(clock: FakeClock) -> None:
    cache = ToolCache(CacheSettings(), clock=clock)
    remember(cache, SEARCH, {"q": "a"}, 1)
    remember(cache, QUOTE, {"sym": "X"}, 3)

    assert cache.invalidate() == 2
    assert not cache.lookup(SEARCH, {"q": "a"}).hit
    assert not cache.lookup(QUOTE, {"sym": "X"}).hit


def test_a_result_computed_across_an_invalidation_is_not_served() -> None:
    cache = ToolCache(CacheSettings())
    lookup = cache.lookup(SEARCH, {"q": "a"})
    cache.invalidate(tag="web")  # the data changed while the tool was running
    cache.store(lookup, "stale", 0.1)

    assert not cache.lookup(SEARCH, {"q": "a"}).hit


def test_shared_l1_directory_serves_and_invalidates_across_instances(tmp_path: Path) -> None:
    settings = CacheSettings(directory=str(tmp_path / "l1"))
    first = ToolCache(settings, generation_refresh_seconds=0)
    second = ToolCache(settings, generation_refresh_seconds=0)
    remember(first, SEARCH, {"q": "a"}, ["r"])
    remember(first, QUOTE, {"sym": "X"}, 3)

    from_disk = second.lookup(SEARCH, {"q": "a"})
    assert (from_disk.hit, from_disk.layer, from_disk.value) == (True, "l1", ["r"])
    assert second.lookup(SEARCH, {"q": "a"}).layer == "l0"  # promoted

    second.invalidate(tag="web")

    assert not first.lookup(SEARCH, {"q": "a"}).hit
    assert not second.lookup(SEARCH, {"q": "a"}).hit
    assert first.lookup(QUOTE, {"sym": "X"}).hit
    second.invalidate(tool="quote")
    assert not first.lookup(QUOTE, {"sym": "X"}).hit


def test_other_instances_see_an_invalidation_within_the_refresh_period(tmp_path: Path, clock: FakeClock) -> None:
    settings = CacheSettings(directory=str(tmp_path / "l1"))
    first = ToolCache(settings, clock=clock, generation_refresh_seconds=1.0)
    second = ToolCache(settings, clock=clock, generation_refresh_seconds=1.0)
    remember(first, SEARCH, {"q": "a"}, 1)
    assert second.lookup(SEARCH, {"q": "a"}).hit

    second.invalidate(tool="search")
    assert first.lookup(SEARCH, {"q": "a"}).hit  # not yet re-read: bounded staleness
    clock.advance(1.0)

    assert not first.lookup(SEARCH, {"q": "a"}).hit


def test_promotion_keeps_the_remaining_lifetime(tmp_path: Path, clock: FakeClock) -> None:
    settings = CacheSettings(directory=str(tmp_path / "l1"))
    first = ToolCache(settings, clock=clock)
    second = ToolCache(settings, clock=clock)
    remember(first, SEARCH, {"q": "a"}, 1)  # ttl 60

    clock.advance(50)
    assert second.lookup(SEARCH, {"q": "a"}).layer == "l1"
    clock.advance(11)
    assert not second.lookup(SEARCH, {"q": "a"}).hit


def test_hits_report_saved_seconds_and_cost(listener: RecordingListener, clock: FakeClock) -> None:
    cache = ToolCache(CacheSettings(), listener, clock=clock)
    remember(cache, SEARCH, {"q": "a"}, 1, seconds=0.75)

    for _ in range(3):
        assert cache.lookup(SEARCH, {"q": "a"}).saved_seconds == 0.75

    assert listener.of("cache_saved") == [("tool", 0.75)] * 3
    assert listener.of("cache_looked_up") == [("tool", "l0", False)] + [("tool", "l0", True)] * 3
    stats = cache.stats()
    assert stats["saved_seconds"] == pytest.approx(2.25)
    assert stats["saved_cost"] == pytest.approx(0.06)
    assert (stats["hits"], stats["misses"], stats["stores"]) == (3, 1, 1)


def test_every_probed_layer_is_reported(tmp_path: Path, listener: RecordingListener) -> None:
    settings = CacheSettings(directory=str(tmp_path / "l1"))
    remember(ToolCache(settings), SEARCH, {"q": "a"}, 1)
    cache = ToolCache(settings, listener)

    cache.lookup(SEARCH, {"q": "a"})
    cache.lookup(SEARCH, {"q": "b"})

    assert listener.of("cache_looked_up") == [
        ("tool", "l0", False),
        ("tool", "l1", True),
        ("tool", "l0", False),
        ("tool", "l1", False),
    ]


def test_stats_are_json_ready(tmp_path: Path) -> None:
    cache = ToolCache(CacheSettings(directory=str(tmp_path / "l1")))
    remember(cache, SEARCH, {"q": "a"}, 1)
    cache.lookup(SEARCH, {"q": "a"})

    stats = json.loads(json.dumps(cache.stats()))

    assert set(stats["layers"]) == {"l0", "l1"}
    assert stats["layers"]["l0"] == {"hits": 1, "misses": 1, "entries": 1, "errors": 0, "degraded": False}
    assert stats["layers"]["l1"]["misses"] == 1
    assert stats["layers"]["l1"]["entries"] >= 1


def test_warming_reruns_the_most_popular_calls(clock: FakeClock) -> None:
    cache = ToolCache(CacheSettings(), clock=clock)
    # Hits are counted one in HIT_SAMPLE (with that weight): popularity shows over many look-ups.
    popularity = {"a": 8 * HIT_SAMPLE, "b": 4 * HIT_SAMPLE, "c": 1}
    for query, times in popularity.items():
        remember(cache, SEARCH, {"q": query}, query.upper())
        for _ in range(times - 1):
            cache.lookup(SEARCH, {"q": query})
    cache.invalidate(tool="search")
    calls: list[tuple[str, dict[str, Any]]] = []

    def call(tool: str, args: Mapping[str, Any]) -> str:
        calls.append((tool, dict(args)))
        return str(args["q"]).upper()

    assert cache.warm(call, top_n=2) == 2

    assert calls == [("search", {"q": "a"}), ("search", {"q": "b"})]
    assert cache.lookup(SEARCH, {"q": "a"}).value == "A"
    assert cache.lookup(SEARCH, {"q": "b"}).hit
    assert not cache.lookup(SEARCH, {"q": "c"}).hit
    assert cache.warm(call, top_n=2) == 0  # both still cached: nothing re-run
    assert len(calls) == 2


def test_warming_skips_failures_and_uses_the_configured_top_n() -> None:
    cache = ToolCache(CacheSettings(warm_top_n=1))
    cache.lookup(SEARCH, {"q": "a"})
    cache.lookup(QUOTE, {"sym": "X"})
    cache.lookup(QUOTE, {"sym": "X"})

    def failing(tool: str, args: Mapping[str, Any]) -> Any:
        raise RuntimeError("upstream down")

    assert cache.warm(failing) == 0
    assert cache.warm(lambda tool, args: 42) == 1
    assert cache.lookup(QUOTE, {"sym": "X"}).hit
    assert not cache.lookup(SEARCH, {"q": "a"}).hit


def test_results_that_are_not_json_stay_in_l0_without_degrading_l1(tmp_path: Path) -> None:
    cache = ToolCache(CacheSettings(directory=str(tmp_path / "l1")))
    remember(cache, SEARCH, {"q": "a"}, lambda: None)

    assert cache.lookup(SEARCH, {"q": "a"}).hit
    assert cache.stats()["layers"]["l1"]["degraded"] is False


def test_broken_cache_directory_degrades_l1_only_and_logs_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("occupied")
    caplog.set_level(logging.WARNING, logger=HEALTH_LOGGER)

    cache = ToolCache(CacheSettings(directory=str(not_a_directory)))
    for n in range(20):
        remember(cache, SEARCH, {"q": n}, n)
        assert cache.lookup(SEARCH, {"q": n}).value == n
    cache.invalidate(tag="web")

    warnings = [r for r in caplog.records if r.name == HEALTH_LOGGER]
    assert len(warnings) == 1
    assert "l1" in warnings[0].getMessage()
    l1 = cache.stats()["layers"]["l1"]
    assert l1["degraded"] is True
    assert l1["errors"] == 1


@pytest.mark.usefixtures("calls_only_recovery")
def test_failing_disk_at_runtime_is_counted_skipped_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = ToolCache(CacheSettings(directory=str(tmp_path / "l1")), retry_after_seconds=0)
    disk = cache._shared[0]
    assert isinstance(disk, DiskLayer)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise sqlite3.OperationalError("disk I/O error")

    caplog.set_level(logging.INFO, logger=HEALTH_LOGGER)
    with monkeypatch.context() as patch:
        # On the class: the layer re-opens its handle after each failure, and the new one must fail too.
        patch.setattr(diskcache.Cache, "get", broken)
        patch.setattr(diskcache.Cache, "set", broken)
        for n in range(10):
            remember(cache, SEARCH, {"q": n}, n)
            assert cache.lookup(SEARCH, {"q": n}).hit

        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert cache.stats()["layers"]["l1"]["errors"] >= 10

    remember(cache, SEARCH, {"q": "after"}, 1)
    assert cache.stats()["layers"]["l1"]["degraded"] is False
    assert any("recovered" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
    cache.close()


def test_the_layers_back_off_comes_from_the_settings(tmp_path: Path) -> None:
    settings = CacheSettings(
        directory=str(tmp_path / "l1"), layer_initial_backoff_seconds=0.5, layer_max_backoff_seconds=2
    )
    cache = ToolCache(settings)
    health = cache._shared[0].health
    assert health.backoff_seconds == 0.5
    for _ in range(4):
        health.failed("get", OSError("test"))
    assert health.backoff_seconds == 2.0
    cache.close()


def test_l0_is_bounded_in_bytes_as_well_as_entries(clock: FakeClock) -> None:
    cache = ToolCache(CacheSettings(l0_max_entries=1000, l0_max_bytes=64 * 1024), clock=clock)
    for i in range(100):
        remember(cache, SEARCH, {"q": str(i)}, "x" * 4096)
    stats = cache._l0.stats()
    assert stats["bytes"] <= 64 * 1024
    assert 5 < stats["entries"] < 16
    assert cache.lookup(SEARCH, {"q": "99"}).hit, "the most recent entries stay"
    assert not cache.lookup(SEARCH, {"q": "0"}).hit


def test_a_result_larger_than_the_whole_l0_is_neither_held_nor_indexed(clock: FakeClock) -> None:
    cache = ToolCache(CacheSettings(l0_max_bytes=64 * 1024), clock=clock)
    for i in range(200):
        remember(cache, SEARCH, {"q": str(i)}, "z" * 100_000)
    assert len(cache._l0) == 0
    assert not cache._keys_by_tool.get(SEARCH.name)  # the tool -> keys index does not grow with refusals
    remember(cache, SEARCH, {"q": "small"}, "fits")
    assert cache.lookup(SEARCH, {"q": "small"}).hit and len(cache._keys_by_tool[SEARCH.name]) == 1


def test_lookup_l0_counts_a_hit_as_lookup_does_and_nothing_on_a_miss(
    listener: RecordingListener, clock: FakeClock
) -> None:
    cache = ToolCache(CacheSettings(), listener, clock=clock)
    assert cache.lookup_l0(SEARCH, {"q": "a"}) is None
    assert cache.lookup_l0(SEND, {"to": "ops"}) is None
    assert listener.events == [] and cache.stats()["misses"] == 0
    remember(cache, SEARCH, {"q": "a"}, ["result"])
    listener.events.clear()
    hit = cache.lookup_l0(SEARCH, {"q": "a"})
    assert hit is not None and (hit.hit, hit.layer, hit.value) == (True, "l0", ["result"])
    via_lookup = cache.lookup(SEARCH, {"q": "a"})
    assert hit.key == via_lookup.key
    assert listener.of("cache_looked_up") == [("tool", "l0", True)] * 2
    assert [event[:2] for event in listener.of("cache_saved")] == [("tool", 0.5)] * 2
    assert cache.stats()["hits"] == 2


def test_peek_counts_nothing(listener: RecordingListener, clock: FakeClock) -> None:
    cache = ToolCache(CacheSettings(), listener, clock=clock)
    assert not cache.peek(SEARCH, {"q": "a"})
    remember(cache, SEARCH, {"q": "a"}, 1)
    events = list(listener.events)
    assert cache.peek(SEARCH, {"q": "a"})
    assert not cache.peek(SEND, {"to": "ops"})
    assert listener.events == events
    assert cache.stats()["hits"] == 0
    clock.advance(61)
    assert not cache.peek(SEARCH, {"q": "a"})


def test_a_refresh_in_flight_during_an_invalidation_does_not_undo_it(tmp_path: Path, clock: FakeClock) -> None:
    """The refresh read the generations before the bump; writing them back would serve the old result again."""
    cache = ToolCache(CacheSettings(directory=str(tmp_path)), clock=clock, generation_refresh_seconds=1.0)
    spec = ToolSpec(name="price", ttl_seconds=300)
    cache.store(cache.lookup(spec, {"sku": "A1"}), "price=10 (old)", seconds=0.5)
    authority = cache._generations._authority
    assert authority is not None
    read = authority.generations

    def read_then_invalidate(names: Any) -> Any:
        values = read(names)  # what a slow round trip brings back after the invalidation below
        authority.generations = read  # type: ignore[method-assign]
        cache.invalidate(tool="price")
        return values

    authority.generations = read_then_invalidate  # type: ignore[method-assign]
    clock.advance(1.5)  # the generations are due for their refresh
    assert not cache.lookup(spec, {"sku": "A1"}).hit
    assert not cache.lookup(spec, {"sku": "A1"}).hit


def test_an_invalidation_missed_by_the_authority_is_replayed_without_undoing_a_later_one(
    tmp_path: Path, clock: FakeClock
) -> None:
    cache = ToolCache(CacheSettings(directory=str(tmp_path)), clock=clock, generation_refresh_seconds=1.0)
    spec = ToolSpec(name="price", ttl_seconds=300)
    cache.lookup(spec, {"sku": "A1"})
    authority = cache._generations._authority
    assert authority is not None
    bump = authority.bump_generation
    authority.bump_generation = lambda name: None  # type: ignore[method-assign]  # unreachable: a local floor
    cache.invalidate(tool="price")
    assert cache._generations._floor == {"tool:price": 1}
    authority.bump_generation = bump  # type: ignore[method-assign]
    cache.store(cache.lookup(spec, {"sku": "A1"}), "price=10 (old)", seconds=0.5)

    def replay_while_invalidated_here(name: str) -> int | None:
        replayed = bump(name)
        authority.bump_generation = bump  # type: ignore[method-assign]
        cache.invalidate(tool="price")  # another request invalidates while the replay is on its way
        return replayed

    authority.bump_generation = replay_while_invalidated_here  # type: ignore[method-assign]
    clock.advance(1.5)
    assert not cache.lookup(spec, {"sku": "A1"}).hit
    assert not cache._generations._floor
    assert authority.generations(["tool:price"]) == [2]  # the missed bump was made there, then the new one
