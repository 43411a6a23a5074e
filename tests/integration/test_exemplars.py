"""Latency histograms carry trace-id exemplars that point at exported traces.

A scrape with ``Accept: application/openmetrics-text`` shows exemplars on
``agent_runtime_task_duration_seconds`` and ``agent_runtime_tool_duration_seconds``
whose ``trace_id`` is a trace the OTLP receiver actually got; the classic text
format (no exemplars) still parses. Under gunicorn with two workers
(multiprocess mode, where prometheus_client itself keeps none), the merged
scrape carries the workers' exemplars on the three latency histograms,
GenAI's included (``exporters.exemplars``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text
from prometheus_client.samples import Exemplar, Sample

from agent_runtime.runtime import Runtime
from agent_runtime.service import ServiceSettings, create_app
from exporters import exemplars as exemplar_module
from exporters import multiprocess
from exporters.exemplars import SampleKey, exemplar_files, merge_latest, read_file, sample_key
from exporters.otlp import TracingHandle, configure_tracing_from_env
from tests.integration.gunicorn_support import REPO_ROOT, gunicorn, scrape
from tests.support.openai_server import Reply, ScriptedChatServer
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


# --- several gunicorn workers (prometheus_client multiprocess mode) ---------------------------

LATENCY_HISTOGRAMS = (
    "agent_runtime_task_duration_seconds",
    "agent_runtime_tool_duration_seconds",
    "gen_ai_client_operation_duration_seconds",
)
GUNICORN_CONFIG = """
agents:
  - name: merger
    tools: [merge_results]
    specialties:
      - domain: merging
        keywords: {merge: 1.0}
    plan:
      - id: merged
        tool: merge_results
        args: {results: [], top_k: 3}
  - name: asker
    kind: llm
    tool_call_mode: native
    max_steps: 2
    tools: [merge_results]
    instructions: Answer in one word.
    specialties:
      - domain: questions
        keywords: {ask: 1.0}
tools:
  merge_results: {cacheable: false, timeout_seconds: 1.0}
"""


def send_tasks(base_url: str, count: int) -> set[str]:
    """``count`` tasks, eight at a time (so both workers get some); the trace ids of their results."""

    def one(number: int) -> str:
        agent = ("merger", "asker")[number % 2]
        body = {"task": f"merge or ask {number} {uuid.uuid4().hex}", "agent": agent}
        response = requests.post(f"{base_url}/v1/tasks", json=body, timeout=30)
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["outcome"] == "success", result
        assert result["trace_id"], result
        return str(result["trace_id"])

    with ThreadPoolExecutor(8) as pool:
        return set(pool.map(one, range(count)))


Seen = tuple[str, float, float]  # trace id, value, timestamp


def seen(exemplar: Exemplar) -> Seen:
    assert exemplar.timestamp is not None
    return exemplar.labels["trace_id"], round(exemplar.value, 9), round(float(exemplar.timestamp), 6)


def exemplars_by_sample(body: str) -> dict[SampleKey, Seen]:
    found: dict[SampleKey, Seen] = {}
    for family in parse_openmetrics(body):  # type: ignore[no-untyped-call]
        for sample in family.samples:
            if sample.exemplar is not None:
                assert sample.name.endswith("_bucket"), sample
                assert sample.exemplar.value <= float(sample.labels["le"]), sample
                found[sample_key(sample.name, sample.labels)] = seen(sample.exemplar)
    return found


def published(directory: Path) -> list[dict[SampleKey, Exemplar]]:
    return [entries for entries in map(read_file, exemplar_files(directory)) if entries]


def latest_published(directory: Path) -> dict[SampleKey, Seen]:
    return {key: seen(exemplar) for key, exemplar in merge_latest(published(directory)).items()}


def test_a_multi_worker_openmetrics_scrape_carries_the_workers_exemplars(
    otel_env: pytest.MonkeyPatch, tmp_path: Path, otlp_receiver: OtlpReceiver, openai_server: ScriptedChatServer
) -> None:
    config = tmp_path / "agents.yaml"
    config.write_text(GUNICORN_CONFIG)
    directory = tmp_path / "metrics"
    directory.mkdir()
    openai_server.default = Reply.text("done", prompt_tokens=12, completion_tokens=2)
    for name, value in {
        "AGENT_RUNTIME_CONFIG": str(config),
        "PYTHONPATH": str(REPO_ROOT),
        multiprocess.MULTIPROC_ENV: str(directory),
        exemplar_module.PUBLISH_ENV: "0.2",
        "AGENT_RUNTIME_LLM_BASE_URL": openai_server.base_url,
        "AGENT_RUNTIME_LLM_MODEL": "scripted-model",
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.base_url,
        "OTEL_TRACES_SAMPLER": "always_on",
    }.items():
        otel_env.setenv(name, value)

    with gunicorn(tmp_path, workers=2) as (base_url, _):
        sent: set[str] = set()
        # Until both workers have observed (and published) exemplars.
        for _ in range(10):
            sent |= send_tasks(base_url, 16)
            time.sleep(0.5)
            if len(published(directory)) == 2:
                break
        files = published(directory)
        assert len(files) == 2, "one worker took every task"
        for entries in files:
            assert {e.labels["trace_id"] for e in entries.values()} <= sent, "a slot file has foreign trace ids"

        # Whichever worker answers, the scrape shows the most recent exemplar of each bucket
        # among all workers: the answering worker's own and the other's published ones.
        for _ in range(4):
            body = scrape(base_url, openmetrics=True)
            found = exemplars_by_sample(body)
            assert found == latest_published(directory)
            for histogram in LATENCY_HISTOGRAMS:
                ids = {trace_id for key, (trace_id, _, _) in found.items() if key[0] == f"{histogram}_bucket"}
                assert ids, f"no exemplar on {histogram}"
                assert ids <= sent, f"{histogram} exemplars {ids - sent} are not traces of the tasks sent"
        # Classic text: no exemplars, and the same series.
        assert "trace_id" not in scrape(base_url)
