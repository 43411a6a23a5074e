"""Confidence scoring on crafted agents: ordering, explanations, experience, tool health, cost."""

from __future__ import annotations

import random
import re

import pytest

from agent_runtime.config.models import AgentSpec, Specialty
from agent_runtime.errors import UnknownAgentError
from agent_runtime.scoring.analysis import TaskAnalyser
from agent_runtime.scoring.experience import ExperienceTracker
from agent_runtime.scoring.matrix import CapabilityMatrix
from agent_runtime.scoring.scorer import BASE_WEIGHT, TOOLS_WEIGHT, ConfidenceScorer
from tests.unit.scoring.helpers import AGENTS, ROUTING, FakeClock

EXPLANATION = re.compile(
    r"^(domain \S+ \d\.\d\d|no domain match); covers \d+/\d+ terms( \([^)]*\))?; "
    r"(tools \d+/\d+ healthy|no tools); base \d\.\d\d; experience [+-]\d\.\d\d$"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Why is the cache hit rate so low?", "cache-expert"),
        ("What TTL and eviction policy does redis use?", "cache-expert"),
        ("Write a short summary report for the customer email", "writer"),
        ("Which postgres query is missing an index?", "db-expert"),
        ("The prometheus alert paged us during the incident", "alerting"),
    ],
)
def test_the_specialist_wins_its_own_questions(
    scorer: ConfidenceScorer, analyser: TaskAnalyser, text: str, expected: str
) -> None:
    scores = scorer.score(analyser.analyse(text))
    assert scores[0].agent == expected
    assert scores[0].confidence > scores[1].confidence
    assert [s.confidence for s in scores] == sorted((s.confidence for s in scores), reverse=True)
    assert {s.agent for s in scores} == {spec.name for spec in AGENTS}


def test_cache_specialist_beats_writer_on_cache_questions_and_vice_versa(
    scorer: ConfidenceScorer, analyser: TaskAnalyser
) -> None:
    cache_q = scorer.evaluate(analyser.analyse("why do cache misses keep growing after eviction"))
    write_q = scorer.evaluate(analyser.analyse("draft the weekly summary report"))
    assert cache_q.confidence("cache-expert") > cache_q.confidence("writer") + 0.3
    assert write_q.confidence("writer") > write_q.confidence("cache-expert") + 0.3


def test_explanation_names_domain_terms_tools_base_and_experience(
    scorer: ConfidenceScorer, analyser: TaskAnalyser
) -> None:
    best = scorer.score(analyser.analyse("Why is the cache hit rate so low?"))[0]
    assert best.explanation == (
        "domain cache 0.86; covers 3/4 terms (cache, hit, rate); tools 2/2 healthy; base 0.50; experience +0.00"
    )
    for score in scorer.score(analyser.analyse("write a report about cache eviction and ttl in redis")):
        assert EXPLANATION.match(score.explanation), score.explanation
    generalist = scorer.evaluate(analyser.analyse("cache")).of("generalist")
    assert generalist.explanation == "no domain match; covers 0/1 terms; no tools; base 0.50; experience +0.00"


def test_long_coverage_lists_are_abbreviated(scorer: ConfidenceScorer, analyser: TaskAnalyser) -> None:
    best = scorer.score(analyser.analyse("cache hit rate eviction ttl redis miss"))[0]
    assert "covers 7/7 terms (cache, hit, rate, eviction, ...)" in best.explanation


def test_an_agent_matching_nothing_gets_tools_and_base_only(scorer: ConfidenceScorer, analyser: TaskAnalyser) -> None:
    board = scorer.evaluate(analyser.analyse("sing me a song about the sea"))
    assert board.confidence("generalist") == pytest.approx(TOOLS_WEIGHT + BASE_WEIGHT * 0.5)
    assert board.confidence("writer") == pytest.approx(TOOLS_WEIGHT + BASE_WEIGHT * 0.5)


