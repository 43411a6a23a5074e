"""Multiprocess exposition is complete: two merged gunicorn workers expose what one process does.

The same workload (the same tasks, each with its own text) runs against
gunicorn with one worker and no multiprocess directory (prometheus_client's
ordinary in-process registry) and against gunicorn with two workers in
multiprocess mode. The workload is chosen so that no number depends on which
worker ran a task: caches that would hit in one process and miss in two are
off (tools not cacheable, routing caches of size 0, unique task texts), the
breaker never opens, and routing experience has no weight. Then:

- every runtime series of the single process (``agent_runtime_*``,
  ``gen_ai_*``) is in the merged scrape, except ``*_created`` (multiprocess
  mode has none), and the merged scrape has no series the single process
  lacks (no ``pid`` label either);
- counters are equal; histogram counts are equal, and so are the buckets of
  the histograms whose values do not depend on timing (confidence, model and
  tool calls per task, tokens); latency histograms agree on ``+Inf``;
- gauges merge by their catalog mode: the in-flight limit sums over workers
  (2 x 24), everything else (in flight 0, breaker states 0, build and agent
  info 1) equals the single process.

prometheus_client's process and platform collectors (``process_*``,
``python_*``) describe one process and have no multiprocess equivalent; they
are not compared.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from agent_runtime.ops.stack.ports import free_port
from agent_runtime.telemetry.catalog import CATALOG, MetricType
from exporters import multiprocess
from tests.integration.gunicorn_support import REPO_ROOT, gunicorn, scrape
from tests.support.binaries import wait_until
from tests.support.openai_server import Reply, ScriptedChatServer

CONFIG = """
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
  - name: prober
    tools: [promql_query]
    specialties:
      - domain: metrics
        keywords: {probe: 1.0}
    plan:
      - id: probe
        tool: promql_query
        args: {query: up}
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
  promql_query:
    cacheable: false
    timeout_seconds: 2.0
    retry: {max_attempts: 2, initial_backoff_seconds: 0.01, max_backoff_seconds: 0.01, jitter_seconds: 0}
    breaker: {enabled: false}
routing:
  fallback_chain: [merger]
  experience_weight: 0
execution:
  max_in_flight_tasks: 24
"""
WORKERS = 2
IN_FLIGHT_LIMIT = 24
# Tasks per agent; prober's Prometheus refuses connections, so its tasks fail (and retry) the same way anywhere.
TASKS = {"merger": 12, "prober": 6, "asker": 8}
# Histograms whose observations do not depend on timing: equal bucket by bucket.
EXACT_HISTOGRAMS = frozenset(
    {
        "agent_runtime_routing_confidence",
        "agent_runtime_agent_model_calls",
        "agent_runtime_agent_tool_calls",
        "gen_ai_client_token_usage",
    }
)

Series = tuple[str, tuple[tuple[str, str], ...]]


def runtime_series(text: str) -> dict[Series, tuple[str, float]]:
    """Every sample of the runtime's metrics: (name, labels) -> (family type, value)."""
    series: dict[Series, tuple[str, float]] = {}
    for family in text_string_to_metric_families(text):
        if not family.name.startswith(("agent_runtime_", "gen_ai_")):
            continue
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            assert key not in series, f"duplicate series {key}"
            series[key] = (family.type, sample.value)
    return series


def run_workload(base_url: str) -> None:
    jobs = [(agent, number) for agent, count in TASKS.items() for number in range(count)]

    def one(job: tuple[str, int]) -> None:
        agent, number = job
        body = {"task": f"{agent} task {number} {uuid.uuid4().hex}", "agent": agent}
        response = requests.post(f"{base_url}/v1/tasks", json=body, timeout=30)
        assert response.status_code == 200, response.text
        expected = "error" if agent == "prober" else "success"
        assert response.json()["outcome"] == expected, response.text

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(one, jobs))


def spec_of(sample_name: str) -> str:
    """The catalog name of a sample's metric."""
    for suffix in ("_bucket", "_count", "_sum", ""):
        name = sample_name.removesuffix(suffix) if suffix else sample_name
        if name in CATALOG:
            return name
    raise AssertionError(f"{sample_name} is not in the catalog")


@pytest.fixture()
def service_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, openai_server: ScriptedChatServer
) -> pytest.MonkeyPatch:
    config = tmp_path / "agents.yaml"
    config.write_text(CONFIG)
    openai_server.default = Reply.text("done", prompt_tokens=12, completion_tokens=2)
    for name in [name for name in os.environ if name.startswith("OTEL_")]:
        monkeypatch.delenv(name)
    monkeypatch.delenv(multiprocess.MULTIPROC_ENV, raising=False)
    for name, value in {
        "AGENT_RUNTIME_CONFIG": str(config),
        "PYTHONPATH": str(REPO_ROOT),
        "AGENT_RUNTIME_PROMETHEUS_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens
        "AGENT_RUNTIME_LLM_BASE_URL": openai_server.base_url,
        "AGENT_RUNTIME_LLM_MODEL": "scripted-model",
        "AGENT_RUNTIME_LLM_PRICES": '{"scripted-model": {"input": 1.5, "output": 6.0}}',
    }.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def total(series: dict[Series, tuple[str, float]], name: str, **labels: str) -> float:
    return sum(
        value
        for (sample, sample_labels), (_, value) in series.items()
        if sample == name and labels.items() <= dict(sample_labels).items()
    )


