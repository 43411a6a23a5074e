"""Benchmark: what telemetry costs per task, and what a /metrics scrape costs.

Not a test: it measures and reports. Two questions:

1. Per-task cost. The same tasks (instant in-process tools, so the runtime
   and its telemetry are all there is to measure) with telemetry off
   (``metrics_registry=None``, no SDK), metrics only, and metrics plus traces
   sampled at 10% and at 100%, exported over OTLP/HTTP through the bounded
   batch processor to a receiver in another process. Modes are interleaved
   over several rounds, reported as ratios to "off" from one run.
2. Scrape cost. ``GET /metrics`` of the default configuration (built-in
   agents and tools) with every series populated and trace-id exemplars on
   the latency buckets, in one process and merged from eight gunicorn-style
   worker slots (``exporters.multiprocess``, ``exporters.exemplars``), in
   the text and the OpenMetrics format: the render time of the merged scrape
   as a ratio to one process, and can it be scraped every second?
3. The exemplar hot path: ``Histogram.observe`` with an exemplar in one
   process, in stock multiprocess mode (which drops the exemplar) and in a
   worker slot that keeps it for publishing.

Run from the repository root::

    python bench/bench_telemetry.py            # prints a table, writes bench/results/telemetry.json
    python bench/bench_telemetry.py --quick    # fewer tasks and rounds
    python bench/bench_telemetry.py --scrape-only   # only the scrape and exemplar parts; keeps per-task results
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from prometheus_client import REGISTRY, CollectorRegistry, Histogram, values

# This checkout's packages (not an installed copy), and the test runtime and OTLP receiver in its tests/support.
REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
from bench_hotpath import NoopExporter  # noqa: E402  (bench/, this script's directory)

from agent_runtime.bootstrap import build_runtime  # noqa: E402
from agent_runtime.config.loader import parse_config  # noqa: E402
from agent_runtime.runtime import Runtime  # noqa: E402
from agent_runtime.service import ServiceSettings, create_app  # noqa: E402
from agent_runtime.telemetry import catalog  # noqa: E402
from agent_runtime.telemetry.listener import EVENTS, ModelCall, RuntimeListener  # noqa: E402
from agent_runtime.telemetry.metrics import PrometheusListener  # noqa: E402
from exporters import exemplars, multiprocess  # noqa: E402
from exporters.otlp import configure_tracing_from_env  # noqa: E402
from exporters.span_export import BoundedBatchSpanProcessor, CountingSpanExporter, ExportHealth  # noqa: E402
from tests.support.telemetry_runtime import CONFIG, make_runtime, make_tools, task  # noqa: E402

RESULTS = REPO_ROOT / "bench" / "results" / "telemetry.json"
MODES = ("off", "metrics", "traces_10pct", "traces_100pct")
SAMPLING = {"traces_10pct": "0.1", "traces_100pct": "1.0"}
AGENT_MIX = ("echoer", "pair")  # one tool call, and three (two in parallel)
SCRAPE_SLOTS = 8


def start_receiver() -> tuple[subprocess.Popen[str], str]:
    """An OTLP/HTTP receiver in its own process, so decoding does not share our GIL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.otlp_receiver", "--discard"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    port = process.stdout.readline().strip()
    return process, f"http://127.0.0.1:{port}"


def run_round(mode: str, endpoint: str, tasks: int, warmup: int) -> dict[str, Any]:
    """Per-task seconds for ``tasks`` tasks in ``mode`` (tracing set up and shut down around them)."""
    runtime = make_runtime(None if mode == "off" else CollectorRegistry())
    handle = None
    if mode in SAMPLING:
        os.environ.update(
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
                "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                "OTEL_TRACES_SAMPLER_ARG": SAMPLING[mode],
            }
        )
        handle = configure_tracing_from_env(runtime.metrics)
        assert handle is not None
    try:
        for number in range(warmup):
            runtime.handle(task(AGENT_MIX[number % 2]))
        durations = []
        clock = time.perf_counter
        for number in range(tasks):
            item = task(AGENT_MIX[number % 2], f"echo task {number}")
            started = clock()
            runtime.handle(item)
            durations.append(clock() - started)
        stats = None
        if handle is not None:
            handle.force_flush(30)
            stats = handle.stats()
        return {
            "durations": durations,
            "exported_spans": stats.exported_spans if stats else 0,
            "dropped_spans": stats.dropped_spans if stats else 0,
        }
    finally:
        if handle is not None:
            handle.shutdown()
        runtime.close()


