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
        assert attempts.holding("hung") == 6  # abandoned at their timeout, still running
        started = time.monotonic()
        assert _outcome(attempts, hung) == "busy" and time.monotonic() - started < 0.04  # at once, no worker
        with ThreadPoolExecutor(max_workers=4) as callers:  # the two workers left serve everyone else
            assert list(callers.map(lambda _: attempts.run(healthy, {}, None), range(20))) == ["ok"] * 20
    finally:
        release.set()
    deadline = time.monotonic() + 2
    while attempts.holding("hung") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert attempts.holding("hung") == 0  # returned: the tool may run again
    assert attempts.run(_tool("hung", lambda: "back"), {}, None) == "back"


def test_a_busy_tool_is_retried_and_never_counted_against_its_breaker() -> None:
    error = ToolBusyError("busy")
    assert error.retryable and not error.trips_breaker


def test_the_deadline_and_bad_arguments(attempts: AttemptRunner) -> None:
    slow = _tool("slow", lambda: time.sleep(1), timeout=5)
    with pytest.raises(TaskDeadlineError, match="passed while tool 'slow' ran"):
        attempts.run(slow, {}, time.monotonic() + 0.05)
    with pytest.raises(TaskDeadlineError, match="passed before tool 'slow' ran"):
        attempts.run(slow, {}, time.monotonic() - 1)
    with pytest.raises(ToolError, match="bad arguments for tool 'add': missing a required argument: 'b'"):
        attempts.run(_tool("add", lambda a, b: a + b), {"a": 1}, None)
