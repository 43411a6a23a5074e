"""Benchmark: our circuit breaker vs pybreaker and circuitbreaker, and the pipeline's cache-hit overhead.

Not a test: it measures and reports. Two questions:

1. Concurrency. 8 threads call a tool that sleeps 10 ms through ONE closed
   breaker. A breaker that holds its lock during the call serialises them
   (8x slower); ours holds it only around bookkeeping.
2. Fast-path cost. Per-call time of ``ToolPipeline.call`` answered from the
   L0 cache vs calling the function directly, and of a no-op called through
   a bare closed breaker (ours: ``allow``/``record_success``, as the pipeline
   does; pybreaker and the ``circuitbreaker`` package: their ``call``).
   Rounds alternate the three, and the best round of each is kept.

Run from the repository root::

    python bench/bench_breaker.py            # prints a table, writes bench/results/breaker.json
    python bench/bench_breaker.py --quick    # fewer iterations
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The checkout this file is in, ahead of any installed copy of the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import circuitbreaker
import pybreaker

from agent_runtime.config.models import BreakerSettings, CacheSettings
from agent_runtime.registry import ToolRegistry
from agent_runtime.tools.breaker import CircuitBreaker
from agent_runtime.tools.cache import ToolCache
from agent_runtime.tools.pipeline import ToolPipeline

RESULTS = Path(__file__).resolve().parent / "results" / "breaker.json"
THREADS = 8
TOOL_SLEEP_SECONDS = 0.010


def sleeping_tool() -> str:
    time.sleep(TOOL_SLEEP_SECONDS)
    return "ok"


def through(breaker: CircuitBreaker, func: Callable[[], Any]) -> Any:
    """Call ``func`` through ``breaker`` the way the pipeline does: a ticket, the call, the outcome."""
    ticket = breaker.allow()
    if ticket is None:
        raise RuntimeError(f"breaker {breaker.name!r} is open")
    try:
        result = func()
    except Exception:
        breaker.record_failure(ticket)
        raise
    breaker.record_success(ticket)
    return result


def run_threads(call: Callable[[], Any], threads: int, calls_per_thread: int) -> float:
    """Wall time for ``threads`` threads each making ``calls_per_thread`` calls, started together."""
    barrier = threading.Barrier(threads + 1)

    def worker() -> None:
        barrier.wait()
        for _ in range(calls_per_thread):
            call()

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in workers:
        thread.join()
    return time.perf_counter() - started


def per_call_seconds(call: Callable[[], Any], iterations: int, repeats: int) -> float:
    """Best-of-``repeats`` mean seconds per call (best-of filters scheduler noise)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(iterations):
            call()
        best = min(best, (time.perf_counter() - started) / iterations)
    return best


def concurrency(calls_per_thread: int, rounds: int) -> dict[str, Any]:
    ours = CircuitBreaker("bench", BreakerSettings())
    theirs = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=60)
    ours_times = [run_threads(lambda: through(ours, sleeping_tool), THREADS, calls_per_thread) for _ in range(rounds)]
    theirs_times = [run_threads(lambda: theirs.call(sleeping_tool), THREADS, calls_per_thread) for _ in range(rounds)]
    ideal = calls_per_thread * TOOL_SLEEP_SECONDS
    ours_wall = statistics.median(ours_times)
    theirs_wall = statistics.median(theirs_times)
    return {
        "threads": THREADS,
        "calls_per_thread": calls_per_thread,
        "tool_sleep_seconds": TOOL_SLEEP_SECONDS,
        "ideal_parallel_seconds": ideal,
        "ours_wall_seconds": round(ours_wall, 4),
        "pybreaker_wall_seconds": round(theirs_wall, 4),
        "pybreaker_over_ours_ratio": round(theirs_wall / ours_wall, 2),
        "ours_over_ideal_ratio": round(ours_wall / ideal, 2),
    }