def per_task(tasks: int, rounds: int, warmup: int) -> dict[str, Any]:
    receiver, endpoint = start_receiver()
    try:
        results: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
        for number in range(rounds):
            # Rotate the order so drift (CPU frequency, cache warmth) does not favour one mode.
            order = MODES[number % len(MODES) :] + MODES[: number % len(MODES)]
            for mode in order:
                gc.collect()  # no mode pays for another's garbage
                results[mode].append(run_round(mode, endpoint, tasks, warmup))
    finally:
        receiver.terminate()
        receiver.wait(10)
    summary: dict[str, Any] = {}
    for mode in MODES:
        durations = [d for result in results[mode] for d in result["durations"]]
        summary[mode] = {
            "mean_us": statistics.median(statistics.fmean(r["durations"]) for r in results[mode]) * 1e6,
            "p50_us": statistics.median(durations) * 1e6,
            "p95_us": statistics.quantiles(durations, n=20)[-1] * 1e6,
            "exported_spans": sum(r["exported_spans"] for r in results[mode]),
            "dropped_spans": sum(r["dropped_spans"] for r in results[mode]),
        }
    off, off_p50 = summary["off"]["mean_us"], summary["off"]["p50_us"]
    for mode in MODES:
        entry = summary[mode]
        entry["ratio_vs_off"] = round(entry["mean_us"] / off, 3)
        entry["p50_ratio_vs_off"] = round(entry["p50_us"] / off_p50, 3)
        entry["added_us"] = round(entry["mean_us"] - off, 1)
        for key in ("mean_us", "p50_us", "p95_us"):
            entry[key] = round(entry[key], 1)
    return {"tasks_per_round": tasks, "rounds": rounds, "agents": list(AGENT_MIX), "modes": summary}


class _Recorder(RuntimeListener):
    """Records the events of a task, to replay them through the metrics listener alone.

    Every event is a method of the class (set below): a ``ListenerSet`` binds
    only the events a listener's class overrides, so a listener that answered
    them through ``__getattribute__`` would be sent none.
    """

    def __init__(self) -> None:
        self.events: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []


def _recording(event: str) -> Callable[..., None]:
    def record(self: _Recorder, *args: Any, **kwargs: Any) -> None:
        self.events.append((event, args, kwargs))

    return record


for _event in EVENTS:
    setattr(_Recorder, _event, _recording(_event))


def listener_cost(repeats: int) -> dict[str, Any]:
    """Microseconds per task spent in the Prometheus listener alone (the events of one task, replayed)."""
    recorder = _Recorder()
    runtime = Runtime(parse_config(CONFIG), tools=make_tools(), listeners=[recorder], metrics_registry=None)
    for agent in AGENT_MIX:
        runtime.handle(task(agent))
    runtime.close()
    metrics = make_runtime(CollectorRegistry()).metrics
    assert metrics is not None
    calls = [(getattr(metrics, name), args, kwargs) for name, args, kwargs in recorder.events]
    assert calls, "the recorder saw no events: nothing would be measured"
    started = time.perf_counter()
    for _ in range(repeats):
        for call, args, kwargs in calls:
            call(*args, **kwargs)
    seconds = (time.perf_counter() - started) / repeats / len(AGENT_MIX)
    return {"events_per_task": len(calls) / len(AGENT_MIX), "us_per_task": round(seconds * 1e6, 1)}


def span_cost(spans: int, repeats: int) -> dict[str, Any]:
    """Microseconds per recorded span on the caller's thread: our processor vs the SDK's, no-op export."""

    def per_span(processor: SpanProcessor) -> float:
        provider = TracerProvider(shutdown_on_exit=False)
        provider.add_span_processor(processor)
        tracer = provider.get_tracer("bench")
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            for _ in range(spans):
                with tracer.start_as_current_span("span"):
                    pass
            best = min(best, (time.perf_counter() - started) / spans)
            provider.force_flush()
        provider.shutdown()
        return round(best * 1e6, 2)

    ours = BoundedBatchSpanProcessor(CountingSpanExporter(NoopExporter(), ExportHealth(None, "bench")))
    return {
        "bounded_processor_us": per_span(ours),
        "sdk_batch_processor_us": per_span(BatchSpanProcessor(NoopExporter())),
    }


