"""Experience: bounded, decaying, quantised terms and the epoch that tracks them."""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Any

import pytest

from agent_runtime.scoring.experience import ExperienceTracker
from tests.unit.scoring.helpers import FakeClock


def test_no_history_is_neutral(experience: ExperienceTracker) -> None:
    assert experience.term("anyone") == 0.0
    assert experience.epoch == 0


def test_terms_are_bounded_and_quantised(experience: ExperienceTracker) -> None:
    for _ in range(1000):
        experience.record("good", success=True)
        experience.record("bad", success=False)
    assert experience.term("good") == 0.9
    assert experience.term("bad") == -0.9
    experience.record("mixed", success=True)
    experience.record("mixed", success=False)
    assert experience.term("mixed") == 0.0
    for name in ("good", "bad", "mixed"):
        term = experience.term(name)
        assert -1.0 <= term <= 1.0
        assert math.isclose(term * 10, round(term * 10))


def test_little_evidence_gives_a_small_term(experience: ExperienceTracker) -> None:
    experience.record("new", success=True)
    assert experience.term("new") == 0.0  # 1 / (1 + prior 10) = 0.09: not yet a step
    experience.record("new", success=True)
    assert experience.term("new") == 0.1  # 2 / 12 = 0.17


def test_epoch_moves_only_when_a_quantised_term_changes(experience: ExperienceTracker) -> None:
    seen = []
    for _ in range(4):
        experience.record("writer", success=True)
        seen.append((experience.term("writer"), experience.epoch))
    # 1/11 = 0.09, 2/12 = 0.17, 3/13 = 0.23 (past 0.2 + hysteresis), 4/14 = 0.29
    assert seen == [(0.0, 0), (0.1, 1), (0.2, 2), (0.2, 2)]


def test_hysteresis_holds_a_term_just_past_its_boundary(clock: FakeClock) -> None:
    sticky = ExperienceTracker(half_life_seconds=60.0, clock=clock)
    plain = ExperienceTracker(half_life_seconds=60.0, clock=clock, hysteresis=0.0)
    for tracker in (sticky, plain):
        for _ in range(5):
            tracker.record("writer", success=True)  # 5 / 15 = 0.33
        assert tracker.term("writer") == 0.3
    # Decay takes the term to 0.29 after 60 * log2(1 / 0.8169) ~= 17.5 s.
    clock.advance(17.6)
    assert (sticky.term("writer"), plain.term("writer")) == (0.3, 0.2)


def test_decay_alone_moves_the_term_and_the_epoch_exactly_at_the_boundary(
    experience: ExperienceTracker, clock: FakeClock
) -> None:
    for _ in range(5):
        experience.record("writer", success=True)
    assert (experience.term("writer"), experience.epoch) == (0.3, 1)
    # The term leaves tick 3 at 0.3 - hysteresis 0.025 = 0.275: 5D / (5D + 10)
    # = 0.275 when D = 2.75 / 3.625, i.e. after 60 * log2(3.625 / 2.75) ~= 23.9 s.
    boundary = 60.0 * math.log2(3.625 / 2.75)
    clock.advance(boundary - 0.1)
    assert (experience.term("writer"), experience.epoch) == (0.3, 1)
    clock.advance(0.2)
    assert (experience.term("writer"), experience.epoch) == (0.2, 2)


def test_experience_decays_towards_zero(experience: ExperienceTracker, clock: FakeClock) -> None:
    for _ in range(50):
        experience.record("writer", success=False)
    seen = [experience.term("writer")]
    for _ in range(12):
        clock.advance(60.0)
        seen.append(experience.term("writer"))
    assert seen[0] == -0.8  # -50 / 60
    assert seen[-1] == 0.0
    assert all(abs(later) <= abs(earlier) for earlier, later in pairwise(seen))


def test_old_outcomes_weigh_less_than_new_ones(experience: ExperienceTracker, clock: FakeClock) -> None:
    for _ in range(10):
        experience.record("writer", success=False)
    clock.advance(600.0)  # ten half-lives
    for _ in range(3):
        experience.record("writer", success=True)
    assert experience.term("writer") > 0


def test_snapshot_is_reused_while_nothing_changes(experience: ExperienceTracker, clock: FakeClock) -> None:
    experience.record("writer", success=True)
    experience.record("writer", success=True)
    first = experience.snapshot()
    clock.advance(1.0)
    assert experience.snapshot() is first
    assert first.term("writer") == 0.1
    assert first.term("other") == 0.0


def test_reset_forgets_and_moves_the_epoch(experience: ExperienceTracker) -> None:
    experience.record("writer", success=True)
    experience.record("writer", success=True)
    epoch = experience.epoch
    experience.reset()
    assert experience.term("writer") == 0.0
    assert experience.epoch == epoch + 1


@pytest.mark.parametrize(
    "kwargs",
    [{"half_life_seconds": 0.0}, {"step": 0.0}, {"step": 1.5}, {"prior": 0.0}, {"hysteresis": 1.0}],
)
def test_invalid_settings_are_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ExperienceTracker(**kwargs)


def test_a_term_that_changes_and_changes_back_between_snapshots_keeps_the_epoch(
    experience: ExperienceTracker,
) -> None:
    before = experience.snapshot()
    experience.record("writer", success=True)
    experience.record("writer", success=True)  # 0.1 ...
    experience.record("writer", success=False)
    experience.record("writer", success=False)  # ... and back to 0.0, unobserved
    assert experience.snapshot() is before
    assert experience.epoch == 0


def test_only_the_recorded_agent_moves(experience: ExperienceTracker) -> None:
    for _ in range(4):
        experience.record("writer", success=True)
        experience.record("cache-expert", success=False)
    experience.record("writer", success=True)
    snapshot = experience.snapshot()
    assert (snapshot.term("writer"), snapshot.term("cache-expert")) == (0.3, -0.2)
