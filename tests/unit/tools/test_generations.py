"""Generations: the invalidation counters tool-cache keys embed, kept in step with the authority."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_runtime.tools.generations import Generations
from agent_runtime.tools.layers import DiskLayer
from tests.unit.tools.conftest import FakeClock


@pytest.fixture()
def authority(tmp_path: Path) -> Iterator[DiskLayer]:
    layer = DiskLayer(str(tmp_path))
    yield layer
    layer.close()


def test_generations_follow_the_authority_down_when_nothing_was_bumped_meanwhile(
    authority: DiskLayer, clock: FakeClock
) -> None:
    """A flushed shared layer restarts its counters: every process must follow it, not keep its higher count."""
    generations = Generations(authority, clock, refresh_seconds=1.0)
    generations.track("price", ())
    generations.of("price")
    generations.invalidate(tool="price")
    generations.invalidate(tool="price")
    assert generations.of("price")[1] == 2
    authority.generations = lambda names: [0 for _ in names]  # type: ignore[method-assign]
    clock.advance(1.5)
    assert generations.of("price") == (0, 0)
