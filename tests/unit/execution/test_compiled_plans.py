"""Plans compiled once per agent: the same plan as build_plan, the same errors."""

from __future__ import annotations

import pytest

from agent_runtime.config.models import PlanStep
from agent_runtime.errors import PlanError
from agent_runtime.execution.plan import PLAN_MEMO_SIZE, build_plan, compile_plan

TOOLS = {"search", "fetch", "summarise"}
STEPS = (
    PlanStep("find", "search", {"query": "{task}", "limit": 3, "tags": ["a", "{context[team]}"]}),
    PlanStep("get", "fetch", {"url": "https://example.com/{context[page]}"}),
    PlanStep("sum", "summarise", {"passages": ["$steps.find", "$steps.get"], "style": "short"}),
    PlanStep("tail", "summarise", {"passages": "$steps.sum"}, depends_on=("get",)),
)


def test_an_instantiated_template_equals_build_plan() -> None:
    template = compile_plan(STEPS, known_tools=TOOLS)
    for text, context in (("why is it slow?", {"team": "sre", "page": "x"}), ("", {"team": 1, "page": 2})):
        built = build_plan(STEPS, task_text=text, context=context, known_tools=TOOLS)
        made = template.instantiate(text, context)
        assert made == built
        assert made.sinks() == built.sinks()
        assert [call.depends_on for call in made.calls] == [call.depends_on for call in built.calls]


def test_a_missing_context_key_names_the_same_step() -> None:
    template = compile_plan(STEPS, known_tools=TOOLS)
    with pytest.raises(PlanError) as built:
        build_plan(STEPS, task_text="t", context={}, known_tools=TOOLS)
    with pytest.raises(PlanError) as made:
        template.instantiate("t", {})
    assert str(made.value) == str(built.value)


@pytest.mark.parametrize(
    "steps",
    [
        (PlanStep("a", "nope"),),
        (PlanStep("a", "search", {"q": "{other}"}),),
        (PlanStep("a", "search", {"q": "$steps.b"}), PlanStep("b", "search", {"q": "$steps.a"})),
        (PlanStep("a", "search"), PlanStep("a", "fetch")),
    ],
)
def test_task_independent_faults_fail_at_compile_time_like_build_plan(steps: tuple[PlanStep, ...]) -> None:
    with pytest.raises(PlanError) as built:
        build_plan(steps, task_text="t", context={}, known_tools=TOOLS)
    with pytest.raises(PlanError) as compiled:
        compile_plan(steps, known_tools=TOOLS)
    assert str(compiled.value) == str(built.value)


def test_a_plan_without_templates_is_shared_and_its_args_are_copied_per_call() -> None:
    steps = (PlanStep("a", "search", {"q": ["fixed"]}),)
    template = compile_plan(steps, known_tools=TOOLS)
    first, second = template.instantiate("x", {}), template.instantiate("y", {})
    assert first is second
    args = first.calls[0].resolve_args({})
    args["q"].append("mutated")
    assert first.calls[0].resolve_args({}) == {"q": ["fixed"]}


def test_a_repeated_task_without_context_reuses_its_plan_within_the_memo_bound() -> None:
    steps = (PlanStep("a", "search", {"q": "{task}", "tags": ["x"]}),)
    template = compile_plan(steps, known_tools=TOOLS)
    first = template.instantiate("why?", {})
    assert template.instantiate("why?", {}) is first
    assert template.instantiate("why?", {}) == build_plan(steps, task_text="why?", context={}, known_tools=TOOLS)
    assert template.instantiate("other", {}) != first
    # A task with context is filled afresh (its values may differ with the same text).
    assert template.instantiate("why?", {"team": "sre"}) is not first
    for number in range(PLAN_MEMO_SIZE):
        template.instantiate(f"task {number}", {})
    assert template.instantiate("why?", {}) is not first, "forgotten once the memo was full"
