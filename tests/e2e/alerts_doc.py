"""``docs/e2e-alerts.md`` from the drill's results (``bench/results/e2e_alerts.json``).

The e2e run writes both when ``AGENT_RUNTIME_E2E_RECORD=1`` (with
``AGENT_RUNTIME_E2E_NOTE`` stated in the doc when set); a run with
``AGENT_RUNTIME_E2E_LONG=1`` also records the long healthy run, which later
recordings without it carry over. To re-render the doc from the committed
results alone::

    python -m tests.e2e.alerts_doc
"""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from observability import alert_names
from tests.e2e.drill import LONG_HEALTHY_SECONDS, DrillResult
from tests.e2e.live import (
    INTERVAL_SECONDS,
    LLM_MAX_TOKENS,
    MODEL_PRICE,
    REPLICAS,
    TIME_SCALE,
    WORKERS,
    WORKLOAD_MIX,
    WORKLOAD_RATE,
)

RESULTS = Path("bench/results/e2e_alerts.json")
DOC = Path("docs/e2e-alerts.md")

# Alerts and rules the drill does not fault, and why (kept in the results so the doc states it).
NOT_DRILLED = (
    (alert_names.TASK_ERROR_BUDGET_BURN, "long=6h,short=30m / 1d,2h / 3d,6h",
     "Proven by the fast 1h/5m window of the same rule family (same recording rules, same expression shape): "
     "their long windows are 6 to 72 minutes even at this time scale, and their tickets are inhibited while "
     "the page fires."),
    (alert_names.TASK_LATENCY_BUDGET_BURN, "long=6h,short=30m / 1d,2h / 3d,6h",
     "As above: proven by the 1h/5m page of the family."),
    (alert_names.LABEL_VALUES_FOLDED, "",
     "No request can create a label value outside the configured agents and tools: the service refuses "
     "unknown agents and tools with a 4xx before any metric is touched. Its promtool unit test covers the rule."),
    (alert_names.AGENT_STOPS_WITHOUT_ANSWER, "",
     "Gemma 3 270M repeats its own last action, but the agent's last turn may only answer, so its runs end "
     "as `forced_final` (an answer); a run without one needs a model that fails even that turn, which the "
     "local model does not. Its promtool unit test covers the rule."),
    (alert_names.AGENT_INVALID_ACTIONS_HIGH, "",
     "The json_schema protocol constrains the model's output with a grammar, so the local model sends no "
     "invalid actions to provoke. Its promtool unit test covers the rule."),
    (alert_names.LLM_CACHE_HIT_RATE_DROP, "",
     "The drill's model traffic is new text by design (so it reaches the model server); the LLM cache never "
     "had a usual level to drop from. Its promtool unit test covers the rule."),
    (alert_names.MODEL_SERVER_MISSING, "",
     "The same absent() shape as AgentRuntimeTargetMissing, drilled in F. Its promtool unit test covers it."),
)  # fmt: skip


