"""How the drill counts an alert series' transitions within one wave (no live stack needed)."""

from __future__ import annotations

import pytest

from tests.e2e.drill import count_transitions, wave_samples


@pytest.mark.parametrize(
    ("timeline", "expected"),
    [
        # One clean episode.
        (["inactive", "pending", "firing", "firing", "inactive"], (1, 1, 1, 0)),
        # A pending that cleared before its `for:` notified nobody: abandoned, not fired.
        (["inactive", "pending", "inactive", "pending", "firing", "inactive"], (2, 1, 1, 1)),
        # Flapping: two firing episodes.
        (["inactive", "pending", "firing", "inactive", "pending", "firing", "inactive"], (2, 2, 2, 0)),
        # An episode an earlier wave raised, resolving here, then this wave's own: only the latter counts.
        (["firing", "firing", "inactive", "pending", "firing", "inactive"], (1, 1, 1, 0)),
        # An earlier wave's episode that resolves here and nothing else: nothing counts.
        (["firing", "inactive", "inactive"], (0, 0, 0, 0)),
        # Pending carried over, then firing here: this wave's firing.
        (["pending", "firing", "inactive"], (0, 1, 1, 0)),
        ([], (0, 0, 0, 0)),
    ],
)
def test_transitions_are_counted_per_episode(timeline: list[str], expected: tuple[int, int, int, int]) -> None:
    counts = count_transitions(timeline)
    assert (counts.pending, counts.firing, counts.resolved, counts.abandoned) == expected


def test_a_wave_counts_from_the_sample_before_it_began() -> None:
    # Samples every 1 s from t=100: a wave from t=110.4 to t=130.2 starts from the state at t=110 (before
    # its faults) and owns every sample to t=130; the next wave, from t=130.2, starts from t=130 too.
    timeline = [f"t={100 + i}" for i in range(60)]
    assert timeline[wave_samples(100.0, 1.0, 110.4, 130.2)] == [f"t={t}" for t in range(110, 131)]
    assert timeline[wave_samples(100.0, 1.0, 130.2, 140.0)][0] == "t=130"
    # A fault whose alert is pending by the first sample after the wave began: its pending is this wave's.
    states = ["inactive"] * 11 + ["pending", "firing", "inactive"]
    assert count_transitions(states[wave_samples(100.0, 1.0, 110.4, 114.0)]).pending == 1
