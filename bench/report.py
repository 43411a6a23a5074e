"""Render docs/performance.md from bench/results/*.json (``make bench`` runs it after the benchmarks).

The report is generated, never edited by hand: every figure in it comes
from a results file, and ``tests/unit/test_performance_report.py`` fails
when the committed page differs from what this renders, so the two stay in
step. Each target of the hot-path issue is listed with its measured ratio
and whether it is met; a missed one is followed by the profile of where
its time goes (pyinstrument, recorded by the benchmark that measured it).

    python bench/report.py            # rewrites docs/performance.md
    python bench/report.py --check    # exit 1 when docs/performance.md is out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "bench" / "results"
DOC = REPO_ROOT / "docs" / "performance.md"


def load(results: Path) -> dict[str, Any]:
    """Every results file by benchmark name (``routing.json`` -> ``routing``)."""
    loaded: dict[str, Any] = {}
    for path in sorted(results.glob("*.json")):
        try:
            loaded[path.stem] = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
    return loaded


def dig(data: Any, *keys: Any) -> Any:
    """``data[k1][k2]...``, or None when any step is missing."""
    for key in keys:
        in_dict = isinstance(data, dict) and key in data
        in_list = isinstance(data, list) and isinstance(key, int) and -len(data) <= key < len(data)
        if in_dict or in_list:
            data = data[key]
        else:
            return None
    return data


def routing_row(data: dict[str, Any], agents: int) -> dict[str, Any] | None:
    for row in dig(data, "routing", "results") or []:
        if row.get("agents") == agents:
            return dict(row)
    return None


@dataclass(frozen=True)
class Target:
    """One target of the issue: how to read its figure, and what it must be."""

    name: str
    figure: Callable[[dict[str, Any]], float | None]
    limit: float
    at_most: bool  # True: the figure must be <= limit; False: >= limit
    unit: str
    profiles: tuple[tuple[str, ...], ...] = ()

    def value(self, data: dict[str, Any]) -> float | None:
        try:
            return self.figure(data)
        except (TypeError, KeyError, ZeroDivisionError):
            return None

    def met(self, data: dict[str, Any]) -> bool | None:
        value = self.value(data)
        if value is None:
            return None
        return value <= self.limit if self.at_most else value >= self.limit


def _all_rates(data: dict[str, Any], key: str) -> float | None:
    rates = [row.get(key) for row in dig(data, "routing", "results") or []]
    rates.append(dig(data, "routing", "default_config", key))
    known = [rate for rate in rates if rate is not None]
    return min(known) if known else None


TARGETS: tuple[Target, ...] = (
    Target(
        "Routing with caches, 10 agents, mixed workload: reference / ours",
        lambda d: dig(routing_row(d, 10), "speedup_vs_reference", "cached"),
        20.0,
        False,
        "x",
        (("routing", "profiles", "cached_10_agents"),),
    ),
    Target(
        "Repeat-heavy stream (800 texts, 10 agents): ours / the reference's cache hit",
        lambda d: dig(d, "routing", "repeat_heavy", "ours_over_reference"),
        1.0,
        True,
        "x",
    ),
    Target(
        "Scoring uncached, 10 agents: reference / ours",
        lambda d: dig(routing_row(d, 10), "speedup_vs_reference", "uncached"),
        10.0,
        False,
        "x",
        (("routing", "profiles", "uncached_10_agents"),),
    ),
    Target(
        "Exact-repeat decisions agreeing with fresh scoring (default config and synthetic sets, lowest)",
        lambda d: _all_rates(d, "exact_hit_agreement_rate"),
        1.0,
        False,
        "ratio",
    ),
    Target(
        "Paraphrase hits agreeing with fresh scoring (default config and synthetic sets, lowest)",
        lambda d: _all_rates(d, "paraphrase_agreement_rate"),
        0.99,
        False,
        "ratio",
    ),
    Target(
        "Per task, every cache hit, 10% sampling: p50 (echoer and pair alternating)",
        lambda d: dig(d, "hotpath", "per_task", "modes", "sampled_10pct", "mix_p50_us"),
        60.0,
        True,
        "us",
        (("hotpath", "profiles", "per_task_10pct"),),
    ),
    Target(
        "Per task, every cache hit, 100% sampling: p50",
        lambda d: dig(d, "hotpath", "per_task", "modes", "sampled_100pct", "mix_p50_us"),
        150.0,
        True,
        "us",
        (("hotpath", "profiles", "per_task_100pct"),),
    ),
    Target(
        "A task whose (inline) tool runs: the runtime's time / one thread-pool hand-off",
        lambda d: dig(d, "hotpath", "tool_runs", "inline_over_handoff"),
        2.0,
        True,
        "x",
        (("hotpath", "profiles", "tool_runs_inline"),),
    ),
    Target(
        "L0 hit / cachetools.TTLCache get on the same keys",
        lambda d: dig(d, "hotpath", "l0_hit", "ours_over_cachetools"),
        2.0,
        True,
        "x",
    ),
    Target(
        "Breaker, closed call: ours / the circuitbreaker package",
        lambda d: dig(d, "breaker", "overhead", "ours_over_circuitbreaker"),
        1.0,
        True,
        "x",
    ),
    Target(
        "Breaker under 8 threads of 10 ms calls: wall time / fully parallel",
        lambda d: dig(d, "breaker", "concurrency", "ours_over_ideal_ratio"),
        1.1,
        True,
        "x",
    ),
    Target(
        "HTTP cached task throughput / bare Flask (same gunicorn settings)",
        lambda d: dig(d, "http", "ours_over_bare_throughput"),
        0.7,
        False,
        "x",
        (("http", "in_process_us", "profile"),),
    ),
    Target(
        "Worker RSS growth from 10k to 100k tasks, mixed workload",
        lambda d: dig(d, "hotpath", "memory", "growth_mb"),
        5.0,
        True,
        "MB",
    ),
    Target(
        "LLM agent (20 ms model, 5 ms tools, 3 turns, 2 calls): runtime / the SDK and tools in a loop",
        lambda d: dig(d, "agents", "ratio"),
        1.10,
        True,
        "x",
    ),
)


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "not measured"
    if unit == "ratio":
        return f"{value:.2%}"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:.1f} {unit}"


def _limit(target: Target) -> str:
    sign = "<=" if target.at_most else ">="
    return f"{sign} {_fmt(target.limit, target.unit)}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _n(value: Any, digits: int = 1, suffix: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}{suffix}"
    return f"{value}{suffix}"


def _spread(values: list[float] | None) -> str:
    """``; rounds from 0.62x to 0.71x`` for a list of per-round ratios (nothing without them)."""
    return f"; rounds from {min(values):.2f}x to {max(values):.2f}x" if values else ""


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def targets_section(data: dict[str, Any]) -> list[str]:
    rows = []
    for target in TARGETS:
        met = target.met(data)
        verdict = "not measured" if met is None else ("met" if met else "**missed**")
        rows.append((target.name, _fmt(target.value(data), target.unit), _limit(target), verdict))
    return [
        "## Targets",
        "",
        "Each target of the hot-path issue, with the figure measured for it (all",
        "from the results files of one `make bench`).",
        "",
        *_table(("target", "measured", "target", ""), rows),
        "",
    ]


def hotpath_section(data: dict[str, Any]) -> list[str]:
    hot = dig(data, "hotpath")
    if not hot:
        return []
    modes = dig(hot, "per_task", "modes") or {}
    rows = [
        (
            mode.replace("_", " "),
            _n(entry.get("echoer_p50_us")),
            _n(entry.get("pair_p50_us")),
            _n(entry.get("mix_p50_us")),
            _n(entry.get("mix_p95_us")),
            _n(entry.get("mix_p50_over_floor"), 0, "x") if "mix_p50_over_floor" in entry else "",
        )
        for mode, entry in modes.items()
    ]
    runs = hot.get("tool_runs", {})
    hit = hot.get("l0_hit", {})
    mem = hot.get("memory", {})
    curve = mem.get("rss_mb_by_tasks") or {}
    return [
        "## Per task (`bench/bench_hotpath.py`)",
        "",
        f"{_n(dig(hot, 'per_task', 'rounds'))} interleaved rounds x {_n(dig(hot, 'per_task', 'tasks_per_round'))}"
        " tasks per mode. Every cache hits: the routing decision (exact or paraphrase) and every tool call",
        "(L0). `echoer` makes one tool call, `pair` three (two of them in parallel, then one on both",
        "results); metrics on, spans through the bounded batch processor to a no-op exporter. The",
        "floor is a dict route cache plus a dict tool cache. Microseconds, p50 unless said:",
        "",
        *_table(("mode", "echoer", "pair", "mix", "mix p95", "mix / floor"), rows),
        "",
        "A task whose tool runs (an instant tool that is not cacheable) against one thread-pool hand-off",
        f"(`submit(...).result()`, {_n(runs.get('handoff_p50_us'))} us): {_n(runs.get('inline_tool_task_p50_us'))} us"
        f" with an `inline` tool ({_n(runs.get('inline_over_handoff'), 2, 'x')}), "
        f"{_n(runs.get('pool_tool_task_p50_us'))} us with a pool tool ({_n(runs.get('pool_over_handoff'), 2, 'x')}).",
        "That is the whole task (admission, task span, analysis and routing, plan, the call, telemetry,",
        "the result). The tool call alone, `ToolPipeline.call` minus calling the function, adds "
        f"{_n(runs.get('pipeline_inline_call_overhead_us'), 2)} us for an `inline` tool "
        f"({_n(runs.get('pipeline_inline_call_over_handoff'), 2, 'x')} a hand-off) and "
        f"{_n(runs.get('pipeline_pool_call_overhead_us'), 2)} us for a pool tool, which pays the hand-off.",
        "",
        f"An L0 hit (`ToolCache.lookup` with the runtime's listeners) costs {_n(hit.get('ours_us'), 2)} us against "
        f"{_n(hit.get('cachetools_ttlcache_us'), 2)} us for `cachetools.TTLCache.get` keyed by "
        f"`cachetools.keys.hashkey` on the same arguments ({_n(hit.get('ours_over_cachetools'), 2, 'x')}).",
        "",
        f"Memory, mixed workload ({_n(mem.get('distinct_texts'))} distinct texts, 10 agents): RSS "
        f"{_n(mem.get('rss_at_checkpoint_mb'))} MB after {_n(mem.get('checkpoint'))} tasks, "
        f"{_n(mem.get('rss_at_total_mb'))} MB after {_n(mem.get('tasks'))} (+{_n(mem.get('growth_mb'), 2)} MB). "
        "RSS by tasks handled: " + ", ".join(f"{int(k) // 1000}k {v} MB" for k, v in curve.items()) + ".",
        "",
    ]


def routing_section(data: dict[str, Any]) -> list[str]:
    routing = dig(data, "routing")
    if not routing:
        return []
    rows = []
    for row in routing.get("results", []):
        us, speed = row.get("us_per_task", {}), row.get("speedup_vs_reference", {})
        cache = row.get("decision_cache", {})
        rows.append(
            (
                str(row.get("agents")),
                _n(us.get("ours_cached"), 2),
                _n(us.get("reference_cached"), 2),
                _n(speed.get("cached"), 2, "x"),
                _n(us.get("ours_uncached"), 2),
                _n(us.get("reference_uncached"), 2),
                _n(speed.get("uncached"), 2, "x"),
                _pct(cache.get("hit_rate")),
                _pct(row.get("exact_hit_agreement_rate")),
                _pct(row.get("paraphrase_agreement_rate")),
                _pct(row.get("reference_agrees_with_ours")),
            )
        )
    repeat = routing.get("repeat_heavy", {})
    default = routing.get("default_config", {})
    first = (routing.get("results") or [{}])[0]
    split = first.get("first_seen", {})
    where = (
        [
            f"Where the cached time goes ({_n(first.get('agents'))} agents): every pass starts with cold caches, so "
            f"{_pct(split.get('share'))} of its tasks bring a text seen for the first time. Ours spends "
            f"{_n(split.get('ours_first_us'), 2)} us on such a task (analysis, the paraphrase search, scoring, "
            f"filing the decision) and {_n(split.get('ours_repeat_us'), 2)} us on a repeat; the reference "
            f"{_n(split.get('reference_first_us'), 2)} and {_n(split.get('reference_repeat_us'), 2)} us. Even if "
            "our repeats cost nothing, the first-seen texts alone hold the ratio to "
            f"{_n(split.get('ratio_if_our_repeats_were_free'), 2, 'x')}: the cached target needs first-seen "
            "texts several times cheaper, not faster hits.",
            "",
        ]
        if split
        else []
    )
    scale = routing.get("results") or []
    kept = [
        f"{_n(row.get('agents'))} agents: {_n(dig(row, 'decision_cache', 'entries'))} decisions kept in "
        f"{_n(dig(row, 'decision_cache', 'held_bytes') / 2**20, 2)} MiB "
        f"({_n(dig(row, 'sources', 'scored'))} scorings for {_n(row.get('distinct_texts'))} distinct texts), "
        f"paraphrase hits on {_pct(dig(row, 'decision_cache', 'similar_hit_rate'))} of tasks "
        f"({_pct(dig(row, 'without_stability_margin', 'similar_hit_rate'))} without the margin, agreeing "
        f"{_pct(dig(row, 'without_stability_margin', 'paraphrase_agreement_rate'))})"
        for row in scale
        if dig(row, "decision_cache", "held_bytes") is not None
    ]
    growth = (
        [
            "As agents grow, fewer decisions are kept and fewer are offered to paraphrases. The decision "
            f"cache holds at most {_n(dig(scale[0], 'decision_cache', 'max_entries'))} entries and about "
            f"{_n(dig(scale[0], 'decision_cache', 'max_bytes') / 2**20, 2)} MiB "
            "(`routing.decision_cache_max_bytes`); a decision grows with the agents its task concerns, so "
            "with many agents the byte bound evicts and repeats are scored again. A paraphrase hit is offered "
            "only a decision whose best agent leads the runner-up by the stability margin "
            f"({_n(dig(scale[0], 'decision_cache', 'stability_margin'), 2)}); with many overlapping agents few do. "
            + "; ".join(kept)
            + ".",
            "",
        ]
        if kept
        else []
    )
    live = routing.get("live_experience", {})
    ours, drop_all = live.get("ours", {}), live.get("drop_all_on_epoch", {})
    outcomes = (
        [
            f"Outcomes recorded as tasks run ({_n(live.get('agents'))} agents, the same stream at "
            f"{_n(live.get('tasks_per_second'))} tasks/s of a fake clock, every task's outcome recorded for its agent, "
            "the three busiest agents degrading halfway): the experience epoch moved "
            f"{_n(ours.get('epoch_changes'))} times. A new epoch drops only the decisions that depend on an agent "
            "whose term moved (the agents the task concerns; every decision when a negative term "
            f"moves): the decision cache hit {_pct(ours.get('hit_rate'))} of tasks, against "
            f"{_pct(drop_all.get('hit_rate'))} when every epoch empties it, and routing cost "
            f"{_n(ours.get('us_per_task'), 2)} against {_n(drop_all.get('us_per_task'), 2)} us per task. Exact hits "
            f"agree {_pct(ours.get('exact_hit_agreement_rate'))} with a router without a cache sharing the experience "
            f"({_n(ours.get('exact_hits_checked'))} hits, runners-up and explanations included).",
            "",
        ]
        if ours
        else []
    )
    return [
        "## Routing (`bench/bench_routing.py`)",
        "",
        f"{_n(routing.get('tasks'))} tasks from templates with paraphrases and Zipf popularity "
        f"({_n(first.get('distinct_texts'))} distinct texts), routed by ours and by the reference design",
        "written plainly in the benchmark (`ReferenceRouter`: keyword counts per domain by word-boundary",
        "regular expressions, confidence `0.5 keyword + 0.3 domain + 0.2 history`, decisions cached by the",
        "md5 of the sorted keywords). Microseconds per task, best of the timed passes:",
        "",
        *_table(
            (
                "agents",
                "ours cached",
                "reference cached",
                "ref / ours",
                "ours uncached",
                "reference uncached",
                "ref / ours",
                "our hit rate",
                "exact agree",
                "paraphrase agree",
                "reference picks our agent",
            ),
            rows,
        ),
        "",
        *where,
        *growth,
        f"Repeat-heavy stream ({_n(repeat.get('distinct_texts'))} distinct texts, {_n(repeat.get('agents'))} agents,"
        f" every one already routed): ours {_n(repeat.get('ours_us'), 2)} us against the reference's cache hit "
        f"{_n(repeat.get('reference_cache_hit_us'), 2)} us ({_n(repeat.get('ours_over_reference'), 2, 'x')}). An exact",
        "repeat is answered without analysing the text: the by-text analysis memo, then the decision",
        "cache checked by identity of the versions in force, and a paraphrase already answered under an",
        "unchanged index is answered again from a memo.",
        "",
        *outcomes,
        f"Default configuration ({_n(default.get('agents'))} agents): exact hits agree "
        f"{_pct(default.get('exact_hit_agreement_rate'))} ({_n(default.get('exact_hits'))} hits), paraphrase hits "
        f"{_pct(default.get('paraphrase_agreement_rate'))} ({_n(default.get('similar_hits'))} hits).",
        "",
    ]


def breaker_section(data: dict[str, Any]) -> list[str]:
    breaker = dig(data, "breaker")
    if not breaker:
        return []
    conc, cost = breaker.get("concurrency", {}), breaker.get("overhead", {})
    return [
        "## Circuit breaker (`bench/bench_breaker.py`)",
        "",
        f"{_n(conc.get('threads'))} threads x {_n(conc.get('calls_per_thread'))} calls of a 10 ms tool through one "
        f"closed breaker: ours {_n(conc.get('ours_wall_seconds'), 3)} s "
        f"({_n(conc.get('ours_over_ideal_ratio'), 2, 'x')} the fully parallel time), "
        f"pybreaker {_n(conc.get('pybreaker_wall_seconds'), 3)} s (it holds its lock during the call).",
        "",
        *_table(
            ("per closed call", "us"),
            (
                ("ours (`allow` + `record_success`, no lock)", _n(cost.get("ours_breaker_call_overhead_us"), 3)),
                ("circuitbreaker package", _n(cost.get("circuitbreaker_call_overhead_us"), 3)),
                ("pybreaker", _n(cost.get("pybreaker_call_overhead_us"), 3)),
                ("`ToolPipeline.call` answered from L0", _n(cost.get("pipeline_l0_hit_us"), 3)),
            ),
        ),
        "",
    ]


# The layers bench/bench_http.py times, as the report names them.
HTTP_LAYERS = (
    ("flask_request_context", "Flask's request context: push (URL match), pop"),
    ("request_limits", "request limits (target and header sizes, before every endpoint)"),
    ("request_validation", "request validation: body read, JSON decode, field checks (bare: `get_json`)"),
    ("runtime_handle", "`Runtime.handle`"),
    ("result_to_dict", "the result as a dict (`TaskResult.to_dict`)"),
    ("result_encoding", "serialisation: JSON and the response object (bare: its `jsonify`)"),
    ("rest", "the rest: Flask's dispatch, the WSGI response, the layers' cost together over alone"),
)


def http_section(data: dict[str, Any]) -> list[str]:
    http = dig(data, "http")
    if not http:
        return []
    apps = http.get("apps", {})
    rows = [
        (
            name,
            _n(entry.get("requests_per_second")),
            _n(entry.get("p50_ms"), 2),
            _n(entry.get("p99_ms"), 2),
            _n(entry.get("worker_cpu_us_per_request")),
        )
        for name, entry in apps.items()
    ]
    inner = http.get("in_process_us", {})
    ours, bare = inner.get("layers_ours_us", {}), inner.get("layers_bare_us", {})
    layer_rows = [(label, _n(ours.get(key)), _n(bare.get(key))) for key, label in HTTP_LAYERS]
    whole_ours, whole_bare = inner.get("request_ours_us"), inner.get("request_bare_us")
    layer_rows.append(("**the whole request**", _n(whole_ours), _n(whole_bare)))
    lines = [
        "## HTTP (`bench/bench_http.py`)",
        "",
        f"gunicorn with the service's configuration file, {_n(http.get('workers'))} gthread workers x "
        f"{_n(http.get('threads'))} threads, {_n(http.get('connections'))} keep-alive connections from a client"
        " process on the same two cores, the same `POST /v1/tasks` (all caches hit) for both apps,"
        f" {_n(http.get('rounds'))} interleaved rounds of {_n(http.get('seconds_per_round'), 0)} s each;"
        " ours with metrics on and tracing at 10% sampling (spans through the bounded batch processor to a"
        " no-op exporter, as in the per-task benchmark):",
        "",
        *_table(("app", "requests/s", "p50 ms", "p99 ms", "worker CPU us per request"), rows),
        "",
        f"Ours is {_n(http.get('ours_over_bare_throughput'), 2, 'x')} the bare endpoint's throughput (the"
        " median over rounds of the two apps' ratio within a round, run back to back"
        f"{_spread(http.get('round_ratios'))}). The"
        " workers' CPU time per request (user and system, from /proc, median of the rounds) moves less with"
        " the other work on the cores; bare's is the floor gunicorn and Flask set for any app.",
        "",
    ]
    if not ours:
        return lines

    def more(*keys: str) -> float | None:
        """What ours spends over bare in these layers."""
        total = 0.0
        for key in keys:
            mine, theirs = ours.get(key), bare.get(key)
            if mine is None or theirs is None:
                return None
            total += float(mine) - float(theirs)
        return total

    gap = more(*(key for key, _ in HTTP_LAYERS))
    handle = ours.get("runtime_handle")
    share = handle / gap if gap and handle is not None else None
    return [
        *lines,
        "Where a request's time goes, in one process with the server's environment: CPU microseconds per"
        " request, the client's request as a gunicorn environ straight into each app, each layer timed alone"
        " inside a request context (the context's own cost taken off), median of"
        f" {_n(inner.get('rounds'))} interleaved rounds of {_n(inner.get('requests_per_round'))} requests."
        f" Responses: {_n(inner.get('response_ours_bytes'))} bytes for ours,"
        f" {_n(inner.get('response_bare_bytes'))} for bare.",
        "",
        *_table(("layer", "ours us", "bare us"), layer_rows),
        "",
        f"Ours costs {_n(gap)} us more than bare per request. `Runtime.handle` is {_n(handle)} us of that"
        f" ({_pct(share)}): the task itself (analysis, routing from the decision cache, the plan, the L0 tool"
        " cache hit, metrics written to the worker's multiprocess files). The result as a dict and its JSON"
        f" cost {_n(more('result_to_dict', 'result_encoding'))} us more than bare's answer; the request limits"
        " and the body's checks beyond bare's `get_json` (its size limit, the fields)"
        f" {_n(more('request_limits', 'request_validation'))} us;"
        f" the rest {_n(more('rest', 'flask_request_context'))} us (Flask's dispatch through a blueprint and a"
        " `before_request` hook, and the runtime and Flask sharing the caches within one request).",
        "",
        *_worker_gap(apps, gap),
    ]


def _worker_gap(apps: dict[str, Any], gap: float | None) -> list[str]:
    """How much more ours costs a worker than one process accounts for (no layer is measured there)."""
    ours, bare = dig(apps, "ours", "worker_cpu_us_per_request"), dig(apps, "bare", "worker_cpu_us_per_request")
    if ours is None or bare is None or gap is None:
        return []
    return [
        f"In the workers ours costs {_n(ours - bare)} us of CPU more than bare per request, against {_n(gap)} us"
        " in one process: the rest is spent only under the server and is not split by"
        " layer here (not measured, the likely causes: a worker's threads interleaving requests and handing the"
        " GIL over, each request running on colder caches).",
        "",
    ]


def telemetry_section(data: dict[str, Any]) -> list[str]:
    modes = dig(data, "telemetry", "per_task", "modes")
    if not modes:
        return []
    rows = [
        (mode, _n(entry.get("mean_us")), _n(entry.get("p50_us")), _n(entry.get("ratio_vs_off"), 2))
        for mode, entry in modes.items()
    ]
    return [
        "## Telemetry cost (`bench/bench_telemetry.py`)",
        "",
        "Per task with instant tools, by telemetry mode (details in [telemetry.md](telemetry.md)):",
        "",
        *_table(("mode", "mean us", "p50 us", "mean x off"), rows),
        "",
        *parts_of_the_cost(dig(data, "telemetry", "per_task")),
        *scrape_table(dig(data, "telemetry", "scrape")),
    ]


def parts_of_the_cost(per_task: dict[str, Any]) -> list[str]:
    """The metrics listener alone and one recorded span, as measured beside the modes."""
    listener = per_task.get("metrics_listener_alone") or {}
    span = per_task.get("span_on_task_thread") or {}
    if not listener or not span:
        return []
    return [
        f"The metrics listener alone, replaying a task's {_n(listener.get('events_per_task'), 1)} events"
        f" (the runtime's work around them left out): {_n(listener.get('us_per_task'), 1)} us per task."
        f" A recorded span on the task's thread: {_n(span.get('bounded_processor_us'), 2)} us with our bounded"
        f" processor, {_n(span.get('sdk_batch_processor_us'), 2)} us with the SDK's `BatchSpanProcessor`"
        " (no-op exporter).",
        "",
    ]


SCRAPES = (
    ("text, one process", "text"),
    ("OpenMetrics, one process", "openmetrics"),
    ("text, merged from {slots} slots ({files} files)", "multiprocess_text"),
    ("OpenMetrics, merged from {slots} slots ({files} files + {slots} exemplar files)", "multiprocess_openmetrics"),
)


def scrape_table(scrape: dict[str, Any] | None) -> list[str]:
    """``GET /metrics`` in one process and merged from the worker slots (``bench_telemetry.py --scrape-only``)."""
    if not scrape:
        return []
    rows = []
    for label, key in SCRAPES:
        entry = scrape.get(key, {})
        ratio = entry.get("ratio_vs_one_process")
        rows.append(
            (
                label.format(slots=_n(entry.get("worker_slots")), files=_n(entry.get("files"))),
                f"{entry.get('series', 0):,}",
                _n(entry.get("exemplars")),
                f"{entry.get('bytes', 0):,}",
                _n(entry.get("median_ms"), 1),
                _n(entry.get("p95_ms"), 1),
                "1.00" if ratio is None else f"**{ratio:.2f}**",
            )
        )
    return [
        f"`GET /metrics` of the default configuration ({_n(scrape.get('agents'))} agents, "
        f"{_n(scrape.get('tools'))} tools, every series populated, latency observations inside sampled spans so "
        "that they carry exemplars), in one process and merged from the gunicorn worker slots, through the Flask "
        "app; the ratio is of the scraping thread's median CPU time against one process in the same format "
        "(multiprocess mode has no `_created` samples, hence fewer series):",
        "",
        *_table(("scrape", "series", "exemplars", "bytes", "median ms", "p95 ms", "x one process"), rows),
        "",
        *observe_costs(scrape.get("observe_with_exemplar")),
    ]


def observe_costs(costs: dict[str, Any] | None) -> list[str]:
    """What ``observe(value, exemplar)`` costs on the hot path, by where the value is kept."""
    if not costs:
        return []
    return [
        f"`observe(value, exemplar)` takes {costs['one_process_ns'] / 1000:.2f} us in one process, "
        f"{costs['multiprocess_stock_ns'] / 1000:.2f} us in stock multiprocess mode (an mmap write per value, "
        f"exemplar dropped) and {costs['multiprocess_slot_with_exemplars_ns'] / 1000:.2f} us in a worker slot that "
        "keeps the exemplar for publishing.",
        "",
    ]


def profiles_section(data: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for target in TARGETS:
        if target.met(data) is not False:
            continue
        for path in target.profiles:
            top = dig(data, *path)
            if not top:
                continue
            if not lines:
                lines += [
                    "## Where the time goes in the missed targets",
                    "",
                    "pyinstrument profiles of the workload each missed target is measured on: the functions",
                    "with the most own time, summed over every call path, as a share of the profiled time.",
                    "",
                ]
            lines += [f"### {target.name}", ""]
            lines += _table(("function", "share"), [(f"`{row['function']}`", f"{row['share']:.1%}") for row in top])
            lines.append("")
    return lines


def render(data: dict[str, Any]) -> str:
    lines = [
        "# Performance report",
        "",
        "Generated by `bench/report.py` from `bench/results/*.json` (`make bench` runs every benchmark,",
        "then this); do not edit by hand. Every figure is measured in one run of a benchmark under",
        "`bench/`, ours against a baseline on the same machine at the same moment, with modes",
        "interleaved over rounds. The machine is the project's standard one: 2 cores shared with other",
        "work, so absolute times move by tens of percent between runs while the ratios hold better.",
        "",
        *targets_section(data),
        *hotpath_section(data),
        *routing_section(data),
        *breaker_section(data),
        *http_section(data),
        *telemetry_section(data),
        *profiles_section(data),
    ]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 when the page is out of date")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--output", type=Path, default=DOC)
    options = parser.parse_args(argv)
    text = render(load(options.results))
    if options.check:
        current = options.output.read_text() if options.output.exists() else ""
        if current != text:
            print(f"{options.output} is out of date: run python bench/report.py", file=sys.stderr)
            return 1
        return 0
    options.output.write_text(text)
    print(f"wrote {options.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