# What the drill showed beyond the tables, for the owners of the rules and the runtime (kept in the doc,
# not the results: it is the reading of them).
FINDINGS = (
    "- **Fixed: AgentRuntimeToolErrorsHigh flapped while its tool's breaker was open** (`llm_chat`, "
    "`promql_query` in B). Its ratio divided failed calls by all calls, so the short-circuited ones pulled "
    "it under 10% and it resolved, then fired again on the next failed half-open probe. It now divides by "
    "the calls that reached the tool (`job_tool:agent_runtime_tool_calls_reached:rate5m`, without "
    "`short_circuited`), and holds at 100% while the probes fail. Since then a call its fallback answered "
    "counts as failed (a review found a tool with a fallback could fail half its calls unseen).",
    "- **Fixed: AgentRuntimeToolLatencyHigh held `llm_chat` and `write_answer` to the 1 s tool target**: "
    "model calls take seconds when healthy (it went pending in E). The tools that call the model "
    "(`model.tool` and `model.backed_tools` in `observability.yaml`) are left to AgentRuntimeModelLatencyHigh.",
    "- **Fixed: an idle gunicorn worker kept reporting a cache layer down**: a layer re-opened only on its "
    "next operation, so a worker without requests after an outage held `agent_runtime_cache_layer_up` at 0 "
    "(`livemin` over the workers) and AgentRuntimeCacheLayerDown did not resolve. A degraded layer now "
    "probes itself on a timer (`cache.layer_initial_backoff_seconds` doubling up to "
    "`cache.layer_max_backoff_seconds`; scaled here to 0.1-1 s like the breakers), and the workload comes "
    "from many clients, as real traffic does, not one keep-alive connection.",
    "- **Fixed: AgentRuntimeModelLatencyHigh and AgentRuntimeModelSpendOverBudget resolved and notified "
    "twice in E**: slow model calls end in bursts (the server's queue drains at once), and the window emptied "
    "between two bursts. Both keep firing for `model.keep_firing_for` (10m) after the condition last held.",
    "- **Fixed: AgentRuntimeToolErrorsHigh resolved while `knowledge_search` still failed 20% of calls** "
    "(B, one CI run in four): with about 90 calls in the scaled 5 s window, and cache hits counted as "
    "successes, the ratio dipped under 10% for two evaluations (measured at 7%: 1.25 failed of 19 calls/s). "
    "It keeps firing for `components.tool_errors_keep_firing_for` (5m) after the ratio was last over the "
    "threshold; a dip while still pending only restarts its `for:` (counted as abandoned).",
    "- **Fixed: AgentRuntimeCacheHitRateDrop fired on the decision cache in a healthy run** (one CI run): "
    "every change of an agent's experience empties the decision cache by design, so under live traffic its "
    "hit ratio wobbles between 1% and 20% around a 3-5% day average (measured in a probe of the healthy "
    "run), and a dip under half of that fired a ticket for a cache whose misses cost microseconds. The "
    "alert now covers the caches whose misses cost a dependency call (`cache.caches`: `tool`); the "
    "decision and analysis caches are on the dashboard. Since then a new epoch drops only the decisions "
    "that depend on an agent whose term moved (`bench/bench_routing.py`, outcomes recorded as tasks run: "
    "83.9% hit against 63.6% when every epoch empties the cache). In the local stack at 5 tasks/s without "
    "faults (`agent-runtime stack up --rate 5 --no-llm`, one run each) it answered 79% and 88% of the tasks "
    "in minutes 4 and 5, against 62% and 72% before; the drill has not measured it yet.",
    "- **Fixed: the model cache's hit-ratio panel read no data**: in runs where the model cache only "
    "missed, its `result=\"hit\"` series did not exist. A cache and layer first counted now get both "
    "series at once, so the panel reads 0%.",
    "- **Fixed: Gemma 3 270M never answered as the LLM agent**: it repeats its own last action, so every "
    "investigator run ended at the loop stop without an answer. A run about to end that way now gets one "
    "last turn that may only answer (`forced_final`); 5 of 5 investigator questions end with an answer "
    "(docs/local-model.md).",
    "- **Detection is bounded by the harm**: the 14.4x, 1h page on a 1% budget crosses after 8.6 min / "
    "share of tasks failing, so only a near-total outage pages within 10 minutes (A: about 12 min with every "
    "uncached task failing); a slow-latency page needs 72% of an hour's tasks slow (C: about an hour).",
)


def _traffic_summary(traffic: Mapping[str, Any]) -> dict[str, Any]:
    return {name: {key: report[key] for key in ("sent", "completed", "statuses", "outcomes", "agents")}
            for name, report in traffic.items()}  # fmt: skip


