"""One attempt: timeouts, the task deadline, bad arguments, and the bulkhead around a hung tool."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from agent_runtime.config.models import ToolSpec
from agent_runtime.errors import TaskDeadlineError, ToolBusyError, ToolError, ToolTimeoutError
from agent_runtime.registry import RegisteredTool
from agent_runtime.tools.attempts import AttemptRunner


@pytest.fixture()
def attempts() -> Iterator[AttemptRunner]:
    runner = AttemptRunner(max_workers=8)  # a tool may hold 6 workers
    yield runner
    runner.close()


def _tool(name: str, func: object, timeout: float = 0.05) -> RegisteredTool:
    return RegisteredTool(ToolSpec(name=name, timeout_seconds=timeout), func)  # type: ignore[arg-type]


def _outcome(attempts: AttemptRunner, tool: RegisteredTool) -> str:
    try:
        attempts.run(tool, {}, None)
    except ToolTimeoutError:
        return "timeout"
    except ToolBusyError:
        return "busy"
    return "success"


def test_a_hung_tool_keeps_its_share_of_the_workers_and_the_others_theirs(attempts: AttemptRunner) -> None:
    release = threading.Event()
    hung = _tool("hung", lambda: release.wait(10))
    healthy = _tool("healthy", lambda: "ok", timeout=1.0)
    try:
        with ThreadPoolExecutor(max_workers=12) as callers:  # more callers at once than the pool has workers
            outcomes = list(callers.map(lambda _: _outcome(attempts, hung), range(12)))
        assert sorted(outcomes) == ["busy"] * 6 + ["timeout"] * 6
        assert attempts.holding("hung") == attempts.abandoned("hung") == 6  # timed out, still running
        started = time.monotonic()
        # Refused at once, without a worker, as the tool's own timeout (it hangs: its breaker should know).
        assert _outcome(attempts, hung) == "timeout" and time.monotonic() - started < 0.04
        with ThreadPoolExecutor(max_workers=4) as callers:  # the two workers left serve everyone else
            assert list(callers.map(lambda _: attempts.run(healthy, {}, None), range(20))) == ["ok"] * 20
    finally:
        release.set()
    deadline = time.monotonic() + 2
    while attempts.holding("hung") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert attempts.holding("hung") == 0  # returned: the tool may run again
    assert attempts.run(_tool("hung", lambda: "back"), {}, None) == "back"


def test_tools_known_to_hang_share_one_bound(attempts: AttemptRunner) -> None:
    release = threading.Event()
    try:
        with ThreadPoolExecutor(max_workers=4) as callers:  # the first tool hangs under four callers at once
            list(callers.map(lambda _: _outcome(attempts, _tool("first", lambda: release.wait(10))), range(4)))
        for name in ("second", "third"):  # then two more tools behind the same dead network, one call at a time
            hung = _tool(name, lambda: release.wait(10))
            assert [_outcome(attempts, hung) for _ in range(4)] == ["timeout"] * 4
        # The bound, shared (4 + 2), and the third tool's first attempt: its timeout is what tells it hangs.
        assert (attempts.abandoned(), attempts.abandoned("second"), attempts.abandoned("third")) == (7, 2, 1)
        assert attempts.run(_tool("healthy", lambda: "ok", timeout=1.0), {}, None) == "ok"
    finally:
        release.set()


def test_a_tool_only_busy_is_refused_as_busy(attempts: AttemptRunner) -> None:
    release = threading.Event()
    slow = _tool("slow", lambda: release.wait(10), timeout=5.0)  # working, not hung: no attempt abandoned
    with ThreadPoolExecutor(max_workers=7) as callers:
        running = [callers.submit(attempts.run, slow, {}, None) for _ in range(6)]
        deadline = time.monotonic() + 2
        while attempts.holding("slow") < 6 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _outcome(attempts, slow) == "busy"  # retried after a back-off, never against its breaker
        release.set()
        assert [future.result() for future in running] == [True] * 6


def test_the_deadline_and_bad_arguments(attempts: AttemptRunner) -> None:
    slow = _tool("slow", lambda: time.sleep(1), timeout=5)
    with pytest.raises(TaskDeadlineError, match="passed while tool 'slow' ran"):
        attempts.run(slow, {}, time.monotonic() + 0.05)
    with pytest.raises(TaskDeadlineError, match="passed before tool 'slow' ran"):
        attempts.run(slow, {}, time.monotonic() - 1)
    with pytest.raises(ToolError, match="bad arguments for tool 'add': missing a required argument: 'b'"):
        attempts.run(_tool("add", lambda a, b: a + b), {"a": 1}, None)
