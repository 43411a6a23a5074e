"""The router: cache layers, fallback chain, planning gate, invalidation, reload."""

from __future__ import annotations

import pytest

from agent_runtime.config.models import AgentSpec, RuntimeConfig, Specialty
from agent_runtime.errors import ConfigError, UnknownAgentError
from agent_runtime.results import RoutingDecision, Task
from agent_runtime.routing.router import TaskRouter
from agent_runtime.scoring.experience import ExperienceTracker
from tests.unit.routing.conftest import Health
from tests.unit.scoring.helpers import AGENTS, FakeClock, RecordingListener, make_config

CACHE_Q = "Why is the cache hit rate so low?"
COMPLEX_Q = (
    "compare the cache hit rate with the postgres query latency and then write a summary report, "
    "also explain why the prometheus alert paged and how we coordinate a plan to fix it"
)
WEAK_Q = "can you check whether redis is fine over the long weekend"


def route(router: TaskRouter, text: str, **kwargs: str) -> RoutingDecision:
    task = Task(text, **kwargs)  # type: ignore[arg-type]
    return router.route(task, router.analyse(task.text))


def test_fresh_then_exact_cache_hit(router: TaskRouter, listener: RecordingListener) -> None:
    first = route(router, CACHE_Q)
    assert (first.agent, first.source, first.gated) == ("cache-expert", "scored", False)
    assert first.config_version == "v1"
    assert first.explanation.startswith("domain cache 0.86; covers 3/4 terms (cache, hit, rate)")
    assert [c.agent for c in first.candidates] == ["cache-expert", "alerting", "db-expert"]  # ties by name

    listener.lookups.clear()
    again = route(router, "why is the CACHE hit-rate so low")
    assert again.source == "cache"
    assert (again.agent, again.confidence, again.explanation) == (first.agent, first.confidence, first.explanation)
    assert listener.lookups == [("analysis", "exact", True), ("decision", "exact", True)]


def test_score_timing_is_recorded_only_when_scoring_runs(router: TaskRouter) -> None:
    timings: dict[str, float] = {}
    router.route(Task(CACHE_Q), router.analyse(CACHE_Q), timings)
    assert timings["score"] >= 0.0
    timings.clear()
    router.route(Task(CACHE_Q), router.analyse(CACHE_Q), timings)
    assert timings == {}


def test_below_min_confidence_walks_the_fallback_chain(router: TaskRouter) -> None:
    decision = route(router, "sing me a song about the sea")
    # "not-configured" is skipped: the first configured agent of the chain wins.
    assert (decision.agent, decision.source, decision.gated) == ("generalist", "fallback", False)
    assert "< min confidence 0.30; fallback to generalist" in decision.explanation
    assert decision.confidence == pytest.approx(0.225)
    assert route(router, "sing me a song about the sea").source == "cache"


def test_an_off_topic_task_still_falls_back_after_a_long_run_of_successes(
    router: TaskRouter, experience: ExperienceTracker
) -> None:
    # Every agent with the best record experience can give (as after hours of healthy traffic): a task
    # none of them matches is still the fallback chain's, not the agent whose base and record add up.
    for agent in (spec.name for spec in router.config.agents):
        for _ in range(500):
            experience.record(agent, success=True)
    decision = route(router, "sing me a song about the sea")
    assert (decision.agent, decision.source, decision.fallback) == ("generalist", "fallback", True)


def test_without_a_configured_fallback_the_best_agent_is_kept(experience: ExperienceTracker) -> None:
    router = TaskRouter.from_config(make_config(fallback_chain=("ghost",)), experience=experience)
    decision = route(router, "sing me a song about the sea")
    assert decision.source == "scored"
    assert "no fallback agent configured" in decision.explanation
    assert decision.agent == decision.candidates[0].agent


def test_planning_gate_takes_complex_tasks(router: TaskRouter) -> None:
    analysis = router.analyse(COMPLEX_Q)
    assert analysis.complexity >= 0.8
    decision = router.route(Task(COMPLEX_Q), analysis)
    assert (decision.agent, decision.gated, decision.source) == ("planner", True, "scored")
    assert decision.explanation.startswith(f"planning gate: complexity {analysis.complexity:.2f} >= 0.80")


def test_planning_gate_takes_low_confidence_tasks(router: TaskRouter) -> None:
    board = router.scorer.evaluate(router.analyse(WEAK_Q))
    best = board.top(1)[0]
    assert 0.30 <= best.confidence < 0.45 and best.agent == "cache-expert"
    decision = route(router, WEAK_Q)
    assert (decision.agent, decision.gated) == ("planner", True)
    assert f"planning gate: confidence {best.confidence:.2f} < 0.45; best cache-expert" in decision.explanation
    assert decision.confidence == best.confidence


