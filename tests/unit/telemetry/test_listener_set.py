"""ListenerSet binds each event to the listeners that handle it; a task's stages arrive as one event."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry

from agent_runtime.telemetry.labels import LabelGuard
from agent_runtime.telemetry.listener import ListenerSet, RuntimeListener
from agent_runtime.telemetry.metrics import PrometheusListener


class StageRecorder(RuntimeListener):
    def __init__(self) -> None:
        self.stages: list[tuple[str, float]] = []

    def stage_timed(self, stage: str, seconds: float) -> None:
        self.stages.append((stage, seconds))


class BatchRecorder(RuntimeListener):
    def __init__(self) -> None:
        self.batches: list[list[tuple[str, float]]] = []
        self.fallbacks: list[bool] = []

    def stages_timed(self, timings: Iterable[tuple[str, float]]) -> None:
        self.batches.append(list(timings))

    def routing_decided(self, agent: str, source: str, confidence: float, fallback: bool = False) -> None:
        self.fallbacks.append(fallback)


def test_every_listener_that_handles_an_event_gets_it_in_order() -> None:
    one, other = StageRecorder(), StageRecorder()
    listeners = ListenerSet([one, RuntimeListener(), other])
    listeners.stage_timed("route", 0.5)
    assert one.stages == other.stages == [("route", 0.5)]


def test_a_listener_with_only_stage_timed_sees_each_stage_of_stages_timed() -> None:
    single, batch = StageRecorder(), BatchRecorder()
    ListenerSet([single, batch]).stages_timed([("plan", 0.1), ("tool", 0.2)])
    assert single.stages == [("plan", 0.1), ("tool", 0.2)]
    assert batch.batches == [[("plan", 0.1), ("tool", 0.2)]]


def test_keyword_arguments_and_nested_sets_reach_the_listener() -> None:
    batch = BatchRecorder()
    outer = ListenerSet([ListenerSet([batch]), ListenerSet([StageRecorder()])])
    outer.routing_decided("writer", "cache", 0.9, fallback=True)
    assert batch.fallbacks == [True]


def test_swapping_the_listeners_rebinds_every_event() -> None:
    listeners = ListenerSet()
    listeners.stage_timed("route", 0.1)  # nobody listens yet
    recorder = StageRecorder()
    listeners._bind((recorder,))
    listeners.stage_timed("route", 0.2)
    assert recorder.stages == [("route", 0.2)]
    assert listeners.listeners == (recorder,)


def test_stages_timed_reads_the_same_as_one_stage_timed_per_stage() -> None:
    timings = [("route", 0.001), ("tool", 0.02), ("tool", float("nan")), ("route", 3.0), ("nonsense", 0.5)]
    batched_registry, single_registry = CollectorRegistry(), CollectorRegistry()
    batched = PrometheusListener(LabelGuard(), registry=batched_registry)  # kept: it holds the pending batches
    batched.stages_timed(timings)
    single = PrometheusListener(LabelGuard(), registry=single_registry)
    for stage, seconds in timings:
        single.stage_timed(stage, seconds)

    def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in registry.collect()
            if family.name in ("agent_runtime_stage_duration_seconds", "agent_runtime_telemetry_labels_folded")
            for s in family.samples
            if not s.name.endswith("_created") and s.value == s.value  # NaN sums compare unequal
        }

    assert samples(batched_registry) == samples(single_registry)
    # NaN goes in no bucket (the histogram's own rule), so one tool observation is counted.
    assert samples(batched_registry)[("agent_runtime_stage_duration_seconds_count", (("stage", "tool"),))] == 1.0