def test_a_good_record_does_not_make_an_agent_fit_a_task_it_does_not_match(
    scorer: ConfidenceScorer, analyser: TaskAnalyser, experience: ExperienceTracker
) -> None:
    off_topic = analyser.analyse("sing me a song about the sea")
    on_topic = analyser.analyse("draft the weekly summary report")
    before = scorer.evaluate(on_topic).confidence("writer")
    for _ in range(500):
        experience.record("writer", success=True)
    # On a task it matches, the record counts in full; on one it does not, the agent still scores only
    # its tools and base, below min_confidence: the task goes to the fallback chain as before.
    assert scorer.evaluate(on_topic).confidence("writer") == pytest.approx(before + ROUTING.experience_weight * 0.9)
    board = scorer.evaluate(off_topic)
    assert board.confidence("writer") == pytest.approx(TOOLS_WEIGHT + BASE_WEIGHT * 0.5)
    assert board.confidence("writer") < ROUTING.min_confidence
    assert board.of("writer").explanation.endswith("experience +0.00")  # the good record does not count here
    assert EXPLANATION.match(board.of("writer").explanation)
    # A bad record still counts everywhere: it is evidence against the agent whatever the task.
    for _ in range(2000):
        experience.record("writer", success=False)
    board = scorer.evaluate(off_topic)
    assert board.confidence("writer") < TOOLS_WEIGHT + BASE_WEIGHT * 0.5
    confidences = [board.confidence(agent) for agent in board.ranking]
    assert confidences == sorted(confidences, reverse=True)


def test_ties_are_broken_by_name() -> None:
    twins = [
        AgentSpec("zeta", specialties=(Specialty("cache", {"cache": 1.0}),)),
        AgentSpec("alpha", specialties=(Specialty("cache", {"cache": 1.0}),)),
    ]
    matrix = CapabilityMatrix(twins)
    scorer = ConfidenceScorer(twins, matrix, ROUTING, ExperienceTracker())
    board = scorer.evaluate(TaskAnalyser(matrix).analyse("cache"))
    assert board.ranking == ("alpha", "zeta")
    assert board.margin == 0.0


def test_specialist_beats_generalist_covering_the_same_terms() -> None:
    broad = {"cache": 1.0, "hit": 1.0, **{f"topic{i}": 1.0 for i in range(30)}}
    agents = [
        AgentSpec("generalist", specialties=(Specialty("cache", broad),)),
        AgentSpec("specialist", specialties=(Specialty("cache", {"cache": 1.0, "hit": 1.0}),)),
    ]
    matrix = CapabilityMatrix(agents)
    scorer = ConfidenceScorer(agents, matrix, ROUTING, ExperienceTracker())
    assert scorer.score(TaskAnalyser(matrix).analyse("cache hit"))[0].agent == "specialist"


def test_experience_moves_confidence_within_its_bound_and_decays(
    scorer: ConfidenceScorer, analyser: TaskAnalyser, experience: ExperienceTracker, clock: FakeClock
) -> None:
    analysis = analyser.analyse("draft the weekly summary report")
    before = scorer.evaluate(analysis).confidence("writer")
    for _ in range(500):
        experience.record("writer", success=False)
    worse = scorer.evaluate(analysis)
    assert worse.confidence("writer") == pytest.approx(before - ROUTING.experience_weight * 0.9)
    assert "experience -0.14" in worse.of("writer").explanation
    clock.advance(60.0 * 40)  # forty half-lives: the failures are forgotten
    assert scorer.evaluate(analysis).confidence("writer") == pytest.approx(before)
    for _ in range(500):
        experience.record("writer", success=True)
    better = scorer.evaluate(analysis).confidence("writer")
    assert better == pytest.approx(before + ROUTING.experience_weight * 0.9)


def test_confidence_is_clamped_to_one() -> None:
    perfect = [AgentSpec("perfect", specialties=(Specialty("cache", {"cache": 1.0}),), base_confidence=1.0)]
    matrix = CapabilityMatrix(perfect)
    experience = ExperienceTracker()
    scorer = ConfidenceScorer(perfect, matrix, ROUTING, experience)
    analysis = TaskAnalyser(matrix).analyse("cache")
    assert scorer.score(analysis)[0].confidence == pytest.approx(1.0)
    for _ in range(100):
        experience.record("perfect", success=True)
    assert scorer.score(analysis)[0].confidence == 1.0


def test_a_down_tool_lowers_confidence_and_shows_in_the_explanation(
    matrix: CapabilityMatrix, analyser: TaskAnalyser, experience: ExperienceTracker
) -> None:
    down: set[str] = set()
    asked: list[str] = []

    def healthy(tool: str) -> bool:
        asked.append(tool)
        return tool not in down

    scorer = ConfidenceScorer(AGENTS, matrix, ROUTING, experience, healthy)
    analysis = analyser.analyse("why is the cache hit rate so low")
    up = scorer.evaluate(analysis)
    assert sorted(asked) == sorted(matrix.all_tools)  # once per distinct tool

    down.add("redis_info")
    half = scorer.evaluate(analysis)
    assert half.confidence("cache-expert") == pytest.approx(up.confidence("cache-expert") - TOOLS_WEIGHT / 2)
    assert "tools 1/2 healthy" in half.of("cache-expert").explanation
    assert half.confidence("writer") == up.confidence("writer")

    down.add("cache_stats")
    none = scorer.evaluate(analysis)
    assert none.confidence("cache-expert") == pytest.approx(up.confidence("cache-expert") - TOOLS_WEIGHT)


