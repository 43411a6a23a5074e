"""Benchmark: the per-task hot path, the L0 cache and a tool run, against their floors.

Not a test: it measures and reports, as ratios within one run (modes
interleaved over rounds, so drift and other work on the machine hit every
mode alike). Four questions:

1. Per task with every cache hit (the routing decision and every tool call):
   p50 at 10% and at 100% trace sampling, for a one-tool agent (``echoer``),
   a three-call agent with two parallel steps (``pair``) and the two
   alternating (``mix``); metrics on, spans through the project's bounded
   batch processor to a no-op exporter. The floor is a dict route cache
   plus a dict tool cache.
2. A task whose tool runs (not cacheable): the runtime's own overhead (task
   time minus the tool's own) against one thread-pool hand-off measured in
   the same rounds, for an ``inline`` tool and for a pool tool.
3. An L0 hit: ``ToolCache.lookup`` (with the runtime's listeners: metrics
   and span events) against ``cachetools.TTLCache.get`` keyed by
   ``cachetools.keys.hashkey`` on the same arguments.
4. Worker memory: RSS after 10k and after 100k tasks of a mixed workload
   (routing texts with paraphrases, cacheable tools with varying arguments),
   in a fresh process.

Run from the repository root::

    python bench/bench_hotpath.py            # prints a table, writes bench/results/hotpath.json
    python bench/bench_hotpath.py --quick    # fewer tasks and rounds
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

# The checkout this file is in, ahead of any installed copy of the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cachetools
import cachetools.keys
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from profiles import profile_top  # bench/profiles.py (this script's directory is on sys.path)
from prometheus_client import CollectorRegistry

from agent_runtime.config.loader import parse_config
from agent_runtime.config.models import CacheSettings, ToolSpec
from agent_runtime.registry import ToolRegistry
from agent_runtime.runtime import Runtime
from agent_runtime.telemetry.labels import LabelGuard
from agent_runtime.telemetry.listener import ListenerSet
from agent_runtime.telemetry.metrics import PrometheusListener
from agent_runtime.telemetry.tracing import SpanEventListener
from agent_runtime.tools.cache import ToolCache
from exporters.otlp import TracingHandle, configure_tracing_from_env

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "bench" / "results" / "hotpath.json"
MODES = ("floor", "sampled_10pct", "sampled_100pct")
SAMPLING = {"sampled_10pct": "0.1", "sampled_100pct": "1.0"}
AGENTS = ("echoer", "pair")
TEXTS_PER_AGENT = 50


def config(*, cacheable: bool = True, inline: bool = True) -> dict[str, Any]:
    tool = {"ttl_seconds": 3600, "inline": inline, "cacheable": cacheable}
    return {
        "tools": {"echo": dict(tool), "join": dict(tool)},
        "agents": [
            {
                "name": "echoer",
                "tools": ["echo"],
                "specialties": [{"domain": "echo", "keywords": {"echo": 1.0, "repeat": 1.0}}],
                "plan": [{"id": "say", "tool": "echo", "args": {"text": "{task}"}}],
            },
            {
                "name": "pair",
                "tools": ["echo", "join"],
                "specialties": [{"domain": "pairs", "keywords": {"pair": 1.0, "both": 1.0}}],
                "plan": [
                    {"id": "left", "tool": "echo", "args": {"text": "left {task}"}},
                    {"id": "right", "tool": "echo", "args": {"text": "right {task}"}},
                    {"id": "both", "tool": "join", "args": {"parts": ["$steps.left", "$steps.right"]}},
                ],
            },
        ],
        "routing": {"fallback_chain": ["echoer"], "min_confidence": 0.1},
        "execution": {"max_in_flight_tasks": 64, "max_parallel_tool_calls": 8, "task_timeout_seconds": 5},
    }


def tools() -> ToolRegistry:
    registry = ToolRegistry()

    @registry.tool()
    def echo(text: str) -> str:
        return text

    @registry.tool()
    def join(parts: list[Any]) -> str:
        return " + ".join(str(part) for part in parts)

    return registry


class NoopExporter(SpanExporter):
    """Takes every span and sends it nowhere: the SDK's and our processor's work without a collector's."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing to release."""