def test_no_planning_agent_means_no_gate(experience: ExperienceTracker) -> None:
    router = TaskRouter.from_config(make_config(planning_agent=None), experience=experience)
    assert (route(router, WEAK_Q).agent, route(router, WEAK_Q).gated) == ("cache-expert", False)
    gated_to_ghost = TaskRouter.from_config(make_config(planning_agent="ghost"), experience=experience)
    assert route(gated_to_ghost, COMPLEX_Q).gated is False


def test_requested_agent_is_honoured_and_not_cached(router: TaskRouter) -> None:
    decision = route(router, CACHE_Q, agent="writer")
    assert (decision.agent, decision.source, decision.gated) == ("writer", "scored", False)
    assert decision.explanation.startswith("requested by the task; ")
    assert [c.agent for c in decision.candidates] == ["writer"]
    assert len(router.cache) == 0


def test_unknown_requested_agent_names_the_known_agents(router: TaskRouter) -> None:
    with pytest.raises(UnknownAgentError) as error:
        route(router, CACHE_Q, agent="ghost")
    assert str(error.value) == (
        "unknown agent 'ghost'; configured agents: cache-expert, db-expert, writer, alerting, planner, generalist"
    )


def test_paraphrase_hits_the_similar_layer(router: TaskRouter, listener: RecordingListener) -> None:
    first = route(router, "why is the cache hit rate so low")
    listener.lookups.clear()
    paraphrase = route(router, "why are the cache hit rates so low today")
    assert paraphrase.source == "similar"
    assert paraphrase.agent == first.agent
    assert paraphrase.explanation.startswith("paraphrase of a cached task (similarity 1.00); domain cache")
    assert ("decision", "exact", False) in listener.lookups and ("decision", "similar", True) in listener.lookups
    # A paraphrase hit is not filed under the paraphrase's own fingerprint.
    assert route(router, "why are the cache hit rates so low today").source == "similar"


def test_knife_edge_decisions_are_not_offered_to_paraphrases(router: TaskRouter) -> None:
    assert route(router, WEAK_Q).gated  # 0.43 vs the 0.45 gate: closer than SIMILAR_MIN_MARGIN
    assert route(router, WEAK_Q).source == "cache"
    assert route(router, "can you check whether redis is fine over the long weekend, please").source == "scored"


def test_without_a_stability_margin_every_decision_is_offered_to_paraphrases(experience: ExperienceTracker) -> None:
    router = TaskRouter.from_config(make_config(), experience=experience, similar_min_margin=0.0)
    route(router, WEAK_Q)
    assert route(router, "can you check whether redis is fine over the long weekend, please").source == "similar"


def test_reload_invalidates_and_follows_the_new_config(router: TaskRouter) -> None:
    route(router, CACHE_Q)
    analyser = router.analyser
    router.reload(make_config(version="v2"))
    assert router.analyser is analyser  # same vocabulary: memoised analyses survive
    decision = route(router, CACHE_Q)
    assert (decision.source, decision.config_version) == ("scored", "v2")

    without_cache_expert = RuntimeConfig(
        agents=tuple(a for a in AGENTS if a.name != "cache-expert"), routing=router.config.routing, version="v3"
    )
    stale = router.analyse(CACHE_Q)
    router.reload(without_cache_expert)
    assert router.analyser is not analyser
    decision = router.route(Task(CACHE_Q), stale)  # analysed under the old vocabulary: redone
    assert decision.agent != "cache-expert" and decision.config_version == "v3"


def test_the_caches_byte_bounds_come_from_the_settings_and_follow_a_reload(experience: ExperienceTracker) -> None:
    texts = (CACHE_Q, WEAK_Q, "write a report about cache eviction")
    router = TaskRouter.from_config(make_config(decision_cache_max_bytes=1), experience=experience)
    for text in texts:
        route(router, text)
    assert len(router.cache) == 1  # every decision is over the bound: only the newest stays
    assert [route(router, text).source for text in texts[:2]] == ["scored", "scored"]

    router.reload(make_config(version="v2", analysis_cache_max_bytes=2048))
    assert (router.cache.max_bytes, router.analyser.max_bytes) == (3 * 1024 * 1024, 2048)
    for text in texts:
        route(router, text)
    assert [route(router, text).source for text in texts] == ["cache", "cache", "cache"]
    assert 0 < router.cache.held_bytes <= router.cache.max_bytes


def test_reload_with_an_unchanged_version_string_still_invalidates(router: TaskRouter) -> None:
    route(router, CACHE_Q)
    router.reload(make_config(version="v1"))
    assert route(router, CACHE_Q).source == "scored"


