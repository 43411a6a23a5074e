"""Layer health: the back-off after failures doubles up to its maximum and a success resets it."""

from __future__ import annotations

from agent_runtime.tools.layer_health import LayerHealth
from tests.unit.tools.conftest import FakeClock


def test_back_off_doubles_up_to_the_maximum_and_resets_on_success() -> None:
    clock = FakeClock()
    health = LayerHealth("l2", retry_after_seconds=1, max_retry_after_seconds=5, clock=clock)
    periods = []
    for _ in range(5):
        health.failed("get", ConnectionError("down"))
        start = clock.now
        while not health.available():
            clock.advance(0.5)
        periods.append(clock.now - start)
    assert periods == [1, 2, 4, 5, 5]
    health.succeeded()
    health.failed("get", ConnectionError("down again"))
    assert not health.available()
    clock.advance(1)
    assert health.available()
