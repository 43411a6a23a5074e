"""Value types: ``assembled`` builds the hot path's frozen objects as their own constructors do."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from agent_runtime.results import AgentScore, RoutingDecision, Task, TaskResult, ToolCallOutcome, assembled
from agent_runtime.runtime import Runtime
from agent_runtime.tools.pipeline import CallReport
from agent_runtime.vocabulary import RoutingSource, ToolOutcome
from tests.unit.runtime_fixtures import make_config, make_tools

OUTCOME: dict[str, Any] = {
    "step_id": "docs",
    "tool": "lookup",
    "call_id": "call_1",
    "outcome": ToolOutcome.SUCCESS,
    "result": ["a", "list"],
    "error": None,
    "error_type": None,
    "cache_layer": "l0",
    "attempts": 0,
    "duration_seconds": 0.00012,
    "turn": 2,
}


@pytest.fixture()
def runtime() -> Iterator[Runtime]:
    rt = Runtime(make_config(), tools=make_tools(), metrics_registry=CollectorRegistry())
    yield rt
    rt.close()


def _field_names(value: object) -> set[str]:
    return {field.name for field in dataclasses.fields(value)}  # type: ignore[arg-type]


def test_an_assembled_outcome_equals_and_behaves_as_the_constructed_one() -> None:
    built = assembled(ToolCallOutcome, **OUTCOME)
    constructed = ToolCallOutcome(**OUTCOME)
    assert built == constructed
    assert repr(built) == repr(constructed)
    assert dataclasses.asdict(built) == dataclasses.asdict(constructed)
    assert built.to_dict() == constructed.to_dict()
    assert built.ok
    assert dataclasses.replace(built, turn=3) == ToolCallOutcome(**{**OUTCOME, "turn": 3})
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.outcome = ToolOutcome.ERROR  # type: ignore[misc]


def test_an_assembled_hashable_value_hashes_as_the_constructed_one() -> None:
    fields = {**OUTCOME, "result": ("a", "tuple")}
    assert hash(assembled(ToolCallOutcome, **fields)) == hash(ToolCallOutcome(**fields))


def test_what_a_task_hands_out_carries_every_field(runtime: Runtime) -> None:
    # assembled() takes no defaults: an object missing a field would fail only when that field is read.
    sources = []
    for text in ("cache latency alert", "cache latency alert"):  # scored and run, then every cache hit
        result = runtime.handle(text)
        assert set(vars(result)) == _field_names(TaskResult)
        assert result.tool_calls
        for call in result.tool_calls:
            assert set(vars(call)) == _field_names(ToolCallOutcome)
        decision = result.decision
        assert decision is not None and decision.candidates
        sources.append(decision.source)
        assert set(vars(decision)) == _field_names(RoutingDecision)
        for candidate in decision.candidates:
            assert set(vars(candidate)) == _field_names(AgentScore)
    assert sources == [RoutingSource.SCORED, RoutingSource.CACHE]
    report = runtime.call_tool("lookup", {"query": "cache"})
    assert isinstance(report, CallReport)
    assert set(vars(report)) == _field_names(CallReport)
    assert report.ok


def test_a_constructed_result_and_an_assembled_one_serve_the_same_dict() -> None:
    decision = RoutingDecision(agent="writer", confidence=0.7, source=RoutingSource.SCORED, explanation="why")
    fields: dict[str, Any] = {
        "task": Task("draft a summary").text,
        "outcome": "success",
        "decision": decision,
        "tool_calls": (ToolCallOutcome(**OUTCOME),),
        "stage_seconds": {"route": 0.001},
        "duration_seconds": 0.002,
        "trace_id": None,
        "output": "DRAFT",
        "error": None,
        "kind": None,
        "stop_reason": None,
        "turns": (),
    }
    assert assembled(TaskResult, **fields).to_dict() == TaskResult(**fields).to_dict()