def test_health_change_invalidates_and_can_change_the_decision(router: TaskRouter, health: Health) -> None:
    text = "write a report about cache eviction"
    assert route(router, text).agent == "writer"
    assert route(router, text).source == "cache"
    health.set_down("docs_search")
    decision = route(router, text)
    assert (decision.agent, decision.source, decision.health_version) == ("cache-expert", "scored", 1)
    health.set_down("docs_search", down=False)
    assert route(router, text).agent == "writer"


def test_experience_epoch_change_invalidates(
    router: TaskRouter, experience: ExperienceTracker, clock: FakeClock
) -> None:
    text = "write a report about cache eviction"
    route(router, text)
    experience.record("writer", success=True)
    experience.record("writer", success=False)  # quantised term still 0: epoch unchanged
    assert route(router, text).source == "cache"
    for _ in range(5):
        experience.record("writer", success=False)
    decision = route(router, text)
    assert (decision.source, decision.agent) == ("scored", "cache-expert")
    clock.advance(60.0 * 30)  # the failures fade, the epoch moves again
    decision = route(router, text)
    assert (decision.source, decision.agent) == ("scored", "writer")


DB_Q = "why is the postgres query so slow"
WRITE_Q = "write a summary report for the team"


def test_an_experience_change_keeps_the_decisions_that_do_not_depend_on_that_agent(
    router: TaskRouter, experience: ExperienceTracker
) -> None:
    for text in (CACHE_Q, DB_Q, WRITE_Q):
        route(router, text)
    epoch = experience.epoch
    for _ in range(5):
        experience.record("writer", success=True)
    assert experience.epoch > epoch  # the writer's term moved: the old design emptied the cache here
    assert "writer" not in {c.agent for c in route(router, CACHE_Q).candidates}
    assert [route(router, text).source for text in (CACHE_Q, DB_Q, WRITE_Q)] == ["cache", "cache", "scored"]


def test_a_runner_up_the_task_does_not_concern_keeps_the_decision_through_its_good_record(
    router: TaskRouter, experience: ExperienceTracker
) -> None:
    """Only a bad record counts for an agent a task does not concern, in its score and its explanation alike."""
    before = route(router, CACHE_Q)
    runner_up = next(c for c in before.candidates if c.agent == "alerting")
    for _ in range(5):
        experience.record("alerting", success=True)
    after = route(router, CACHE_Q)
    assert after.source == "cache" and after.candidates == before.candidates
    fresh = TaskRouter.from_config(make_config(decision_cache_size=0), experience=experience)
    assert next(c for c in route(fresh, CACHE_Q).candidates if c.agent == "alerting") == runner_up


def test_a_negative_term_moving_drops_decisions_that_never_named_the_agent(
    router: TaskRouter, experience: ExperienceTracker, clock: FakeClock
) -> None:
    """A negative term counts on every task: its recovery can bring an agent back among any task's candidates."""
    assert "alerting" in {c.agent for c in route(router, CACHE_Q).candidates}
    for _ in range(6):
        experience.record("alerting", success=False)
    decision = route(router, CACHE_Q)
    assert decision.source == "scored" and "alerting" not in {c.agent for c in decision.candidates}
    assert route(router, CACHE_Q).source == "cache"
    clock.advance(60.0 * 30)  # the failures fade: alerting's term is back at 0
    decision = route(router, CACHE_Q)
    assert decision.source == "scored" and "alerting" in {c.agent for c in decision.candidates}


def test_no_agents_is_a_config_error() -> None:
    router = TaskRouter.from_config(RuntimeConfig(version="empty"))
    with pytest.raises(ConfigError, match="no agents are configured"):
        route(router, CACHE_Q)


def test_scorer_for_other_agents_is_rejected(router: TaskRouter) -> None:
    other = RuntimeConfig(agents=(AgentSpec("solo", specialties=(Specialty("x", {"x": 1.0}),)),))
    with pytest.raises(ValueError, match="different agents"):
        TaskRouter(other, router.scorer, router.analyser, router.cache)


def test_deriving_sketches_only_when_something_is_indexed_changes_no_answer() -> None:
    texts = [CACHE_Q, "cache hit rate so low, why?", "why is the cache hit rate that low", COMPLEX_Q, CACHE_Q]
    lazy, forced = TaskRouter.from_config(make_config()), TaskRouter.from_config(make_config())
    for text in texts:
        analysis = forced.analyse(text)
        assert analysis.sketch >= 0  # derived before routing, as before sketches were lazy
        expected = forced.route(Task(text), analysis)
        got = route(lazy, text)
        assert (got.agent, got.source, got.confidence, got.explanation) == (
            expected.agent,
            expected.source,
            expected.confidence,
            expected.explanation,
        )
    uncached = TaskRouter.from_config(make_config(decision_cache_size=0))
    analysis = uncached.analyse(CACHE_Q)
    assert route(uncached, CACHE_Q).source == "scored"
    assert analysis._sketch is None  # nothing indexed, so nothing to compare a sketch with
