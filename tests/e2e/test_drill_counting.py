"""How the drill counts an alert series' transitions within one wave (no live stack needed)."""

from __future__ import annotations

import pytest

from tests.e2e.drill import count_transitions


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