# Latency values spread over the buckets, so many buckets carry an exemplar (as on a busy server).
LATENCIES = (0.0008, 0.004, 0.03, 0.12, 0.4, 0.9, 2.0, 7.0)


def exercise(listener: PrometheusListener, agents: list[str], tools: list[str]) -> None:
    """Give every series of the default configuration a sample, as a busy server would.

    Runs inside sampled spans (a throwaway SDK provider, nothing exported), so
    latency observations carry trace-id exemplars.
    """
    tracer = TracerProvider(sampler=ALWAYS_ON, shutdown_on_exit=False).get_tracer("bench")
    for agent in agents:
        for outcome in catalog.TASK_OUTCOMES:
            for seconds in LATENCIES:
                with tracer.start_as_current_span("task"):
                    listener.task_finished(agent, outcome, seconds)
        for source in catalog.ROUTING_SOURCES:
            listener.routing_decided(agent, source, 0.7)
    for tool in tools:
        for outcome in catalog.TOOL_OUTCOMES:
            for seconds in LATENCIES:
                with tracer.start_as_current_span("tool"):
                    listener.tool_called(tool, outcome, seconds)
        listener.tool_retried(tool)
        for state in catalog.BREAKER_STATES:
            listener.breaker_changed(tool, state)
    for stage in catalog.STAGES:
        listener.stage_timed(stage, 0.002)
    for layer in ("l0", "l1", "l2"):
        listener.cache_looked_up("tool", layer, True)
        listener.cache_looked_up("tool", layer, False)
    for cache in catalog.CACHE_NAMES:
        listener.cache_saved(cache, 0.5)
    for seconds in LATENCIES:
        with tracer.start_as_current_span("chat"):
            call = ModelCall("chat", "openai", "m", seconds, input_tokens=300, output_tokens=80)
            listener.llm_called(call)
    for _ in range(3):
        listener.task_started()
    listener.task_finished(agents[0], "success", 0.01)


def default_runtime(registry: CollectorRegistry | None) -> Runtime:
    """The default configuration with every series populated."""
    runtime = build_runtime(metrics_registry=registry) if registry else build_runtime()
    assert runtime.metrics is not None
    exercise(runtime.metrics, [a.name for a in runtime.config.agents], [spec.name for spec in runtime.tool_specs()])
    return runtime


def time_scrapes(scrape: Callable[[], bytes], count: int) -> dict[str, Any]:
    """Wall and CPU time of ``count`` scrapes (CPU time of this thread: what rendering costs, minus preemption)."""
    body = scrape()
    wall, cpu = [], []
    for _ in range(count):
        started, started_cpu = time.perf_counter(), time.thread_time()
        scrape()
        cpu.append(time.thread_time() - started_cpu)
        wall.append(time.perf_counter() - started)
    lines = [line for line in body.decode().splitlines() if line and not line.startswith("#")]
    return {
        "series": len(lines),
        "exemplars": sum(1 for line in lines if " # {" in line),
        "bytes": len(body),
        "wall": wall,
        "cpu": cpu,
    }


def _slot_worker(directory: str, slot: int) -> None:
    os.environ[multiprocess.MULTIPROC_ENV] = directory
    multiprocess.use_slot(slot, exemplar_interval=60.0)
    default_runtime(None).close()
    # A forked child skips atexit: collect once, which folds in any histogram observations
    # the listener still holds, and publish the exemplars as gunicorn's worker_exit does.
    list(REGISTRY.collect())
    multiprocess.release_slot()


OPENMETRICS = {"Accept": "application/openmetrics-text"}


