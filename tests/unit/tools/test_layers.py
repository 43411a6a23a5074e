"""The shared cache layers: JSON text in L1 (never pickles), health reported on changes, re-opening and probing."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import diskcache
import pytest

from agent_runtime.config.models import CacheSettings, ToolSpec
from agent_runtime.ops.stack.ports import free_port, port_in_use
from agent_runtime.tools.cache import ToolCache
from agent_runtime.tools.cache_entries import CacheEntry
from agent_runtime.tools.layers import DiskLayer, RedisLayer
from tests.support.binaries import ManagedProcess, require_binary, wait_until
from tests.unit.tools.conftest import RecordingListener

ENTRIES_LOGGER = "agent_runtime.tools.cache_entries"
SEARCH = ToolSpec(name="search", ttl_seconds=60)


class LayerListener(RecordingListener):
    """Also records ``cache_layer_changed``."""

    def cache_layer_changed(self, cache: str, layer: str, up: bool) -> None:
        self._record("cache_layer_changed", cache, layer, up)


class Exploit:
    """Unpickling this would create ``marker``: proof that a cache read ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def entry(value: Any, tool: str = "search") -> CacheEntry:
    return CacheEntry(tool, value, 0.25, 2e9, 0.001)


# --- what L1 stores: JSON text, never pickles --------------------------------------------------


def test_l1_stores_json_text_and_never_unpickles(tmp_path: Path) -> None:
    directory = str(tmp_path / "l1")
    layer = DiskLayer(directory)
    layer.set("k", entry({"a": [1, 2]}), 60)
    raw = diskcache.Cache(directory)  # the stock Disk, as an attacker with access to the directory has
    stored = raw.get("k")
    assert isinstance(stored, str)
    assert json.loads(stored)["value"] == {"a": [1, 2]}

    marker = tmp_path / "pwned"
    raw.set("planted", Exploit(marker))  # a pickled row, as diskcache writes any object
    raw.set("old", CacheEntry("search", 1, 0.1, 2e9))  # what this cache wrote before it stored JSON
    raw.close()
    assert layer.get("planted") is None
    assert layer.get("old") is None
    assert not marker.exists()
    assert layer.get("k") == entry({"a": [1, 2]})
    assert not layer.health.degraded
    layer.close()


def test_values_that_are_not_json_are_counted_and_logged_once_per_tool(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ENTRIES_LOGGER)
    layer = DiskLayer(str(tmp_path / "l1"))
    for n in range(3):
        layer.set(f"k{n}", entry({n}, tool="sets_tool"), 60)
    assert layer.unstorable == 3
    assert layer.get("k0") is None and not layer.health.degraded
    notes = [r.getMessage() for r in caplog.records if "sets_tool" in r.getMessage()]
    assert len(notes) == 1 and "not plain JSON" in notes[0]
    layer.close()


# --- health ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("calls_only_recovery")
def test_layer_health_is_reported_when_built_when_degraded_and_when_recovered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listener = LayerListener()
    layer = DiskLayer(str(tmp_path / "l1"), retry_after_seconds=0, listener=listener, cache="tool")
    assert listener.of("cache_layer_changed") == [("tool", "l1", True)]

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise sqlite3.OperationalError("disk I/O error")

    with monkeypatch.context() as patch:
        patch.setattr(diskcache.Cache, "get", broken)
        for n in range(5):
            assert layer.get(f"k{n}") is None
        assert listener.of("cache_layer_changed") == [("tool", "l1", True), ("tool", "l1", False)]
    layer.set("k", entry(1), 60)
    layer.set("k", entry(2), 60)
    assert listener.of("cache_layer_changed") == [("tool", "l1", True), ("tool", "l1", False), ("tool", "l1", True)]
    layer.close()


@pytest.mark.usefixtures("calls_only_recovery")
def test_a_directory_that_cannot_be_opened_is_reported_down_and_retried(tmp_path: Path) -> None:
    listener = LayerListener()
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the directory should be")
    layer = DiskLayer(str(blocked), retry_after_seconds=0, listener=listener)
    assert listener.of("cache_layer_changed") == [("tool", "l1", False)]
    assert layer.get("k") is None
    blocked.unlink()  # the operator fixes it
    layer.set("k", entry("fixed"), 60)
    assert layer.get("k") == entry("fixed")
    assert listener.of("cache_layer_changed") == [("tool", "l1", False), ("tool", "l1", True)]
    layer.close()