def settled_scrape(base_url: str, tasks: int) -> dict[Series, tuple[str, float]]:
    """A scrape once every task is in and nothing moves for a second.

    Workers may fold histogram observations in with a delay (the listener
    batches them); a merged scrape is complete once they have.
    """
    deadline = time.monotonic() + 20
    stable, previous = 0, None
    while time.monotonic() < deadline:
        series = runtime_series(scrape(base_url))
        done = total(series, "agent_runtime_task_duration_seconds_count") == tasks
        stable = stable + 1 if done and series == previous else 0
        if stable >= 3:
            return series
        previous = series
        time.sleep(0.4)
    raise AssertionError(f"the scrape did not settle with {tasks} tasks: {series}")


def scrape_after_workload(tmp_path: Path, workers: int) -> dict[Series, tuple[str, float]]:
    tmp_path.mkdir(exist_ok=True)
    with gunicorn(tmp_path, workers=workers) as (base_url, _):
        # /metrics answers as soon as one worker has loaded the app: wait for all of them.
        wait_until(
            lambda: (
                total(runtime_series(scrape(base_url)), "agent_runtime_tasks_in_flight_limit")
                == workers * IN_FLIGHT_LIMIT
            ),
            60,
            f"{workers} workers to load the app",
        )
        run_workload(base_url)
        return settled_scrape(base_url, sum(TASKS.values()))


def gauge_expectation(name: str, single: float) -> float:
    """What the merged gauge should read, given one process's value and the catalog's mode."""
    mode = CATALOG[name].multiprocess_mode
    if mode in ("livesum", "sum"):
        return single * WORKERS  # every worker reports the same value here
    return single  # max, min, live*: the workers agree


def test_two_merged_workers_expose_every_series_of_one_process_with_equal_sums(
    service_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    single = scrape_after_workload(tmp_path / "single", workers=1)
    directory = tmp_path / "metrics"
    directory.mkdir()
    service_env.setenv(multiprocess.MULTIPROC_ENV, str(directory))
    merged = scrape_after_workload(tmp_path / "merged", workers=WORKERS)

    expected = {key: value for key, value in single.items() if not key[0].endswith("_created")}
    missing = sorted(set(expected) - set(merged))
    extra = sorted(set(merged) - set(expected))
    assert not missing, f"series of one process missing from the merged scrape: {missing[:20]}"
    assert not extra, f"series only the merged scrape has: {extra[:20]}"
    assert not any(label == "pid" for _, labels in merged for label, _ in labels)

    mismatched: list[str] = []

    def check(key: Series, want: float) -> None:
        got = merged[key][1]
        if abs(got - want) > 1e-9 * max(1.0, abs(want)):
            mismatched.append(f"{key}: one process {want}, merged {got}")

    for key, (_, value) in expected.items():
        name, labels = key
        metric = spec_of(name)
        spec = CATALOG[metric]
        if spec.type is MetricType.COUNTER:
            check(key, value)
        elif spec.type is MetricType.GAUGE:
            check(key, gauge_expectation(metric, value))
        elif metric in EXACT_HISTOGRAMS or name.endswith("_count") or dict(labels).get("le") == "+Inf":
            check(key, value)
        # Latency buckets below +Inf and latency sums depend on timing: not compared.
    assert not mismatched, "\n".join(mismatched)

    # The workload reached the series that matter (not a comparison of zeros).
    assert total(merged, "agent_runtime_tasks_total") == sum(TASKS.values())
    assert total(merged, "agent_runtime_tool_retries_total", tool="promql_query") == TASKS["prober"]
    assert total(merged, "gen_ai_client_operation_duration_seconds_count") == TASKS["asker"]
    assert total(merged, "gen_ai_client_token_usage_sum", gen_ai_token_type="input") == 12 * TASKS["asker"]
    assert total(merged, "agent_runtime_llm_cost_dollars_total") > 0
    assert total(merged, "agent_runtime_tasks_in_flight_limit") == WORKERS * IN_FLIGHT_LIMIT
    assert merged_types_match(single, merged)


def merged_types_match(single: dict[Series, tuple[str, float]], merged: dict[Series, tuple[str, float]]) -> bool:
    """Each family has the same type in both scrapes."""
    shared: Iterable[Series] = set(single) & set(merged)
    return all(single[key][0] == merged[key][0] for key in shared)