def scrape_cost(count: int) -> dict[str, Any]:
    """Render time of GET /metrics: one process vs merged from SCRAPE_SLOTS worker slots, text and OpenMetrics."""
    runtime = default_runtime(CollectorRegistry())
    client = create_app(runtime, ServiceSettings()).test_client()
    # As a gunicorn worker does after loading the app (agent_runtime/serving/wsgi.py): the start-up
    # heap is out of the collector's reach, so a full collection during a scrape does not traverse it.
    gc.collect()
    gc.freeze()
    with tempfile.TemporaryDirectory(prefix="bench-multiproc-") as directory:
        context = multiprocessing.get_context("fork")
        for slot in range(SCRAPE_SLOTS):
            worker = context.Process(target=_slot_worker, args=(directory, slot))
            worker.start()
            worker.join(120)
            assert worker.exitcode == 0
        files = len(multiprocess.db_files(Path(directory)))
        exemplar_files = len(exemplars.exemplar_files(Path(directory)))
        exemplar_bytes = sum(path.stat().st_size for path in exemplars.exemplar_files(Path(directory)))

        def single(headers: dict[str, str]) -> bytes:
            return client.get("/metrics", headers=headers).data

        def merged(headers: dict[str, str]) -> bytes:
            os.environ[multiprocess.MULTIPROC_ENV] = directory
            try:
                return client.get("/metrics", headers=headers).data
            finally:
                del os.environ[multiprocess.MULTIPROC_ENV]

        # Interleaved rounds, so drift and other load on the machine favour none.
        rounds = 5
        samples: dict[str, list[dict[str, Any]]] = {name: [] for name in SCRAPES}
        for _ in range(rounds):
            for name, (merge, headers) in SCRAPES.items():
                scrape = merged if merge else single
                timed = time_scrapes(lambda scrape=scrape, headers=headers: scrape(headers), count // rounds)
                samples[name].append(timed)
    gc.unfreeze()
    runtime.close()
    result: dict[str, Any] = {"agents": len(runtime.config.agents), "tools": len(runtime.tool_specs())}
    cpu_medians: dict[str, float] = {}
    wall_medians: dict[str, float] = {}
    for name, runs in samples.items():
        wall = [t for run in runs for t in run.pop("wall")]
        cpu = [t for run in runs for t in run.pop("cpu")]
        wall_medians[name], cpu_medians[name] = statistics.median(wall), statistics.median(cpu)
        entry = dict(runs[0])
        entry.update(
            scrapes=len(wall),
            median_ms=round(wall_medians[name] * 1e3, 2),
            p95_ms=round(statistics.quantiles(wall, n=20)[-1] * 1e3, 2),
            cpu_median_ms=round(cpu_medians[name] * 1e3, 2),
        )
        result[name] = entry
    for name in ("multiprocess_text", "multiprocess_openmetrics"):
        one = name.removeprefix("multiprocess_")
        result[name].update(
            worker_slots=SCRAPE_SLOTS,
            files=files,
            exemplar_files=exemplar_files,
            exemplar_file_bytes=exemplar_bytes,
            ratio_vs_one_process=round(cpu_medians[name] / cpu_medians[one], 2),
            wall_ratio_vs_one_process=round(wall_medians[name] / wall_medians[one], 2),
        )
    return result


SCRAPES: dict[str, tuple[bool, dict[str, str]]] = {
    "text": (False, {}),
    "openmetrics": (False, OPENMETRICS),
    "multiprocess_text": (True, {}),
    "multiprocess_openmetrics": (True, OPENMETRICS),
}


def _observe_cost(mode: str, directory: str, repeats: int, queue: Any) -> None:
    """Nanoseconds per ``observe(value, exemplar)`` in ``mode`` (run in a forked child: it swaps the value class)."""
    if mode == "one_process":
        values.ValueClass = values.MutexValue
    else:
        os.environ[multiprocess.MULTIPROC_ENV] = directory
        if mode == "multiprocess_stock":
            values.ValueClass = values.MultiProcessValue(lambda: "stock")  # type: ignore[no-untyped-call]
        else:
            multiprocess.use_slot(0, exemplar_interval=1.0)
    histogram = Histogram("observe_seconds", "Bench.", ["agent"], buckets=catalog.LATENCY_BUCKETS,
                          registry=CollectorRegistry()).labels("writer")  # fmt: skip
    exemplar = {"trace_id": "c2b795a20cdcf57d416736868dfcea93"}
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for number in range(repeats):
            histogram.observe(LATENCIES[number % len(LATENCIES)], exemplar)
        best = min(best, (time.perf_counter() - started) / repeats)
    queue.put(round(best * 1e9))


def observe_cost(repeats: int) -> dict[str, Any]:
    """The hot path: one histogram observation with an exemplar, in ns."""
    context = multiprocessing.get_context("fork")
    best: dict[str, int] = {}
    for _ in range(3):  # interleaved; the best of each, so a busy moment of the machine counts for none
        for mode in ("one_process", "multiprocess_stock", "multiprocess_slot_with_exemplars"):
            with tempfile.TemporaryDirectory(prefix="bench-observe-") as directory:
                queue = context.Queue()
                worker = context.Process(target=_observe_cost, args=(mode, directory, repeats, queue))
                worker.start()
                nanoseconds = queue.get(timeout=120)
                worker.join(60)
            best[f"{mode}_ns"] = min(best.get(f"{mode}_ns", nanoseconds), nanoseconds)
    return dict(best)


def table(rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  " + "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)) for row in rows
    )