# --- the L1 directory deleted under a live cache -------------------------------------------------


def test_deleting_the_l1_directory_under_a_live_cache_recovers_without_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Threads that had a connection kept writing to the deleted file; new ones failed
    with "no such table: Cache" until the process restarted. Now the layer re-opens."""
    monkeypatch.setattr("agent_runtime.tools.layers.DISK_CHECK_SECONDS", 0.0)
    directory = tmp_path / "l1"
    listener = LayerListener()
    cache = ToolCache(CacheSettings(directory=str(directory)), listener, retry_after_seconds=0)
    for n in range(3):
        lookup = cache.lookup(SEARCH, {"q": n})
        cache.store(lookup, f"result {n}", 0.1)

    shutil.rmtree(directory)
    os.makedirs(directory)  # an operator's "rm -rf && mkdir", or a tmp cleaner

    def in_new_thread() -> None:
        lookup = cache.lookup(SEARCH, {"q": "from another thread"})
        cache.store(lookup, "stored after the delete", 0.1)

    worker = threading.Thread(target=in_new_thread)
    worker.start()
    worker.join()
    lookup = cache.lookup(SEARCH, {"q": "from this thread"})
    cache.store(lookup, "stored here too", 0.1)

    # Another process on the same directory (a fresh cache) sees what was stored after the delete.
    other = ToolCache(CacheSettings(directory=str(directory)))
    for args, value in (
        ({"q": "from another thread"}, "stored after the delete"),
        ({"q": "from this thread"}, "stored here too"),
    ):
        seen = other.lookup(SEARCH, args)
        assert (seen.hit, seen.layer, seen.value) == (True, "l1", value)
    assert cache.stats()["layers"]["l1"]["degraded"] is False
    assert listener.of("cache_layer_changed")[-1] == ("tool", "l1", True)
    cache.close()
    other.close()


# --- probing on a timer: an idle process sees its layer recover -----------------------------------

# Small back-offs keep these tests fast; the prober waits them out in real time.
FAST_BACKOFF = {"retry_after_seconds": 0.05, "max_retry_after_seconds": 0.2}


def probers(layer: Any) -> list[threading.Thread]:
    """The layer's prober thread, while it has one."""
    prober = layer._prober
    return [] if prober is None else [prober]


