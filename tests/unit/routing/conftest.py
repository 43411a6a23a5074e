"""Fixtures for the routing tests: crafted agents, fake clock, switchable tool health."""

from __future__ import annotations

import pytest

from agent_runtime.routing.router import TaskRouter
from agent_runtime.scoring.experience import ExperienceTracker
from tests.unit.scoring.helpers import FakeClock, RecordingListener, make_config


class Health:
    """Tool health as the breakers would report it: a set of down tools and a version."""

    def __init__(self) -> None:
        self.down: set[str] = set()
        self.version = 0

    def healthy(self, tool: str) -> bool:
        return tool not in self.down

    def current_version(self) -> int:
        return self.version

    def set_down(self, tool: str, down: bool = True) -> None:
        """Mark ``tool`` down (or up); the version moves only on a real change, as a breaker's would."""
        if down == (tool in self.down):
            return
        if down:
            self.down.add(tool)
        else:
            self.down.discard(tool)
        self.version += 1


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture()
def experience(clock: FakeClock) -> ExperienceTracker:
    return ExperienceTracker(half_life_seconds=60.0, clock=clock)


@pytest.fixture()
def health() -> Health:
    return Health()


@pytest.fixture()
def listener() -> RecordingListener:
    return RecordingListener()


@pytest.fixture()
def router(experience: ExperienceTracker, health: Health, listener: RecordingListener) -> TaskRouter:
    return TaskRouter.from_config(
        make_config(),
        experience=experience,
        tool_health=health.healthy,
        health_version=health.current_version,
        listener=listener,
    )
