"""The cardinality guard and the Prometheus listener."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from agent_runtime.telemetry.labels import LabelGuard
from agent_runtime.telemetry.metrics import PrometheusListener


def make() -> tuple[PrometheusListener, CollectorRegistry]:
    registry = CollectorRegistry()
    guard = LabelGuard(agents=("writer", "none"), tools=("search",))
    return PrometheusListener(guard, registry=registry, in_flight_limit=8), registry


def series_count(registry: CollectorRegistry) -> int:
    return sum(len(metric.samples) for metric in registry.collect())


def test_unknown_values_fold_to_other_and_are_counted() -> None:
    listener, registry = make()
    before = series_count(registry)
    for i in range(500):
        listener.task_finished(f"agent-{i}", f"outcome-{i}", 0.01)
        listener.tool_called(f"tool-{i}", "success", 0.01)
        listener.cache_looked_up(f"cache-{i}", "l9", hit=True)
    value = registry.get_sample_value("agent_runtime_tasks_total", {"agent": "other", "outcome": "other"})
    assert value == 500
    folded = registry.get_sample_value("agent_runtime_telemetry_labels_folded_total", {"label": "agent"})
    assert folded == 500
    # Only a bounded number of new 'other' series can appear, whatever the input.
    assert series_count(registry) - before < 40


def test_known_series_exist_before_any_event() -> None:
    _, registry = make()
    assert registry.get_sample_value("agent_runtime_tasks_total", {"agent": "writer", "outcome": "error"}) == 0
    assert registry.get_sample_value("agent_runtime_circuit_breaker_state", {"breaker": "search"}) == 0
    assert registry.get_sample_value("agent_runtime_tasks_in_flight_limit") == 8
    assert registry.get_sample_value("agent_runtime_build_info", {"version": "0.1.0"}) == 1


def test_a_cache_first_seen_missing_reads_a_zero_hit_ratio_not_no_data() -> None:
    listener, registry = make()
    labels = {"cache": "llm", "layer": "l2"}
    assert registry.get_sample_value("agent_runtime_cache_requests_total", {**labels, "result": "hit"}) is None
    listener.cache_looked_up("llm", "l2", hit=False)
    assert registry.get_sample_value("agent_runtime_cache_requests_total", {**labels, "result": "miss"}) == 1
    assert registry.get_sample_value("agent_runtime_cache_requests_total", {**labels, "result": "hit"}) == 0
    listener.cache_looked_up("llm", "l2", hit=True)
    assert registry.get_sample_value("agent_runtime_cache_requests_total", {**labels, "result": "hit"}) == 1


def test_events_reach_their_series() -> None:
    listener, registry = make()
    listener.task_started()
    assert registry.get_sample_value("agent_runtime_tasks_in_flight") == 1
    listener.task_finished("writer", "success", 0.3)
    assert registry.get_sample_value("agent_runtime_tasks_in_flight") == 0
    bucket = {"agent": "writer", "le": "0.5"}
    assert registry.get_sample_value("agent_runtime_task_duration_seconds_bucket", bucket) == 1
    listener.breaker_changed("search", "open")
    assert registry.get_sample_value("agent_runtime_circuit_breaker_state", {"breaker": "search"}) == 2
    assert registry.get_sample_value(
        "agent_runtime_circuit_breaker_transitions_total", {"breaker": "search", "to": "open"}
    ) == 1
    listener.cache_saved("tool", 0.25)
    assert registry.get_sample_value("agent_runtime_cache_saved_seconds_total", {"cache": "tool"}) == 0.25
    listener.routing_decided("writer", "similar", 0.72)
    assert registry.get_sample_value(
        "agent_runtime_routing_decisions_total", {"agent": "writer", "source": "similar"}
    ) == 1


def test_two_listeners_share_collectors_of_one_registry() -> None:
    registry = CollectorRegistry()
    first = PrometheusListener(LabelGuard(agents=("a",)), registry=registry)
    second = PrometheusListener(LabelGuard(agents=("a",)), registry=registry)
    first.task_finished("a", "success", 0.1)
    second.task_finished("a", "success", 0.1)
    assert registry.get_sample_value("agent_runtime_tasks_total", {"agent": "a", "outcome": "success"}) == 2