def test_a_degraded_disk_layer_recovers_with_no_further_operations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An idle gunicorn worker used to report L1 down until its next request; now it probes on a timer."""
    monkeypatch.setattr("agent_runtime.tools.layers.DISK_CHECK_SECONDS", 0.0)
    directory = tmp_path / "l1"
    listener = LayerListener()
    layer = DiskLayer(str(directory), listener=listener, **FAST_BACKOFF)
    layer.set("k", entry(1), 60)
    shutil.rmtree(directory)
    directory.write_text("something else where the directory was")
    assert layer.get("k") is None  # the last operation: the layer goes down with nothing after it
    assert listener.of("cache_layer_changed") == [("tool", "l1", True), ("tool", "l1", False)]

    directory.unlink()
    directory.mkdir(exist_ok=True)  # the operator re-creates it (unless a probe was quicker)
    wait_until(lambda: listener.of("cache_layer_changed")[-1] == ("tool", "l1", True), 5, "L1 to be reported up")

    assert listener.of("cache_layer_changed") == [("tool", "l1", True), ("tool", "l1", False), ("tool", "l1", True)]
    assert (directory / "cache.db").exists()  # the probe re-opened it for real
    assert not layer.health.degraded
    wait_until(lambda: not probers(layer), 5, "the prober to end once L1 is up")
    layer.set("k", entry(2), 60)
    assert layer.get("k") == entry(2)
    layer.close()


def blocked_layer(tmp_path: Path) -> tuple[DiskLayer, LayerListener]:
    """An L1 layer whose directory is a file (it cannot open) with a fast back-off, and its listener."""
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the directory should be")
    listener = LayerListener()
    return DiskLayer(str(blocked), listener=listener, **FAST_BACKOFF), listener


def test_probing_goes_on_with_a_growing_back_off_while_the_layer_stays_down(tmp_path: Path) -> None:
    layer, listener = blocked_layer(tmp_path)
    wait_until(lambda: layer.health.errors >= 4, 5, "the prober to fail a few times")
    # 0.05, 0.1, 0.2, 0.2 s apart: the back-off grows to its maximum and stays there.
    assert layer.health.backoff_seconds == pytest.approx(0.2)
    assert listener.of("cache_layer_changed") == [("tool", "l1", False)]  # one report, not one per probe
    assert layer.health.degraded
    layer.close()


def test_close_stops_probing_at_once(tmp_path: Path) -> None:
    layer, listener = blocked_layer(tmp_path)
    [prober] = probers(layer)
    assert prober.is_alive()

    layer.close()
    assert not prober.is_alive()  # close() waited for it
    errors = layer.health.errors
    (tmp_path / "blocked").unlink()  # even a fixed directory is not probed any more
    threading.Event().wait(0.3)
    assert layer.health.errors == errors
    assert listener.of("cache_layer_changed") == [("tool", "l1", False)]
    assert not probers(layer)


def test_a_healthy_layer_starts_no_thread(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    layer = DiskLayer(str(tmp_path / "l1"), **FAST_BACKOFF)
    for n in range(20):
        layer.set(f"k{n}", entry(n), 60)
        assert layer.get(f"k{n}") == entry(n)
    assert layer.generations(["all"]) == [0]
    assert not probers(layer)
    assert set(threading.enumerate()) - before == set()
    layer.close()


def test_a_forked_child_probes_a_layer_that_was_degraded_when_it_forked(tmp_path: Path) -> None:
    """Threads do not survive fork: a child that inherits a degraded layer starts its own prober."""
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the directory should be")
    layer = DiskLayer(str(blocked), retry_after_seconds=0.05, max_retry_after_seconds=0.05)
    assert layer.health.degraded and probers(layer)
    pid = os.fork()
    if pid == 0:  # the child: no test machinery here, only an exit status
        status = 1
        try:
            blocked.unlink()
            deadline = time.monotonic() + 5
            while layer.health.degraded and time.monotonic() < deadline:
                time.sleep(0.02)
            status = 0 if not layer.health.degraded else 2
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    layer.close()


@pytest.mark.integration  # redis-server
def test_a_degraded_redis_layer_recovers_with_no_further_operations(tmp_path: Path) -> None:
    """A real redis-server is stopped, then started again on its port: L2 is reported up with no traffic."""
    binary = require_binary("redis-server")
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(tmp_path)]  # fmt: skip

    def start(run: int) -> ManagedProcess:
        process = ManagedProcess(argv, tmp_path / f"redis-{run}.log")
        wait_until(lambda: port_in_use(port), 10, "redis-server to listen")
        return process

    listener = LayerListener()
    server = start(1)
    layer = RedisLayer(f"redis://127.0.0.1:{port}/0", listener=listener, **FAST_BACKOFF)
    try:
        layer.set("k", entry(1), 60)
        assert layer.get("k") == entry(1)
        server.stop()
        wait_until(lambda: not port_in_use(port), 10, "redis-server to stop")
        assert layer.get("k") is None  # the last operation
        assert listener.of("cache_layer_changed") == [("tool", "l2", True), ("tool", "l2", False)]

        server = start(2)
        wait_until(lambda: listener.of("cache_layer_changed")[-1] == ("tool", "l2", True), 5, "L2 to be reported up")
        assert listener.of("cache_layer_changed") == [
            ("tool", "l2", True), ("tool", "l2", False), ("tool", "l2", True)
        ]  # fmt: skip
        assert not layer.health.degraded
        wait_until(lambda: not probers(layer), 5, "the prober to end once L2 is up")
        layer.set("k", entry(2), 60)
        assert layer.get("k") == entry(2)
    finally:
        layer.close()
        server.stop()
