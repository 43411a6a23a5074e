"""A scrape of the default registry after a few tasks has every core series (docs/metrics.md)."""

from __future__ import annotations

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from agent_runtime.results import Task
from agent_runtime.runtime import Runtime
from agent_runtime.telemetry.catalog import CATALOG, MetricType
from tests.unit.runtime_fixtures import make_config, make_tools

CORE = {
    "agent_runtime_tasks_total": {"agent", "outcome"},
    "agent_runtime_task_duration_seconds": {"agent"},
    "agent_runtime_tasks_in_flight": set(),
    "agent_runtime_stage_duration_seconds": {"stage"},
    "agent_runtime_routing_decisions_total": {"agent", "source"},
    "agent_runtime_routing_confidence": {"agent"},
    "agent_runtime_tool_calls_total": {"tool", "outcome"},
    "agent_runtime_tool_duration_seconds": {"tool"},
    "agent_runtime_tool_retries_total": {"tool"},
    "agent_runtime_cache_requests_total": {"cache", "layer", "result"},
    "agent_runtime_cache_saved_seconds_total": {"cache"},
    "agent_runtime_circuit_breaker_state": {"breaker"},
    "agent_runtime_circuit_breaker_transitions_total": {"breaker", "to"},
    "agent_runtime_telemetry_spans_dropped_total": set(),
    "agent_runtime_telemetry_export_failures_total": {"signal"},
    "agent_runtime_build_info": {"version"},
}


def test_default_registry_scrape_has_every_core_series() -> None:
    runtime = Runtime(make_config(), tools=make_tools())
    try:
        for text in ("cache latency alert", "cache latency alert", "write a summary"):
            runtime.handle(text)
        for _ in range(3):
            runtime.handle(Task("explode", agent="flaky"))
    finally:
        runtime.close()
    scraped: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(generate_latest(REGISTRY).decode()):
        for sample in family.samples:
            scraped.setdefault(sample.name, set()).update(sample.labels)
    for name, labels in CORE.items():
        spec = CATALOG[name]
        sample_name = f"{name}_count" if spec.type is MetricType.HISTOGRAM else name
        assert sample_name in scraped, f"{sample_name} missing from the scrape"
        assert scraped[sample_name] == labels, f"{name} labels {scraped[sample_name]} != {labels}"
        assert set(spec.labels) == labels, f"catalog and the core series disagree on {name}"
    assert any(
        s.labels.get("outcome") == "success" and s.value >= 2
        for f in text_string_to_metric_families(generate_latest(REGISTRY).decode())
        for s in f.samples
        if s.name == "agent_runtime_tasks_total"
    )
