"""The service under real gunicorn: counters of every worker add up, recycled workers leave no files behind.

Runs ``gunicorn -c agent_runtime/serving/gunicorn_conf.py agent_runtime.serving.wsgi:app`` with two
workers on a free port, as ``agent-runtime serve`` does, with a tiny
configuration (one agent, one in-process tool) so the test measures the
plumbing, not the tools.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import requests
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Exemplar

from agent_runtime.telemetry.metric_batches import FLUSH_SECONDS
from exporters import exemplars, multiprocess
from tests.integration.gunicorn_support import REPO_ROOT, gunicorn, scrape
from tests.support.otlp_receiver import OtlpReceiver, ReceivedSpan

pytest_plugins = ["tests.support.telemetry_fixtures"]

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
"""
METRIC_FILE = re.compile(r"^(counter|histogram|gauge_[a-z]+)_(w\d+)\.db$")
EXEMPLAR_FILE = re.compile(r"^exemplars_(w\d+)\.json$")


@pytest.fixture()
def service_env(otel_env: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    config = tmp_path / "agents.yaml"
    config.write_text(CONFIG)
    otel_env.setenv("AGENT_RUNTIME_CONFIG", str(config))
    otel_env.setenv("PYTHONPATH", str(REPO_ROOT))
    otel_env.delenv(multiprocess.MULTIPROC_ENV, raising=False)
    return otel_env


def post_tasks(base_url: str, count: int) -> None:
    for number in range(count):
        response = requests.post(f"{base_url}/v1/tasks", json={"task": f"merge these {number}"}, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json()["outcome"] == "success"


def tasks_total(base_url: str) -> float:
    text = requests.get(f"{base_url}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "agent_runtime_tasks"
        for sample in family.samples
        if sample.name == "agent_runtime_tasks_total"
    )


def settled_tasks_total(base_url: str, expected: float) -> float:
    """``tasks_total`` once it reaches ``expected``, or as it stands after the other workers' flush period.

    The worker answering the scrape is exact; another's batched counts reach its file within ``FLUSH_SECONDS``.
    """
    deadline = time.monotonic() + 3 * FLUSH_SECONDS
    total = tasks_total(base_url)
    while total < expected and time.monotonic() < deadline:
        time.sleep(0.1)
        total = tasks_total(base_url)
    return total


def task_traces(spans: list[ReceivedSpan]) -> set[str]:
    """Trace ids of the task (root ``invoke_agent``) spans."""
    return {span.trace_id for span in spans if span.name == "invoke_agent merger" and not span.parent_span_id}


def stale_counter_file(directory: Path) -> None:
    """What a previous run would have left: 1,000 tasks the new server must not report."""
    from prometheus_client import values

    saved = values.ValueClass
    values.ValueClass = values.MultiProcessValue(lambda: "w0")  # type: ignore[no-untyped-call]
    try:
        registry = CollectorRegistry()
        counter = Counter("agent_runtime_tasks", "stale", ["agent", "outcome"], registry=registry)
        counter.labels("merger", "success").inc(1000)
    finally:
        values.close_all_multiprocess_files()  # type: ignore[no-untyped-call]
        values.ValueClass = saved


STALE_TRACE_ID = "0" * 31 + "1"


def stale_exemplar_file(directory: Path) -> None:
    """What a previous run would have left: an exemplar the new server must not show."""
    key = exemplars.sample_key("agent_runtime_task_duration_seconds_bucket", {"agent": "merger", "le": "+Inf"})
    entry = Exemplar({"trace_id": STALE_TRACE_ID}, 0.5, 4102444800.0)  # in 2100: newer than anything real
    exemplars.write_file(exemplars.exemplar_file(directory, "w0"), {key: entry})


def test_worker_counters_add_up_and_recycling_keeps_the_file_count_bounded(
    service_env: pytest.MonkeyPatch, tmp_path: Path, otlp_receiver: OtlpReceiver
) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    service_env.setenv(multiprocess.MULTIPROC_ENV, str(directory))
    stale_counter_file(directory)
    stale_exemplar_file(directory)
    service_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver.base_url)
    service_env.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
    tasks = 60

    with gunicorn(tmp_path, workers=2, max_requests=10) as (base_url, process):
        post_tasks(base_url, tasks)
        assert settled_tasks_total(base_url, tasks) == tasks
        assert STALE_TRACE_ID not in scrape(base_url, openmetrics=True)
        files = [path.name for path in multiprocess.db_files(directory)]
        exemplar_files = [path.name for path in exemplars.exemplar_files(directory)]
        # Tracing was configured in every worker after fork, recycled ones flushed on exit.
        spans = otlp_receiver.wait_for_spans(lambda spans: len(task_traces(spans)) >= tasks, timeout=20)
        log = process.log()

    boots = log.count("Booting worker")
    # Each worker replaced at least once; how many times depends on how many requests a
    # gthread worker has accepted before it notices max_requests.
    assert boots >= 4, f"workers were not recycled ({boots} boots)\n{log}"
    # The runtime's own info lines reach gunicorn's stderr (gunicorn_conf routes them): one per worker boot.
    assert log.count("[INFO] exporters.gunicorn: worker") == boots, log
    assert all(METRIC_FILE.match(name) for name in files), files
    slots = {METRIC_FILE.match(name).group(2) for name in files}  # type: ignore[union-attr]
    assert slots <= {"w0", "w1"}, f"{boots} worker boots used slots {sorted(slots)}"
    assert len(files) <= multiprocess.max_files(2)
    # Exemplars too: one file per slot, whoever wrote it.
    assert all(EXEMPLAR_FILE.match(name) for name in exemplar_files), exemplar_files
    assert {EXEMPLAR_FILE.match(name).group(1) for name in exemplar_files} <= {"w0", "w1"}  # type: ignore[union-attr]
    assert 1 <= len(exemplar_files) <= multiprocess.max_exemplar_files(2)
    assert len(task_traces(spans)) == tasks
    assert {span.resource["service.name"] for span in spans} == {"agent-runtime"}


def test_without_a_directory_one_is_created_for_the_workers_and_removed_at_exit(
    service_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    service_env.setenv("TMPDIR", str(temp))

    with gunicorn(tmp_path, workers=2) as (base_url, _):
        post_tasks(base_url, 20)
        assert settled_tasks_total(base_url, 20) == 20
        created = list(temp.glob("agent-runtime-metrics-*"))
        assert len(created) == 1 and multiprocess.db_files(created[0])
    assert not list(temp.glob("agent-runtime-metrics-*"))


def test_the_worker_answering_a_scrape_writes_its_batched_counts_first(
    service_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Counts are batched in the worker (up to a second); a scrape it answers reads its own exactly, at once."""
    directory = tmp_path / "metrics"
    directory.mkdir()
    service_env.setenv(multiprocess.MULTIPROC_ENV, str(directory))

    with gunicorn(tmp_path, workers=1) as (base_url, _):
        for round_number in range(1, 4):
            post_tasks(base_url, 5)
            assert tasks_total(base_url) == 5 * round_number  # no waiting: the answering worker flushed
