"""Batched histogram observations read exactly as one observe per event."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Histogram

from agent_runtime.telemetry import metric_batches, metrics
from agent_runtime.telemetry.labels import LabelGuard
from agent_runtime.telemetry.metrics import PrometheusListener

VALUES = [0.0, 0.00005, 0.001, 0.0025, 0.0025000001, 0.05, 0.3, 7.0, 1e9, float("inf")]


def _stage_listener_and_reference(
    registry: CollectorRegistry, reference_registry: CollectorRegistry
) -> tuple[PrometheusListener, Histogram]:
    """Our listener, and a plain histogram with the stage histogram's buckets to compare it with."""
    listener = PrometheusListener(LabelGuard(), registry=registry)
    buckets = listener.collectors["agent_runtime_stage_duration_seconds"]._upper_bounds  # type: ignore[attr-defined]
    return listener, Histogram("reference", "", ["stage"], registry=reference_registry, buckets=buckets)


def test_stage_timings_read_the_same_as_direct_observations() -> None:
    registry, reference_registry = CollectorRegistry(), CollectorRegistry()
    listener, reference = _stage_listener_and_reference(registry, reference_registry)
    for value in VALUES:
        listener.stage_timed("route", value)
        reference.labels("route").observe(value)
    ours = {
        (s.name.replace("agent_runtime_stage_duration_seconds", "h"), s.labels.get("le")): s.value
        for family in registry.collect()
        if family.name == "agent_runtime_stage_duration_seconds"
        for s in family.samples
        if s.labels.get("stage") == "route" and not s.name.endswith("_created")
    }
    theirs = {
        (s.name.replace("reference", "h"), s.labels.get("le")): s.value
        for family in reference_registry.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }
    assert ours == theirs


def _stage_samples(registry: CollectorRegistry) -> dict[tuple[str, str | None, str | None], float]:
    return {
        (s.name, s.labels.get("stage"), s.labels.get("le")): s.value
        for family in registry.collect()
        if family.name == "agent_runtime_stage_duration_seconds"
        for s in family.samples
        if not s.name.endswith("_created")
    }


def test_a_task_s_stage_timings_as_one_group_read_the_same_as_one_observe_each() -> None:
    grouped_registry, single_registry = CollectorRegistry(), CollectorRegistry()
    grouped = PrometheusListener(LabelGuard(), registry=grouped_registry)
    single = PrometheusListener(LabelGuard(), registry=single_registry)
    # "made up" is no stage: folded, and the fold counted once per observation either way.
    tasks = [[("route", value), ("plan", value / 2), ("made up", value)] for value in VALUES]
    for timings in tasks:
        grouped.stages_timed(iter(timings))  # any iterable: a generator is taken at once
        for stage, seconds in timings:
            single.stage_timed(stage, seconds)
    assert _stage_samples(grouped_registry) == _stage_samples(single_registry)
    assert grouped_registry.get_sample_value(
        "agent_runtime_telemetry_labels_folded_total", {"label": "stage"}
    ) == single_registry.get_sample_value(
        "agent_runtime_telemetry_labels_folded_total", {"label": "stage"}
    ) == len(VALUES)


def test_stage_groups_are_folded_in_after_flush_every_groups_and_by_flush_pending() -> None:
    listener = PrometheusListener(LabelGuard(), registry=CollectorRegistry())
    child = listener.collectors["agent_runtime_stage_duration_seconds"].labels("analyse")  # type: ignore[attr-defined]
    for _ in range(metric_batches.FLUSH_EVERY - 1):
        listener.stages_timed([("analyse", 0.001), ("route", 0.002)])
    assert child._sum.get() == 0.0  # pending, not yet folded
    listener.stages_timed([("analyse", 0.001)])
    assert child._sum.get() == pytest.approx(0.001 * metric_batches.FLUSH_EVERY)
    listener.stages_timed([("analyse", 0.5)])
    metric_batches.flush_pending()
    assert child._sum.get() == pytest.approx(0.001 * metric_batches.FLUSH_EVERY + 0.5)