def results(drill: DrillResult, previous: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON document of one drill (the long healthy run carried over from ``previous`` if not run now)."""
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    healthy = {
        "seconds": drill.healthy_seconds,
        "alerts_seen": sorted(drill.healthy_alerts),
        "pending_only": sorted(drill.healthy_pending),
        "deliveries": len(drill.healthy_deliveries),
    }
    long_run = {**healthy, "measured_at": now} if drill.healthy_seconds >= LONG_HEALTHY_SECONDS - 1 else None
    if long_run is None and previous is not None:
        long_run = previous.get("long_healthy")
    first = drill.waves[0].started if drill.waves else 0.0
    return {
        "generated_at": now,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.system()},
        "time_scale": TIME_SCALE,
        "scrape_and_evaluation_interval_seconds": INTERVAL_SECONDS,
        "replicas": REPLICAS,
        "workers": WORKERS,
        "workload_tasks_per_second": WORKLOAD_RATE,
        "workload_mix": dict(WORKLOAD_MIX),
        "model": {"name": "gemma-3-270m", "max_tokens": LLM_MAX_TOKENS, "price_per_million_tokens": MODEL_PRICE},
        "healthy": healthy,
        "long_healthy": long_run,
        "scenarios": [
            {
                "name": wave.scenario.name,
                "faults": [f.description for f in wave.scenario.faults],
                "started_after_seconds": round(wave.started - first, 1),
                "seconds": round(wave.ended - wave.started, 1),
                "other_alerts": {key: counts.to_dict() for key, counts in sorted(wave.others.items())},
                "traffic": _traffic_summary(wave.traffic),
                "model_cache": dict(wave.model_cache),
            }
            for wave in drill.waves
        ],
        "drill_seconds": round(drill.waves[-1].ended - first + drill.healthy_seconds, 1) if drill.waves else None,
        "alerts": [obs.to_dict() for obs in drill.observations],
        "not_drilled": [{"alert": a, "rules": r, "why": w} for a, r, w in NOT_DRILLED],
        "stack": {"prometheus": "2.42", "alertmanager": "0.25", "redis": "redis-server", "model_server": "llama.cpp"},
        # Anything about the code measured that the checkout alone does not say (e.g. a patch applied).
        "note": os.environ.get("AGENT_RUNTIME_E2E_NOTE") or None,
    }


def _near_misses(run: Mapping[str, Any]) -> str:
    pending = run.get("pending_only") or []
    if not pending:
        return "; nothing else even went pending"
    return (f"; pending for a moment but never firing (a near miss, notified to nobody): "
            f"{', '.join(pending)}")  # fmt: skip


def _seconds(value: float | None, scale: int) -> str:
    if value is None:
        return "—"
    return f"{value:.1f} s (≈{value * scale / 60:.0f} min)"


def _transitions(counts: Mapping[str, int]) -> str:
    text = f"{counts['pending']}/{counts['firing']}/{counts['resolved']}"
    if counts.get("abandoned"):
        text += f" (+{counts['abandoned']} abandoned)"
    return f"{text}; notified {counts['notified_firing']}/{counts['notified_resolved']}"


def _target(alert: Mapping[str, Any], scale: int) -> tuple[str, str | None]:
    """The target cell, and why the alert missed it (None when it met it)."""
    target = alert.get("target_minutes")
    detected = alert.get("detected_after_seconds")
    if target is None:
        return "—", alert.get("target_why")
    minutes = detected * scale / 60 if detected is not None else None
    over = minutes is not None and minutes > target
    return f"{target:g} min{' ✗' if over else ''}", (alert.get("target_why") or "no reason recorded") if over else None


def _labels(alert: Mapping[str, Any]) -> str:
    parts = [f"{k}={v}" for k, v in alert["labels"].items()]
    if alert.get("replica"):
        parts.append(f"replica {alert['replica']}")
    return ", ".join(parts) or "—"


def render(data: dict[str, Any]) -> str:
    """The Markdown document for one results JSON."""
    scale = int(data["time_scale"])
    interval = data["scrape_and_evaluation_interval_seconds"]
    model = data["model"]
    mix = ", ".join(f"{k} {v:g}" for k, v in data["workload_mix"].items())
    lines = [
        "# End-to-end alert drill",
        "",
        "<!-- Generated by `python -m tests.e2e.alerts_doc` from bench/results/e2e_alerts.json; do not edit. -->",
        "",
        f"Measured on {data['generated_at']} ({data['machine']['cpus']} CPUs, Python {data['machine']['python']}) "
        "by `pytest tests/e2e` against real Prometheus "
        f"{data['stack']['prometheus']} and Alertmanager {data['stack']['alertmanager']}, in production shape: "
        f"{data['replicas']} runtime replicas (two targets of the one `agent-runtime` scrape job), each a gunicorn "
        f"master with {data['workers']} workers (multiprocess metrics), sharing one Redis as the L2 tool cache "
        "(each replica with an L1 directory of its own), and llama.cpp's `llama-server` serving "
        f"{model['name']} as their model (answers capped at {model['max_tokens']} tokens). A background workload "
        f"of {data['workload_tasks_per_second']:g} tasks/s ({mix}) is spread over the replicas; it calls no model "
        "(model traffic is the model scenarios'). The repository's own rules run time-scaled by "
        f"{scale} (a `5m` window is {300 / scale:g} s, `for: 15m` is {900 / scale:g} s), scraped and evaluated "
        f"every {interval:g} s, with Alertmanager's grouping timings scaled alike.",
        "",
        "The runtime runs the bundled agents with the settings `tests/e2e/live.py` explains: gunicorn threads "
        "above a low in-flight limit (so a saturated runtime still answers its scrape and a few more tasks "
        "saturate it), every breaker's open time scaled like the rules, the writer answering from one passage "
        "(a short prompt), model calls through the receiver's pass-through (which a drill can slow down), and "
        "a price for the local model "
        f"(${model['price_per_million_tokens']['input']:g} / ${model['price_per_million_tokens']['output']:g} per "
        "million input / output tokens) so its calls cost something to alert on.",
        "",
        "Each wave starts its faults together: through the runtime's admin API (`POST /v1/faults`), the OTLP "
        "sink, signals to processes (SIGKILL, SIGSTOP), the file system or Prometheus's configuration. The drill "
        "records when each alert went pending and firing in Prometheus and when the built-in receiver got it from "
        "Alertmanager (detection), then clears the faults and records when the resolution was delivered. Times are "
        f"wall-clock seconds at this scale; the ≈ figure multiplies by {scale} for the production equivalent. One "
        f"scrape, one or two evaluations and the group wait take {interval:g} s each here (a minute each, scaled; "
        "15 s, 15 s and 10 s in production), so detection here is one to three minutes later than production's.",
        "",
        "**Targets** (production minutes): a page within 10 minutes of a fault that breaks tasks, a tool-cache hit "
        "ratio collapsing to near zero within 15, every other ticket within 20. A ✗ marks a miss; the reasons "
        "follow each table.",
        "",
        "**Transitions** per alert series, counted from Prometheus's `ALERTS` at every evaluation of the wave "
        "(until the next wave starts): pending / firing / resolved, then the distinct firing / resolved episodes "
        "Alertmanager notified (by `startsAt`). `1/1/1; notified 1/1` is one clean episode. The tests fail when "
        "an expected alert fires, resolves or is notified more than once, or any other alert fires twice; a "
        "pending that cleared before its `for:` notified nobody and is shown as abandoned.",
        "",
        "The waves run in the order below. The first follows the healthy run, so its 1h burn-rate window holds "
        "an hour of healthy traffic (a later wave's would hold the previous wave's errors or extra traffic).",
        "",
        *([f"**Note**: {data['note']}", ""] if data.get("note") else []),
        f"**Healthy run**: {data['healthy']['seconds']:g} s of workload "
        f"(≈{data['healthy']['seconds'] * scale / 3600:g} hours scaled), no fault: alerts "
        f"fired {', '.join(data['healthy']['alerts_seen'])}{_near_misses(data['healthy'])}; "
        f"{data['healthy']['deliveries']} deliveries, all of them the Watchdog to the `watchdog` receiver.",
        "",
    ]
    long_run = data.get("long_healthy")
    if long_run:
        lines += [f"**Long healthy run** (`AGENT_RUNTIME_E2E_LONG=1`, measured {long_run['measured_at']}): "
                  f"{long_run['seconds']:g} s of workload (≈{long_run['seconds'] * scale / 3600:.0f} hours scaled), "
                  f"no fault: alerts fired {', '.join(long_run['alerts_seen'])}{_near_misses(long_run)}; "
                  f"{long_run['deliveries']} deliveries, all of them the Watchdog.", ""]  # fmt: skip
    else:
        lines += ["**Long healthy run**: not recorded (`AGENT_RUNTIME_E2E_LONG=1 AGENT_RUNTIME_E2E_RECORD=1 "
                  "pytest tests/e2e`).", ""]  # fmt: skip
    for scenario in data["scenarios"]:
        lines += [f"## {scenario['name']}", "", "Faults, started together: " + "; ".join(scenario["faults"]) + ".",
                  "", "| Family | Alert | Labels | Receiver | Target | Pending | Firing | Detected (delivered) | "
                  "Resolved (delivered after clear) | Transitions |",
                  "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
        misses = []
        for alert in (a for a in data["alerts"] if a["scenario"] == scenario["name"]):
            target, why = _target(alert, scale)
            if why:
                misses.append(f"- {alert['alert']} ({_labels(alert)}): {why}.")
            lines.append(
                f"| {alert['family']} | {alert['alert']} | {_labels(alert)} | "
                f"{', '.join(alert['delivered_to']) or '—'} | {target} | "
                f"{_seconds(alert['pending_after_seconds'], scale)} | {_seconds(alert['firing_after_seconds'], scale)} "
                f"| {_seconds(alert['detected_after_seconds'], scale)} | "
                f"{_seconds(alert['resolved_after_clear_seconds'], scale)} | {_transitions(alert['transitions'])} |"
            )
        lines.append("")
        if misses:
            lines += ["Above target or without one:", "", *misses, ""]
        others = scenario.get("other_alerts") or {}
        if others:
            lines += ["Other alerts the faults raised (side effects the drill does not expect; none may fire "
                      "twice):", "", "| Alert | Labels | Transitions |", "|---|---|---|"]  # fmt: skip
            for key, counts in others.items():
                labels = dict(part.split("=", 1) for part in key.split(","))
                name = labels.pop("alertname", "?")
                shown = ", ".join(f"{k}={v}" for k, v in labels.items() if k not in ("job", "severity")) or "—"
                lines.append(f"| {name} | {shown} | {_transitions(counts)} |")
            lines.append("")
        cache = scenario.get("model_cache") or {}
        if cache.get("hit") or cache.get("miss"):
            lines += [f"Model cache look-ups during the faults: {cache.get('hit', 0)} hits, "
                      f"{cache.get('miss', 0)} misses.", ""]  # fmt: skip
        for name, traffic in (scenario.get("traffic") or {}).items():
            agents = ", ".join(f"{agent} {count}" for agent, count in traffic["agents"].items()) or "none"
            outcomes = ", ".join(f"{o} {n}" for o, n in traffic["outcomes"].items()) or "none"
            lines += [f"Traffic `{name}`: {traffic['completed']} of {traffic['sent']} tasks answered; routed to "
                      f"{agents}; outcomes {outcomes}.", ""]  # fmt: skip
    lines += ["## What the drill found", "", *FINDINGS, ""]
    lines += ["## Not faulted here", "", "| Alert | Rules | Why |", "|---|---|---|"]
    lines += [f"| {n['alert']} | {n['rules'] or '—'} | {n['why']} |" for n in data["not_drilled"]]
    drill = data.get("drill_seconds")
    lines += ["", f"The drill took {drill:g} s of wall time." if drill else "",
              "Re-run: `AGENT_RUNTIME_E2E_RECORD=1 pytest tests/e2e` (about five minutes on two cores).",
              ""]  # fmt: skip
    return "\n".join(lines)


def main(root: Path | None = None) -> int:
    """Render the doc from the committed results (of the checkout holding this file by default)."""
    root = root or Path(__file__).resolve().parents[2]
    data = json.loads((root / RESULTS).read_text())
    (root / DOC).write_text(render(data))
    print(f"wrote {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
