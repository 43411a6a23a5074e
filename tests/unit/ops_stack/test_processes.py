"""Child processes of the stack: process groups, health waits with the log tail, the pid file."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest

from agent_runtime.ops.stack.processes import PidFile, StackError, spawn, start_time, stop_group, wait_healthy

# A parent that starts a child of its own: stopping the group must stop both.
FAMILY = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); " \
         "print('started', flush=True); time.sleep(60)"


def test_stop_ends_the_whole_process_group(tmp_path: Path) -> None:
    child = spawn("family", [sys.executable, "-c", FAMILY], tmp_path / "family.log")
    wait_healthy(child, lambda: "started" in (tmp_path / "family.log").read_text(), 10, "started")
    child.stop(timeout=5)
    assert not child.alive()
    assert not stop_group(child.pid)  # nothing of the group is left to signal


def test_a_frozen_group_still_stops(tmp_path: Path) -> None:
    child = spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "s.log")
    child.signal_group(signal.SIGSTOP)
    started = time.monotonic()
    child.stop(timeout=5)
    assert time.monotonic() - started < 5
    assert not child.alive()


def test_wait_healthy_reports_an_early_exit_with_the_log(tmp_path: Path) -> None:
    child = spawn("broken", [sys.executable, "-c", "print('bad config at line 3'); raise SystemExit(3)"],
                  tmp_path / "broken.log")  # fmt: skip
    with pytest.raises(StackError, match=r"broken exited with code 3 before healthy(.|\n)*bad config at line 3"):
        wait_healthy(child, lambda: False, 10, "healthy")


def test_wait_healthy_times_out(tmp_path: Path) -> None:
    child = spawn("slow", [sys.executable, "-c", "import time; time.sleep(30)"], tmp_path / "slow.log")
    try:
        with pytest.raises(StackError, match=r"did not get ready within 0\.3s"):
            wait_healthy(child, lambda: False, 0.3, "ready")
    finally:
        child.stop()


def test_spawning_a_missing_binary_is_a_stack_error(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="cannot start ghost"):
        spawn("ghost", [str(tmp_path / "no-such-binary")], tmp_path / "ghost.log")


def test_pid_file_stops_only_processes_that_are_still_the_same(tmp_path: Path) -> None:
    child = spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "s.log")
    pidfile = PidFile(tmp_path / "stack.json")
    pidfile.write([child], {"runtime_url": "http://127.0.0.1:1"})
    data = pidfile.read()
    assert data is not None and data["info"] == {"runtime_url": "http://127.0.0.1:1"}
    assert data["processes"][0]["started"] == start_time(child.pid)
    # A recorded start time that does not match is a reused pid: never signalled.
    data["processes"][0]["started"] += 1
    (tmp_path / "stack.json").write_text(__import__("json").dumps(data))
    assert pidfile.running() == []
    pidfile.write([child], {})
    assert pidfile.stop_all(timeout=5) == ["sleeper"]
    child.process.wait(timeout=5)
    assert not pidfile.path.exists()