def test_pending_observations_are_folded_in_at_the_latest_after_flush_every() -> None:
    registry = CollectorRegistry()
    listener = PrometheusListener(LabelGuard(), registry=registry)
    child = listener.collectors["agent_runtime_stage_duration_seconds"].labels("plan")  # type: ignore[attr-defined]
    for _ in range(metric_batches.FLUSH_EVERY):
        listener.stage_timed("plan", 0.001)
    # Read the child's own values, without a collection (which would flush).
    assert child._sum.get() == pytest.approx(0.001 * metric_batches.FLUSH_EVERY)


def test_flush_pending_folds_everything_now() -> None:
    registry = CollectorRegistry()
    listener = PrometheusListener(LabelGuard(), registry=registry)
    child = listener.collectors["agent_runtime_stage_duration_seconds"].labels("aggregate")  # type: ignore[attr-defined]
    listener.stage_timed("aggregate", 0.5)
    listener.stage_timed("aggregate", 0.25)
    metric_batches.flush_pending()
    assert child._sum.get() == 0.75


def test_a_nan_observation_reads_as_the_histogram_s_own_observe() -> None:
    registry, reference_registry = CollectorRegistry(), CollectorRegistry()
    listener, reference = _stage_listener_and_reference(registry, reference_registry)
    for value in (0.001, float("nan"), 0.5):
        listener.stage_timed("analyse", value)
        reference.labels("analyse").observe(value)
    metric_batches.flush_pending()
    ours = listener.collectors["agent_runtime_stage_duration_seconds"].labels("analyse")  # type: ignore[attr-defined]
    theirs = reference.labels("analyse")
    assert [b.get() for b in ours._buckets] == [b.get() for b in theirs._buckets]
    assert str(ours._sum.get()) == str(theirs._sum.get()) == "nan"


def test_counters_are_batched_and_exact_at_collection() -> None:
    registry = CollectorRegistry()
    listener = PrometheusListener(LabelGuard(tools=("search",)), registry=registry)
    for _ in range(metric_batches.FLUSH_EVERY - 1):
        listener.cache_looked_up("tool", "l0", True)
    listener.cache_saved("tool", 0.25)
    listener.cache_saved("tool", 0.5)
    child = listener.collectors["agent_runtime_cache_requests_total"].labels("tool", "l0", "hit")  # type: ignore[attr-defined]
    listener.cache_looked_up("tool", "l0", True)
    # Read the child's own value, without a collection (which would flush).
    assert child._value.get() == metric_batches.FLUSH_EVERY
    assert registry.get_sample_value("agent_runtime_cache_saved_seconds_total", {"cache": "tool"}) == 0.75


def test_an_observation_with_an_exemplar_reads_as_the_histogram_s_own_observe() -> None:
    registry = CollectorRegistry()
    listener = PrometheusListener(LabelGuard(tools=("search",)), registry=registry)
    reference_registry = CollectorRegistry()
    metric = listener.collectors["agent_runtime_tool_duration_seconds"]
    reference = Histogram("reference", "", ["tool"], registry=reference_registry, buckets=metric._upper_bounds)  # type: ignore[attr-defined]
    batched = metrics._Histograms(metric, ("tool",), listener.guard.fold, [("search",)])
    exemplar = {"trace_id": "ab" * 16}
    for value in (0.001, 0.3, 7.0):
        batched.observe(value, exemplar, "search")
        reference.labels("search").observe(value, exemplar)
    metric_batches.flush_pending()
    ours, theirs = metric.labels("search"), reference.labels("search")  # type: ignore[attr-defined]
    assert [b.get() for b in ours._buckets] == [b.get() for b in theirs._buckets]
    assert ours._sum.get() == theirs._sum.get()
    assert [b.get_exemplar() and (b.get_exemplar().labels, b.get_exemplar().value) for b in ours._buckets] == [
        b.get_exemplar() and (b.get_exemplar().labels, b.get_exemplar().value) for b in theirs._buckets
    ]
