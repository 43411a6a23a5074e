"""The executor: parallel speed-up, dependency order, error isolation, deadline."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from agent_runtime.config.models import PlanStep
from agent_runtime.errors import TaskDeadlineError
from agent_runtime.execution.executor import PlanExecutor
from agent_runtime.execution.plan import Plan, build_plan


@dataclass(frozen=True)
class Report:
    outcome: str
    result: Any = None
    error: BaseException | None = None
    cache_layer: str | None = None
    attempts: int = 1
    duration_seconds: float = 0.0


class FakeCaller:
    """A tool caller whose tools are plain functions (a unit-test fake of the pipeline)."""

    def __init__(self, tools: Mapping[str, Callable[..., Any]]) -> None:
        self.tools = tools
        self.order: list[str] = []
        self.lock = threading.Lock()

    def call(self, tool: str, args: Mapping[str, Any], deadline: float | None = None) -> Report:
        start = time.perf_counter()
        try:
            result = self.tools[tool](**args)
        except Exception as exc:
            return Report("error", error=exc, duration_seconds=time.perf_counter() - start)
        with self.lock:
            self.order.append(tool)
        return Report("success", result=result, duration_seconds=time.perf_counter() - start)


def sleeper(seconds: float) -> Callable[..., Any]:
    def run(**args: Any) -> Any:
        time.sleep(seconds)
        return args or seconds

    return run


def fail(**_: Any) -> Any:
    raise ValueError("boom")


@pytest.fixture()
def executor_for() -> Iterator[Callable[[FakeCaller], PlanExecutor]]:
    made: list[PlanExecutor] = []

    def make(caller: FakeCaller) -> PlanExecutor:
        made.append(PlanExecutor(caller, max_parallel=8))
        return made[-1]

    yield make
    for executor in made:
        executor.close()


def plan_of(*steps: PlanStep, tools: Mapping[str, Any]) -> Plan:
    return build_plan(steps, task_text="t", context={}, known_tools=set(tools))


def test_independent_sleeping_calls_run_in_parallel(executor_for: Callable[[FakeCaller], PlanExecutor]) -> None:
    tools = {f"t{i}": sleeper(0.2) for i in range(6)}
    plan = plan_of(*(PlanStep(f"s{i}", f"t{i}") for i in range(6)), tools=tools)
    started = time.perf_counter()
    outcomes, timed_out = executor_for(FakeCaller(tools)).run(plan, timeout_seconds=10)
    elapsed = time.perf_counter() - started
    assert not timed_out
    assert all(o.outcome == "success" for o in outcomes)
    assert elapsed < 0.6, f"six 0.2 s calls took {elapsed:.2f}s: they did not overlap"


def test_dependents_run_after_and_receive_results(executor_for: Callable[[FakeCaller], PlanExecutor]) -> None:
    tools = {"first": lambda: "data", "second": lambda text: text.upper()}
    plan = plan_of(PlanStep("a", "first"), PlanStep("b", "second", {"text": "$steps.a"}), tools=tools)
    caller = FakeCaller(tools)
    outcomes, _ = executor_for(caller).run(plan, timeout_seconds=5)
    assert caller.order == ["first", "second"]
    assert outcomes[1].result == "DATA"
    assert outcomes[0].call_id != outcomes[1].call_id


def test_failure_fails_only_its_dependents(executor_for: Callable[[FakeCaller], PlanExecutor]) -> None:
    tools = {"bad": fail, "good": sleeper(0.01), "after": lambda x: x}
    plan = plan_of(
        PlanStep("broken", "bad"),
        PlanStep("sibling", "good"),
        PlanStep("child", "after", {"x": "$steps.broken"}),
        tools=tools,
    )
    outcomes, _ = executor_for(FakeCaller(tools)).run(plan, timeout_seconds=5)
    by_step = {o.step_id: o for o in outcomes}
    assert by_step["broken"].outcome == "error"
    assert by_step["broken"].error_type == "ValueError"
    assert by_step["sibling"].outcome == "success"
    assert by_step["child"].outcome == "error"
    assert by_step["child"].error_type == "DependencyFailed"


def test_task_deadline_reports_unfinished_calls(executor_for: Callable[[FakeCaller], PlanExecutor]) -> None:
    tools = {"slow": sleeper(1.0), "quick": sleeper(0.0), "next": lambda x: x}
    plan = plan_of(
        PlanStep("a", "slow"), PlanStep("b", "quick"), PlanStep("c", "next", {"x": "$steps.a"}), tools=tools
    )
    started = time.perf_counter()
    outcomes, timed_out = executor_for(FakeCaller(tools)).run(plan, timeout_seconds=0.2)
    assert time.perf_counter() - started < 0.8
    assert timed_out
    assert [o.outcome for o in outcomes] == ["timeout", "success", "timeout"]


class DeadlineFallbackCaller(FakeCaller):
    """The pipeline's answer when the deadline cut a tool short and its fallback answered from the cache."""

    def call(self, tool: str, args: Mapping[str, Any], deadline: float | None = None) -> Report:
        cut = TaskDeadlineError("the task deadline passed")
        return Report("fallback", result=f"{tool}: cached fallback", error=cut)


@pytest.mark.parametrize("steps", [1, 2])
def test_a_call_answered_by_its_fallback_at_the_deadline_has_not_timed_out(
    executor_for: Callable[[FakeCaller], PlanExecutor], steps: int
) -> None:
    tools = {"one": sleeper(0.0), "two": sleeper(0.0)}
    plan = plan_of(*[PlanStep(name, name) for name in list(tools)[:steps]], tools=tools)
    outcomes, timed_out = executor_for(DeadlineFallbackCaller(tools)).run(plan, timeout_seconds=5)
    assert [o.outcome for o in outcomes] == ["fallback"] * steps
    assert all(o.ok and o.error_type == "TaskDeadlineError" for o in outcomes)
    assert not timed_out
