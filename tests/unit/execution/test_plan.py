"""Plans: templates, step references, dependency order and cycle rejection."""

from __future__ import annotations

import pytest

from agent_runtime.config.models import PlanStep
from agent_runtime.errors import PlanError
from agent_runtime.execution.plan import StepRef, build_plan

TOOLS = {"search", "summarise", "fetch"}


def test_templates_and_refs_become_args_and_dependencies() -> None:
    plan = build_plan(
        (
            PlanStep("find", "search", {"query": "{task} in {context[service]}", "top_k": 3}),
            PlanStep("sum", "summarise", {"passages": "$steps.find", "style": "short"}),
        ),
        task_text="cache misses",
        context={"service": "api"},
        known_tools=TOOLS,
    )
    find, summary = plan.calls
    assert find.args == {"query": "cache misses in api", "top_k": 3}
    assert summary.depends_on == frozenset({"find"})
    assert summary.resolve_args({"find": ["p1"]}) == {"passages": ["p1"], "style": "short"}
    assert plan.sinks() == ("sum",)


def test_independent_steps_share_a_level() -> None:
    plan = build_plan(
        (
            PlanStep("a", "search"),
            PlanStep("b", "fetch"),
            PlanStep("c", "summarise", {"x": ["$steps.a", "$steps.b"]}),
        ),
        task_text="t",
        context={},
        known_tools=TOOLS,
    )
    assert list(plan.levels()) == [("a", "b"), ("c",)]
    assert plan.calls[2].args["x"] == [StepRef("a"), StepRef("b")]


def test_cycle_is_rejected_naming_the_steps() -> None:
    steps = (
        PlanStep("a", "search", depends_on=("b",)),
        PlanStep("b", "search", depends_on=("a",)),
        PlanStep("c", "search"),
    )
    with pytest.raises(PlanError, match="cycle among steps: a -> b"):
        build_plan(steps, task_text="t", context={}, known_tools=TOOLS)


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ((PlanStep("a", "nope"),), "unknown tool 'nope'"),
        ((PlanStep("a", "search", depends_on=("z",)),), "unknown step 'z'"),
        ((PlanStep("a", "search", {"q": "{context[who]}"}),), "context key 'who'"),
        ((PlanStep("a", "search", {"q": "{task.__class__}"}),), "unsupported template field"),
        ((PlanStep("a", "search"), PlanStep("a", "fetch")), "used twice"),
    ],
)
def test_malformed_plans_fail_clearly(steps: tuple[PlanStep, ...], message: str) -> None:
    with pytest.raises(PlanError, match=message):
        build_plan(steps, task_text="t", context={}, known_tools=TOOLS)