def _tracing(ratio: str | None, metrics: PrometheusListener | None) -> TracingHandle | None:
    for name in [name for name in os.environ if name.startswith("OTEL_")]:
        del os.environ[name]
    if ratio is None:
        return None
    os.environ["OTEL_TRACES_SAMPLER"] = "parentbased_traceidratio"
    os.environ["OTEL_TRACES_SAMPLER_ARG"] = ratio
    return configure_tracing_from_env(metrics, span_exporter=NoopExporter())


def texts_for(agent: str) -> list[str]:
    word = "echo" if agent == "echoer" else "pair"
    return [f"{word} this message number {i}" for i in range(TEXTS_PER_AGENT)]


def _p50(values: Sequence[float]) -> float:
    return statistics.median(values) * 1e6


# --- 1. per task, every cache hit ---------------------------------------------------------------


def per_task_round(mode: str, tasks: int) -> dict[str, list[float]]:
    """Per-task seconds by agent for one round of ``mode``."""
    streams = {agent: texts_for(agent) for agent in AGENTS}
    durations: dict[str, list[float]] = {agent: [] for agent in AGENTS}
    clock = time.perf_counter
    if mode == "floor":
        # The floor: a dict route cache and a dict tool cache, nothing else.
        routes = {text: agent for agent, texts in streams.items() for text in texts}
        results = {("echo", text): text for texts in streams.values() for text in texts}
        for number in range(tasks):
            agent = AGENTS[number % 2]
            text = streams[agent][number // 2 % TEXTS_PER_AGENT]
            started = clock()
            routes.get(text)
            results.get(("echo", text))
            durations[agent].append(clock() - started)
        return durations
    runtime = Runtime(parse_config(config()), tools=tools(), metrics_registry=CollectorRegistry())
    handle = _tracing(SAMPLING[mode], runtime.metrics)
    try:
        for agent, texts in streams.items():  # warm every cache: decisions and tool results
            for text in texts * 2:
                runtime.handle(text)
            result = runtime.handle(texts[0])
            assert result.agent == agent and result.decision is not None
            assert result.decision.source in ("cache", "similar"), result.decision.source
            assert all(call.cache_layer == "l0" for call in result.tool_calls), result.tool_calls
        for number in range(tasks):
            agent = AGENTS[number % 2]
            text = streams[agent][number // 2 % TEXTS_PER_AGENT]
            started = clock()
            runtime.handle(text)
            durations[agent].append(clock() - started)
    finally:
        if handle is not None:
            handle.shutdown()
        runtime.close()
    return durations


def per_task(tasks: int, rounds: int) -> dict[str, Any]:
    collected: dict[str, dict[str, list[float]]] = {mode: {agent: [] for agent in AGENTS} for mode in MODES}
    for number in range(rounds):
        order = MODES[number % len(MODES) :] + MODES[: number % len(MODES)]
        for mode in order:
            gc.collect()
            for agent, values in per_task_round(mode, tasks).items():
                collected[mode][agent].extend(values)
    summary: dict[str, Any] = {}
    for mode in MODES:
        entry: dict[str, Any] = {}
        for agent in AGENTS:
            entry[f"{agent}_p50_us"] = round(_p50(collected[mode][agent]), 2)
        mixed = [d for agent in AGENTS for d in collected[mode][agent]]
        entry["mix_p50_us"] = round(_p50(mixed), 2)
        entry["mix_p95_us"] = round(statistics.quantiles(mixed, n=20)[-1] * 1e6, 2)
        summary[mode] = entry
    floor = summary["floor"]["mix_p50_us"]
    for mode in MODES[1:]:
        summary[mode]["mix_p50_over_floor"] = round(summary[mode]["mix_p50_us"] / floor, 1)
    return {"tasks_per_round": tasks, "rounds": rounds, "agents": list(AGENTS), "modes": summary}


def profile_tasks(ratio: str, tasks: int, *, cacheable: bool = True) -> list[dict[str, Any]]:
    """Top functions of ``tasks`` tasks (mix, or echoer only when tools run) at sampling ``ratio``."""
    runtime = Runtime(parse_config(config(cacheable=cacheable)), tools=tools(), metrics_registry=CollectorRegistry())
    handle = _tracing(ratio, runtime.metrics)
    agents = AGENTS if cacheable else ("echoer",)
    streams = {agent: texts_for(agent) for agent in agents}
    try:
        for texts in streams.values():
            for text in texts * 2:
                runtime.handle(text)

        def work() -> None:
            for number in range(tasks):
                agent = agents[number % len(agents)]
                runtime.handle(streams[agent][number // 2 % TEXTS_PER_AGENT])

        return profile_top(work)
    finally:
        if handle is not None:
            handle.shutdown()
        runtime.close()


# --- 2. a task whose tool runs ------------------------------------------------------------------


def _handoff(pool: ThreadPoolExecutor, count: int) -> list[float]:
    def nothing() -> None:
        return None

    durations = []
    clock = time.perf_counter
    for _ in range(count):
        started = clock()
        pool.submit(nothing).result()
        durations.append(clock() - started)
    return durations


def tool_runs(tasks: int, rounds: int) -> dict[str, Any]:
    """The runtime's overhead on a one-tool task whose (instant) tool runs, vs one pool hand-off."""
    runtimes = {
        "inline": Runtime(parse_config(config(cacheable=False)), tools=tools(), metrics_registry=CollectorRegistry()),
        "pool": Runtime(
            parse_config(config(cacheable=False, inline=False)), tools=tools(), metrics_registry=CollectorRegistry()
        ),
    }
    handle = _tracing("0.1", next(iter(runtimes.values())).metrics)
    pool = ThreadPoolExecutor(max_workers=4)
    collected: dict[str, list[float]] = {"inline": [], "pool": [], "handoff": []}
    texts = texts_for("echoer")
    try:
        for runtime in runtimes.values():
            for text in texts:
                runtime.handle(text)
        for _ in range(rounds):
            for name, runtime in runtimes.items():
                clock = time.perf_counter
                for number in range(tasks):
                    # The tool returns its argument (well under a microsecond): the task's time is the runtime's.
                    started = clock()
                    runtime.handle(texts[number % len(texts)])
                    collected[name].append(clock() - started)
            collected["handoff"].extend(_handoff(pool, tasks))
    finally:
        pool.shutdown()
        if handle is not None:
            handle.shutdown()
        for runtime in runtimes.values():
            runtime.close()
    handoff = _p50(collected["handoff"])
    call = pipeline_call(tasks, rounds)
    return {
        **call,
        "tasks_per_round": tasks,
        "rounds": rounds,
        "handoff_p50_us": round(handoff, 2),
        "inline_tool_task_p50_us": round(_p50(collected["inline"]), 2),
        "pool_tool_task_p50_us": round(_p50(collected["pool"]), 2),
        "inline_over_handoff": round(_p50(collected["inline"]) / handoff, 2),
        "pipeline_inline_call_over_handoff": round(call["pipeline_inline_call_overhead_us"] / handoff, 2),
        "pool_over_handoff": round(_p50(collected["pool"]) / handoff, 2),
    }


def pipeline_call(count: int, rounds: int) -> dict[str, Any]:
    """One uncached call through ``ToolPipeline.call`` (breaker, retry, metrics) minus calling the tool directly."""
    from agent_runtime.tools.pipeline import ToolPipeline

    registry = ToolRegistry()

    def echo(text: str) -> str:
        return text

    registry.register(ToolSpec("inline_echo", cacheable=False, inline=True), echo)
    registry.register(ToolSpec("pool_echo", cacheable=False), echo)
    listener = ListenerSet(
        [
            PrometheusListener(LabelGuard(tools=("inline_echo", "pool_echo")), registry=CollectorRegistry()),
            SpanEventListener(),
        ]
    )
    pipeline = ToolPipeline(registry, ToolCache(CacheSettings(), listener), listener)
    args = {"text": "hello"}
    collected: dict[str, list[float]] = {"inline_echo": [], "pool_echo": [], "direct": []}
    clock = time.perf_counter
    try:
        for _ in range(rounds):
            for name in ("inline_echo", "pool_echo"):
                for _ in range(count):
                    started = clock()
                    pipeline.call(name, args)
                    collected[name].append(clock() - started)
            for _ in range(count):
                started = clock()
                echo(**args)
                collected["direct"].append(clock() - started)
    finally:
        pipeline.close()
    direct = _p50(collected["direct"])
    return {
        "pipeline_inline_call_overhead_us": round(_p50(collected["inline_echo"]) - direct, 2),
        "pipeline_pool_call_overhead_us": round(_p50(collected["pool_echo"]) - direct, 2),
    }


# --- 3. an L0 hit -------------------------------------------------------------------------------


def l0_hit(keys: int, repeats: int, rounds: int) -> dict[str, Any]:
    spec = ToolSpec("search", ttl_seconds=3600)
    calls = [{"query": f"query number {i}", "limit": 5} for i in range(keys)]
    listener = ListenerSet(
        [PrometheusListener(LabelGuard(tools=("search",)), registry=CollectorRegistry()), SpanEventListener()]
    )
    ours = ToolCache(CacheSettings(), listener)
    for args in calls:
        ours.store(ours.lookup(spec, args), "value", 0.01)
    theirs: cachetools.TTLCache[Any, Any] = cachetools.TTLCache(maxsize=2048, ttl=3600)
    for args in calls:
        theirs[cachetools.keys.hashkey("search", **args)] = "value"

    def run_ours() -> None:
        lookup = ours.lookup
        for args in calls:
            assert lookup(spec, args).hit

    def run_theirs() -> None:
        get, hashkey = theirs.get, cachetools.keys.hashkey
        for args in calls:
            assert get(hashkey("search", **args)) is not None

    timings: dict[str, list[float]] = {"ours": [], "cachetools": []}
    for number in range(rounds):
        order = [("ours", run_ours), ("cachetools", run_theirs)]
        if number % 2:
            order.reverse()
        for name, run in order:
            started = time.perf_counter()
            for _ in range(repeats):
                run()
            timings[name].append((time.perf_counter() - started) / repeats / keys)
    ours_us, theirs_us = min(timings["ours"]) * 1e6, min(timings["cachetools"]) * 1e6
    return {
        "keys": keys,
        "ours_us": round(ours_us, 3),
        "cachetools_ttlcache_us": round(theirs_us, 3),
        "ours_over_cachetools": round(ours_us / theirs_us, 2),
        "cachetools_version": cachetools.__version__,
    }


# --- 4. memory ----------------------------------------------------------------------------------


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory_child(total: int, checkpoint: int) -> dict[str, Any]:
    """Run in a fresh process: RSS after ``checkpoint`` and after ``total`` mixed tasks."""
    sys.path.insert(0, str(REPO_ROOT / "bench"))
    from bench_routing import DOMAINS, build_agents, make_workload

    rng = random.Random(11)
    agents = build_agents(10, rng)
    tool_names = sorted({tool for agent in agents for tool in agent.tools})
    agent_dicts = []
    for spec in agents:
        tools_of = list(spec.tools) or ["lookup"]
        agent_dicts.append(
            {
                "name": spec.name,
                "tools": tools_of,
                "base_confidence": spec.base_confidence,
                "specialties": [
                    {"domain": s.domain, "keywords": dict(s.keywords), "weight": s.weight} for s in spec.specialties
                ],
                "plan": [{"id": f"s{i}", "tool": tool, "args": {"q": "{task}"}} for i, tool in enumerate(tools_of)],
            }
        )
    registry = ToolRegistry()

    def make(name: str) -> None:
        def run(q: str) -> dict[str, Any]:
            return {"tool": name, "answer": q.upper(), "passages": [q] * 3}

        registry.register(ToolSpec(name, ttl_seconds=300, inline=True), run)

    for name in [*tool_names, "lookup"]:
        make(name)
    cfg = parse_config(
        {
            "agents": agent_dicts,
            "routing": {"fallback_chain": ["generalist"], "planning_agent": "planner"},
            "execution": {"max_in_flight_tasks": 64},
        }
    )
    runtime = Runtime(cfg, tools=registry, metrics_registry=CollectorRegistry())
    handle = _tracing("0.1", runtime.metrics)
    texts = make_workload(total, random.Random(7), intents=2000)
    assert DOMAINS
    rss: dict[str, int] = {}
    curve: dict[int, float] = {}
    step = max(total // 10, 1)
    for number, text in enumerate(texts, start=1):
        runtime.handle(text)
        if number == checkpoint:
            gc.collect()
            rss["at_checkpoint"] = _rss_bytes()
        if number % step == 0:
            gc.collect()
            curve[number] = round(_rss_bytes() / 2**20, 1)
    gc.collect()
    rss["at_total"] = _rss_bytes()
    if handle is not None:
        handle.shutdown()
    runtime.close()
    return {
        "tasks": total,
        "checkpoint": checkpoint,
        "distinct_texts": len(set(texts)),
        "rss_at_checkpoint_mb": round(rss["at_checkpoint"] / 2**20, 1),
        "rss_at_total_mb": round(rss["at_total"] / 2**20, 1),
        "growth_mb": round((rss["at_total"] - rss["at_checkpoint"]) / 2**20, 2),
        "rss_mb_by_tasks": curve,
        "caches": runtime.cache_sizes() if hasattr(runtime, "cache_sizes") else {},
    }


def memory(total: int, checkpoint: int) -> dict[str, Any]:
    output = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(total), str(checkpoint)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(output.stdout.strip().splitlines()[-1])
    return result


# --- report -------------------------------------------------------------------------------------


def table(rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  " + "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)) for row in rows
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer tasks and rounds (a smoke run)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    parser.add_argument("--memory-child", nargs=2, type=int, metavar=("TOTAL", "CHECKPOINT"), help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.memory_child:
        print(json.dumps(memory_child(*options.memory_child)))
        return 0

    tasks, rounds = (1000, 2) if options.quick else (4000, 5)
    hot = per_task(tasks, rounds)
    runs = tool_runs(tasks // 2, rounds)
    hit = l0_hit(200, 20 if options.quick else 100, rounds * 2)
    mem = memory(20_000, 2_000) if options.quick else memory(100_000, 10_000)
    profiles = {
        "per_task_10pct": profile_tasks("0.1", tasks),
        "per_task_100pct": profile_tasks("1.0", tasks),
        "tool_runs_inline": profile_tasks("0.1", tasks, cacheable=False),
    }

    print(f"Per task, every cache hit: {rounds} rounds x {tasks} tasks (p50, microseconds)")
    rows: list[tuple[str, ...]] = [("mode", "echoer", "pair", "mix", "mix p95", "mix / floor")]
    for mode, entry in hot["modes"].items():
        rows.append(
            (
                mode,
                f"{entry['echoer_p50_us']:.1f}",
                f"{entry['pair_p50_us']:.1f}",
                f"{entry['mix_p50_us']:.1f}",
                f"{entry['mix_p95_us']:.1f}",
                str(entry.get("mix_p50_over_floor", "")),
            )
        )
    print(table(rows))
    print(
        f"\nA task whose tool runs (p50): inline tool {runs['inline_tool_task_p50_us']} us "
        f"({runs['inline_over_handoff']}x one hand-off), pool tool {runs['pool_tool_task_p50_us']} us "
        f"({runs['pool_over_handoff']}x); one hand-off {runs['handoff_p50_us']} us"
    )
    print(
        f"L0 hit: ours {hit['ours_us']} us, cachetools.TTLCache {hit['cachetools_ttlcache_us']} us "
        f"({hit['ours_over_cachetools']}x)"
    )
    print(
        f"Memory: RSS {mem['rss_at_checkpoint_mb']} MB after {mem['checkpoint']} tasks, "
        f"{mem['rss_at_total_mb']} MB after {mem['tasks']} (+{mem['growth_mb']} MB)"
    )
    report = {
        "benchmark": "hotpath",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "quick": options.quick,
        "per_task": hot,
        "tool_runs": runs,
        "l0_hit": hit,
        "memory": mem,
        "profiles": profiles,
    }
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {options.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
