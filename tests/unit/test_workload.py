"""The workload: task distribution (seeded, Zipf-skewed, mixed by family), fresh text, the mix, and routing."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from agent_runtime.bootstrap import build_runtime
from agent_runtime.builtin_tools import BuiltinToolSettings, LlmSettings
from agent_runtime.ops.workload import Workload, build_intents, parse_mix

DEFAULT_CONFIG = str(Path(__file__).resolve().parents[2] / "agent_runtime" / "config" / "default.yaml")


def test_the_same_seed_gives_the_same_tasks() -> None:
    one, two = Workload(seed=3), Workload(seed=3)
    assert [one.next_task() for _ in range(50)] == [two.next_task() for _ in range(50)]
    assert [one.next_task() for _ in range(50)] != [Workload(seed=4).next_task() for _ in range(50)]


def test_popularity_is_skewed_and_paraphrases_recur() -> None:
    workload = Workload({"diagnostics": 1.0}, seed=1)
    texts = Counter(workload.next_task()["task"] for _ in range(4000))
    intents = {p: intent for intent in build_intents("diagnostics") for p in intent.phrasings}
    by_intent: Counter[str] = Counter()
    for text, count in texts.items():
        by_intent[intents[text].slot + intents[text].phrasings[0]] += count
    ranked = [count for _, count in by_intent.most_common()]
    # Zipf: the most popular intent is asked far more often than the median one.
    assert ranked[0] > 8 * ranked[len(ranked) // 2]
    top_intent = intents[texts.most_common(1)[0][0]]
    assert sum(1 for p in top_intent.phrasings if texts[p] > 0) == len(top_intent.phrasings)


def test_the_mix_sets_the_share_of_each_family() -> None:
    workload = Workload({"diagnostics": 3, "writer": 1}, seed=5)
    family_of = {p: f for f in ("diagnostics", "writer") for i in build_intents(f) for p in i.phrasings}
    counts = Counter(family_of[workload.next_task()["task"]] for _ in range(4000))
    assert set(counts) == {"diagnostics", "writer"}
    assert 0.70 < counts["diagnostics"] / 4000 < 0.80


def test_fetcher_tasks_carry_a_url_and_need_a_base() -> None:
    assert "fetcher" not in Workload(seed=1).families
    workload = Workload({"fetcher": 1}, seed=1, fetch_base="http://127.0.0.1:9/pages/")
    task = workload.next_task()
    assert task["context"]["url"].startswith("http://127.0.0.1:9/pages/")
    with pytest.raises(ValueError, match="fetcher needs fetch_base"):
        Workload({"fetcher": 1})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("diagnostics", "FAMILY=WEIGHT"),
        ("cooking=1", "FAMILY=WEIGHT"),
        ("writer=lots", "must be a number"),
        ("writer=-1", "must be >= 0"),
        ("writer=0", "at least one family"),
    ],
)
def test_parse_mix_explains_bad_input(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_mix(text)


def test_parse_mix() -> None:
    assert parse_mix("diagnostics=0.4, writer=0.6") == {"diagnostics": 0.4, "writer": 0.6}


def test_each_family_routes_to_the_agent_it_is_written_for(tmp_path: Path) -> None:
    # The workload's mix means something only if the bundled agents route its tasks as labelled.
    settings = BuiltinToolSettings(index_path=str(tmp_path / "index.sqlite"))
    runtime = build_runtime(DEFAULT_CONFIG, metrics_registry=None, builtin_settings=settings)
    try:
        for family in ("diagnostics", "researcher", "fetcher", "writer"):
            for intent in build_intents(family):
                for text in intent.phrasings:
                    decision = runtime.route(text)
                    assert (decision.agent, decision.source) in {(family, "scored"), (family, "cache"),
                                                                 (family, "similar")}, text  # fmt: skip
                    assert decision.confidence > 0.5, text
        for intent in build_intents("offtopic")[::37]:
            decision = runtime.route(intent.phrasings[0])
            assert decision.confidence < 0.5, intent.phrasings[0]
    finally:
        runtime.close()


def test_a_share_of_fresh_tasks_is_new_text_every_time() -> None:
    known = {p for intent in build_intents("writer") for p in intent.phrasings}
    half = Workload({"writer": 1}, seed=2, fresh_share=0.5)
    tasks = [half.next_task()["task"] for _ in range(400)]
    fresh = [t for t in tasks if t not in known]
    assert 150 < len(fresh) < 250
    assert len(set(fresh)) == len(fresh)
    assert all(any(t.startswith(p) for p in known) for t in fresh)
    every = Workload({"writer": 1}, seed=2, fresh_share=1.0)
    assert all(every.next_task()["task"] not in known for _ in range(20))
    with pytest.raises(ValueError, match="fresh_share"):
        Workload(fresh_share=1.5)


def test_investigator_tasks_route_to_the_llm_agent_when_a_model_is_configured(tmp_path: Path) -> None:
    # The bundled investigator is an llm agent: it is configured only with a model (never called here).
    settings = BuiltinToolSettings(index_path=str(tmp_path / "index.sqlite"),
                                   llm=LlmSettings(base_url="http://127.0.0.1:9/v1", model="m"))  # fmt: skip
    runtime = build_runtime(DEFAULT_CONFIG, metrics_registry=None, builtin_settings=settings)
    try:
        for intent in build_intents("investigator"):
            for text in intent.phrasings:
                decision = runtime.route(text)
                assert decision.agent == "investigator", (text, decision.explanation)
                assert decision.confidence > 0.5, text
    finally:
        runtime.close()