def test_a_down_tool_can_change_the_winner(
    matrix: CapabilityMatrix, analyser: TaskAnalyser, experience: ExperienceTracker
) -> None:
    analysis = analyser.analyse("write a report about cache eviction")
    healthy = ConfidenceScorer(AGENTS, matrix, ROUTING, experience)
    degraded = ConfidenceScorer(AGENTS, matrix, ROUTING, experience, lambda tool: tool != "docs_search")
    assert healthy.score(analysis)[0].agent == "writer"
    assert degraded.score(analysis)[0].agent == "cache-expert"


def test_scoring_cost_does_not_grow_with_agents_that_share_no_term(analyser: TaskAnalyser) -> None:
    text = "why is the cache hit rate so low"
    small = CapabilityMatrix(AGENTS)
    small_board = ConfidenceScorer(AGENTS, small, ROUTING, ExperienceTracker()).evaluate(
        TaskAnalyser(small).analyse(text)
    )
    strangers = tuple(
        AgentSpec(f"stranger-{i}", specialties=(Specialty(f"topic{i}", {f"word{i}": 1.0, "gardening": 0.5}),))
        for i in range(500)
    )
    crowd = (*AGENTS, *strangers)
    big = CapabilityMatrix(crowd)
    big_board = ConfidenceScorer(crowd, big, ROUTING, ExperienceTracker()).evaluate(TaskAnalyser(big).analyse(text))
    # One pass over the task's terms: cache, hit and rate each have one posting.
    expected = sum(len(small.postings(term)) for term in TaskAnalyser(small).analyse(text).term_weights)
    assert small_board.postings_visited == big_board.postings_visited == expected == 3
    assert big_board.ranking[0] == small_board.ranking[0] == "cache-expert"
    assert big_board.confidence("cache-expert") == small_board.confidence("cache-expert")


def test_scoring_reuses_the_matrix(
    monkeypatch: pytest.MonkeyPatch, scorer: ConfidenceScorer, analyser: TaskAnalyser
) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the matrix must be built once, not per scoring")

    monkeypatch.setattr(CapabilityMatrix, "__init__", forbidden)
    for text in ("cache", "report", "postgres index", "nothing at all"):
        scorer.score(analyser.analyse(text))


def test_unknown_agent_and_mismatched_matrix(scorer: ConfidenceScorer, analyser: TaskAnalyser) -> None:
    with pytest.raises(UnknownAgentError, match="configured agents: alerting, cache-expert"):
        scorer.evaluate(analyser.analyse("cache")).of("nobody")
    with pytest.raises(ValueError, match="different agents"):
        ConfidenceScorer(AGENTS[:2], CapabilityMatrix(AGENTS), ROUTING, ExperienceTracker())


def test_no_agents_scores_nothing() -> None:
    matrix = CapabilityMatrix([])
    board = ConfidenceScorer([], matrix, ROUTING, ExperienceTracker()).evaluate(TaskAnalyser(matrix).analyse("cache"))
    assert board.best is None
    assert board.top() == []


def test_ranking_equals_a_full_sort_of_every_agents_confidence(
    matrix: CapabilityMatrix, analyser: TaskAnalyser, experience: ExperienceTracker
) -> None:
    # The board merges task-touched agents into a pre-ranked baseline; check
    # it against the plain definition: sort everyone by (-confidence, name).
    rng = random.Random(5)
    words = ["cache", "hit", "rate", "sql", "index", "write", "report", "alert", "plan", "the", "why", "weather"]
    down: set[str] = set()
    scorer = ConfidenceScorer(AGENTS, matrix, ROUTING, experience, lambda tool: tool not in down)
    for _ in range(150):
        if rng.random() < 0.3:
            experience.record(rng.choice(AGENTS).name, success=rng.random() < 0.5)
        if rng.random() < 0.2:
            down ^= {rng.choice(matrix.all_tools)}
        board = scorer.evaluate(analyser.analyse(" ".join(rng.choices(words, k=rng.randint(0, 6)))))
        names = [spec.name for spec in AGENTS]
        expected = sorted(names, key=lambda name: (-board.confidence(name), name))
        assert list(board.ranking) == expected
        assert [s.agent for s in board.top(3)] == expected[:3]
        assert board.margin == pytest.approx(board.confidence(expected[0]) - board.confidence(expected[1]))
