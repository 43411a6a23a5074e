"""Fixtures for the scoring tests: crafted agents, their matrix, a fake clock."""

from __future__ import annotations

import pytest

from agent_runtime.config.models import AgentSpec
from agent_runtime.scoring.analysis import TaskAnalyser
from agent_runtime.scoring.experience import ExperienceTracker
from agent_runtime.scoring.matrix import CapabilityMatrix
from agent_runtime.scoring.scorer import ConfidenceScorer
from tests.unit.scoring.helpers import AGENTS, ROUTING, FakeClock, RecordingListener


@pytest.fixture()
def agents() -> tuple[AgentSpec, ...]:
    return AGENTS


@pytest.fixture()
def matrix() -> CapabilityMatrix:
    return CapabilityMatrix(AGENTS)


@pytest.fixture()
def listener() -> RecordingListener:
    return RecordingListener()


@pytest.fixture()
def analyser(matrix: CapabilityMatrix, listener: RecordingListener) -> TaskAnalyser:
    return TaskAnalyser(matrix, cache_size=64, listener=listener)


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture()
def experience(clock: FakeClock) -> ExperienceTracker:
    return ExperienceTracker(half_life_seconds=60.0, clock=clock)


@pytest.fixture()
def scorer(matrix: CapabilityMatrix, experience: ExperienceTracker) -> ConfidenceScorer:
    return ConfidenceScorer(AGENTS, matrix, ROUTING, experience)