def print_per_task(cost: dict[str, Any]) -> None:
    print(f"Per-task cost: {cost['rounds']} rounds x {cost['tasks_per_round']} tasks "
          f"(agents {', '.join(AGENT_MIX)}, instant tools)")  # fmt: skip
    rows: list[tuple[str, ...]] = [
        ("mode", "mean us", "p50 us", "p95 us", "x off", "p50 x off", "+us", "exported", "dropped")
    ]
    for mode, entry in cost["modes"].items():
        rows.append(
            (
                mode,
                f"{entry['mean_us']:.1f}",
                f"{entry['p50_us']:.1f}",
                f"{entry['p95_us']:.1f}",
                f"{entry['ratio_vs_off']:.2f}",
                f"{entry['p50_ratio_vs_off']:.2f}",
                f"{entry['added_us']:.1f}",
                str(entry["exported_spans"]),
                str(entry["dropped_spans"]),
            )
        )
    print(table(rows))
    alone = cost["metrics_listener_alone"]
    print(f"  metrics listener alone: {alone['us_per_task']} us per task ({alone['events_per_task']:.0f} events)")
    span = cost["span_on_task_thread"]
    print(
        f"  one recorded span on the task's thread: {span['bounded_processor_us']} us "
        f"(SDK BatchSpanProcessor: {span['sdk_batch_processor_us']} us)"
    )


def print_scrape(scrape: dict[str, Any]) -> None:
    print(f"\nScrape of the default configuration ({scrape['agents']} agents, {scrape['tools']} tools)")
    rows = [("scrape", "series", "exemplars", "bytes", "cpu median ms", "x one process", "median ms", "p95 ms")]
    for name in SCRAPES:
        entry = scrape[name]
        rows.append(
            (
                name,
                str(entry["series"]),
                str(entry["exemplars"]),
                str(entry["bytes"]),
                f"{entry['cpu_median_ms']}",
                f"{entry.get('ratio_vs_one_process', 1.0):.2f}",
                f"{entry['median_ms']}",
                f"{entry['p95_ms']}",
            )
        )
    print(table(rows))
    merged = scrape["multiprocess_openmetrics"]
    print(
        f"  merged from {merged['worker_slots']} worker slots: {merged['files']} metric files, "
        f"{merged['exemplar_files']} exemplar files ({merged['exemplar_file_bytes']} bytes)"
    )
    observe = scrape["observe_with_exemplar"]
    print(
        "  observe(value, exemplar): "
        + ", ".join(f"{name.removesuffix('_ns')} {value} ns" for name, value in observe.items())
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer tasks and rounds (a smoke run)")
    parser.add_argument(
        "--scrape-only",
        action="store_true",
        help="measure only the scrape and the exemplar hot path; keep the per-task results already in --output",
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    options = parser.parse_args(argv)
    for name in [name for name in os.environ if name.startswith("OTEL_")]:
        del os.environ[name]

    tasks, rounds, warmup, scrapes = (500, 2, 100, 20) if options.quick else (2000, 8, 300, 100)
    previous = json.loads(options.output.read_text()) if options.scrape_only and options.output.exists() else {}
    if options.scrape_only and "per_task" not in previous:
        parser.error(f"--scrape-only needs the per-task results of an earlier run in {options.output}")
    if options.scrape_only:
        cost = previous["per_task"]
    else:
        cost = per_task(tasks, rounds, warmup)
        cost["metrics_listener_alone"] = listener_cost(repeats=2000 if options.quick else 20000)
        cost["span_on_task_thread"] = span_cost(spans=1000, repeats=3 if options.quick else 10)
    scrape = scrape_cost(scrapes)
    scrape["observe_with_exemplar"] = observe_cost(repeats=20000 if options.quick else 200000)

    print_per_task(cost)
    print_scrape(scrape)

    report = {
        "benchmark": "telemetry",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "quick": options.quick,
        "per_task": cost,
        "scrape": scrape,
    }
    if options.scrape_only:
        report["per_task_from_earlier_run"] = True
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {options.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
