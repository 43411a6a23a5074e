"""Latency histograms carry trace-id exemplars that point at exported traces.

A scrape with ``Accept: application/openmetrics-text`` shows exemplars on
``agent_runtime_task_duration_seconds`` and ``agent_runtime_tool_duration_seconds``
whose ``trace_id`` is a trace the OTLP receiver actually got; the classic text
format (no exemplars) still parses.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text
from prometheus_client.samples import Sample

from agent_runtime.runtime import Runtime
from agent_runtime.service import ServiceSettings, create_app
from exporters.otlp import TracingHandle, configure_tracing_from_env
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.telemetry_runtime import make_runtime
from tests.support.wsgi_server import serving

pytest_plugins = ["tests.support.telemetry_fixtures"]

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


@pytest.fixture()
def service(otel_env: pytest.MonkeyPatch, otlp_receiver: OtlpReceiver) -> Iterator[tuple[str, Runtime, TracingHandle]]:
    otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver.base_url)
    runtime = make_runtime(CollectorRegistry())
    handle = configure_tracing_from_env(runtime.metrics)
    assert handle is not None
    try:
        with serving(create_app(runtime, ServiceSettings())) as base_url:
            yield base_url, runtime, handle
    finally:
        runtime.close()


def exemplars(body: str, histogram: str) -> list[Sample]:
    return [
        sample
        for family in parse_openmetrics(body)  # type: ignore[no-untyped-call]
        if family.name == histogram
        for sample in family.samples
        if sample.exemplar is not None
    ]


def test_openmetrics_scrape_has_exemplars_of_exported_traces(
    service: tuple[str, Runtime, TracingHandle], otlp_receiver: OtlpReceiver
) -> None:
    base_url, _, handle = service
    for agent in ("echoer", "pair", "echoer"):
        response = requests.post(f"{base_url}/v1/tasks", json={"task": "echo this", "agent": agent}, timeout=10)
        assert response.status_code == 200, response.text
    assert handle.force_flush(10)
    exported = {span.trace_id for span in otlp_receiver.wait_for_spans(lambda s: len(s) >= 9)}

    response = requests.get(f"{base_url}/metrics", headers={"Accept": OPENMETRICS}, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    body = response.text
    for histogram in ("agent_runtime_task_duration_seconds", "agent_runtime_tool_duration_seconds"):
        found = exemplars(body, histogram)
        assert found, f"no exemplar on {histogram}"
        trace_ids = {sample.exemplar.labels["trace_id"] for sample in found if sample.exemplar}
        assert trace_ids & exported, f"{histogram} exemplars {trace_ids} are not exported traces"
        for sample in found:
            assert sample.exemplar is not None
            assert sample.name == f"{histogram}_bucket"
            assert sample.exemplar.value <= float(sample.labels["le"])


def test_the_classic_text_format_still_parses_without_exemplars(service: tuple[str, Runtime, TracingHandle]) -> None:
    base_url, _, _ = service
    requests.post(f"{base_url}/v1/tasks", json={"task": "echo this", "agent": "echoer"}, timeout=10)
    response = requests.get(f"{base_url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert "trace_id" not in response.text
    families = {family.name: family for family in parse_text(response.text)}
    tasks = families["agent_runtime_tasks"]
    assert any(s.labels == {"agent": "echoer", "outcome": "success"} and s.value == 1 for s in tasks.samples)
    assert "agent_runtime_task_duration_seconds" in families


def test_no_exemplars_without_tracing(otel_env: pytest.MonkeyPatch) -> None:
    runtime = make_runtime(CollectorRegistry())
    try:
        with serving(create_app(runtime, ServiceSettings())) as base_url:
            requests.post(f"{base_url}/v1/tasks", json={"task": "echo this", "agent": "echoer"}, timeout=10)
            body = requests.get(f"{base_url}/metrics", headers={"Accept": OPENMETRICS}, timeout=10).text
    finally:
        runtime.close()
    assert exemplars(body, "agent_runtime_task_duration_seconds") == []
    assert exemplars(body, "agent_runtime_tool_duration_seconds") == []