def overhead(iterations: int, repeats: int) -> dict[str, Any]:
    def add(a: int, b: int) -> int:
        return a + b

    def noop() -> None:
        return None

    registry = ToolRegistry()
    registry.tool(name="add", ttl_seconds=3600)(add)
    args = {"a": 1, "b": 2}
    with ToolPipeline(registry, ToolCache(CacheSettings())) as pipeline:
        assert pipeline.call("add", args).cache_layer is None
        assert pipeline.call("add", args).cache_layer == "l0"
        hit = per_call_seconds(lambda: pipeline.call("add", args), iterations, repeats)
    direct = per_call_seconds(lambda: add(**args), iterations, repeats)

    ours = CircuitBreaker("bench", BreakerSettings())
    theirs = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=60)
    package = circuitbreaker.CircuitBreaker(failure_threshold=5, recovery_timeout=60)
    bare = per_call_seconds(noop, iterations, repeats)
    best = {"ours": float("inf"), "pybreaker": float("inf"), "circuitbreaker": float("inf")}
    calls: dict[str, Callable[[], Any]] = {
        "ours": lambda: through(ours, noop),
        "pybreaker": lambda: theirs.call(noop),
        "circuitbreaker": lambda: package.call(noop),
    }
    names = list(calls)
    for number in range(repeats):
        for name in names[number % 3 :] + names[: number % 3]:
            best[name] = min(best[name], per_call_seconds(calls[name], iterations, 1))
    ours_call, theirs_call, package_call = best["ours"], best["pybreaker"], best["circuitbreaker"]
    micro = 1e6
    return {
        "iterations": iterations,
        "direct_call_us": round(direct * micro, 3),
        "pipeline_l0_hit_us": round(hit * micro, 3),
        "pipeline_l0_hit_overhead_us": round((hit - direct) * micro, 3),
        "bare_noop_us": round(bare * micro, 3),
        "ours_breaker_call_overhead_us": round((ours_call - bare) * micro, 3),
        "pybreaker_call_overhead_us": round((theirs_call - bare) * micro, 3),
        "circuitbreaker_call_overhead_us": round((package_call - bare) * micro, 3),
        "ours_over_circuitbreaker": round((ours_call - bare) / (package_call - bare), 2),
        "circuitbreaker_version": importlib.metadata.version("circuitbreaker"),
    }


def table(rows: list[tuple[str, str]]) -> str:
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"  {name.ljust(width)}  {value}" for name, value in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    options = parser.parse_args(argv)

    calls_per_thread, rounds = (10, 1) if options.quick else (25, 3)
    iterations, repeats = (2_000, 3) if options.quick else (50_000, 9)
    conc = concurrency(calls_per_thread, rounds)
    cost = overhead(iterations, repeats)

    print(f"Concurrency: {THREADS} threads x {calls_per_thread} calls of a 10 ms tool, one closed breaker")
    print(
        table(
            [
                ("ideal (fully parallel)", f"{conc['ideal_parallel_seconds']:.3f} s"),
                ("ours", f"{conc['ours_wall_seconds']:.3f} s  ({conc['ours_over_ideal_ratio']}x ideal)"),
                ("pybreaker", f"{conc['pybreaker_wall_seconds']:.3f} s"),
                ("pybreaker / ours", f"{conc['pybreaker_over_ours_ratio']}x"),
            ]
        )
    )
    print("\nPer-call cost (best of runs, microseconds)")
    print(
        table(
            [
                ("direct function call", f"{cost['direct_call_us']:.2f}"),
                ("pipeline.call, L0 hit", f"{cost['pipeline_l0_hit_us']:.2f}"),
                ("  overhead vs direct", f"{cost['pipeline_l0_hit_overhead_us']:.2f}"),
                ("our breaker overhead", f"{cost['ours_breaker_call_overhead_us']:.2f}"),
                ("pybreaker overhead", f"{cost['pybreaker_call_overhead_us']:.2f}"),
                ("circuitbreaker overhead", f"{cost['circuitbreaker_call_overhead_us']:.2f}"),
                ("  ours / circuitbreaker", f"{cost['ours_over_circuitbreaker']:.2f}x"),
            ]
        )
    )

    report = {
        "benchmark": "breaker",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "pybreaker_version": importlib.metadata.version("pybreaker"),
        "quick": options.quick,
        "concurrency": conc,
        "overhead": cost,
    }
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {options.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
