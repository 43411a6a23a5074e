"""docs/performance.md is generated from bench/results/*.json: the two must not drift apart."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parents[2]


def _report() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_report", REPO_ROOT / "bench" / "report.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_report", module)
    spec.loader.exec_module(module)
    return module


def test_the_committed_report_is_what_the_results_render() -> None:
    report = _report()
    rendered = report.render(report.load(REPO_ROOT / "bench" / "results"))
    committed = (REPO_ROOT / "docs" / "performance.md").read_text()
    assert committed == rendered, "docs/performance.md is out of date: run python bench/report.py (make bench does)"


def test_every_target_is_listed_with_a_verdict(tmp_path: Path) -> None:
    report = _report()
    text = report.render({})
    for target in report.TARGETS:
        assert target.name in text
    assert "not measured" in text


def test_a_missed_target_brings_its_profile(tmp_path: Path) -> None:
    report = _report()
    data = {
        "breaker": {"overhead": {"ours_over_circuitbreaker": 1.5}},
        "http": {
            "ours_over_bare_throughput": 0.5,
            "in_process_us": {"profile": [{"function": "handle (agent_runtime/runtime.py:1)", "share": 0.4}]},
        },
    }
    (tmp_path / "http.json").write_text(json.dumps(data["http"]))
    (tmp_path / "breaker.json").write_text(json.dumps(data["breaker"]))
    text = report.render(report.load(tmp_path))
    assert "**missed**" in text
    assert "Where the time goes" in text
    assert "`handle (agent_runtime/runtime.py:1)` | 40.0%" in text


def test_the_routing_section_says_what_first_seen_texts_cost(tmp_path: Path) -> None:
    report = _report()
    split = {"share": 0.155, "ours_first_us": 50.0, "ours_repeat_us": 2.0, "reference_first_us": 60.0,
             "reference_repeat_us": 3.0, "ratio_if_our_repeats_were_free": 1.43}  # fmt: skip
    (tmp_path / "routing.json").write_text(json.dumps({"results": [{"agents": 10, "first_seen": split}]}))
    text = report.render(report.load(tmp_path))
    assert "15.5% of its tasks bring a text seen for the first time" in text
    assert "Ours spends 50.00 us on such a task" in text
    assert "hold the ratio to 1.43x" in text
    # Results from before the split: no paragraph with missing figures.
    (tmp_path / "routing.json").write_text(json.dumps({"results": [{"agents": 10}]}))
    assert "seen for the first time" not in report.render(report.load(tmp_path))


def test_the_routing_section_says_what_live_outcomes_do_to_the_decision_cache(tmp_path: Path) -> None:
    report = _report()
    live = {"agents": 10, "tasks_per_second": 20.0,
            "ours": {"hit_rate": 0.79, "us_per_task": 27.0, "epoch_changes": 98, "exact_hits_checked": 10254,
                     "exact_hit_agreement_rate": 1.0},
            "drop_all_on_epoch": {"hit_rate": 0.64, "us_per_task": 32.5}}  # fmt: skip
    (tmp_path / "routing.json").write_text(json.dumps({"results": [{"agents": 10}], "live_experience": live}))
    text = report.render(report.load(tmp_path))
    assert "the experience epoch moved 98 times" in text
    assert "hit 79.0% of tasks, against 64.0% when every epoch empties it" in text
    assert "Exact hits agree 100.0%" in text
    (tmp_path / "routing.json").write_text(json.dumps({"results": [{"agents": 10}]}))
    assert "experience epoch moved" not in report.render(report.load(tmp_path))


def test_the_routing_section_says_what_agent_count_does_to_the_decision_cache(tmp_path: Path) -> None:
    report = _report()
    cache = {"entries": 641, "max_entries": 4096, "held_bytes": 3141823, "max_bytes": 3145728,
             "stability_margin": 0.08, "similar_hit_rate": 0.0}  # fmt: skip
    row = {"agents": 160, "distinct_texts": 3103, "sources": {"scored": 4207}, "decision_cache": cache,
           "without_stability_margin": {"similar_hit_rate": 0.3113, "paraphrase_agreement_rate": 0.9955}}  # fmt: skip
    (tmp_path / "routing.json").write_text(json.dumps({"results": [row]}))
    text = report.render(report.load(tmp_path))
    assert "at most 4096 entries and about 3.00 MiB (`routing.decision_cache_max_bytes`)" in text
    assert "stability margin (0.08)" in text
    assert "160 agents: 641 decisions kept in 3.00 MiB (4207 scorings for 3103 distinct texts)" in text
    assert "paraphrase hits on 0.0% of tasks (31.1% without the margin, agreeing 99.6%)" in text
    (tmp_path / "routing.json").write_text(json.dumps({"results": [{"agents": 10}]}))
    assert "decisions kept" not in report.render(report.load(tmp_path))


def test_the_telemetry_section_carries_the_scrape_table(tmp_path: Path) -> None:
    report = _report()
    one = {"series": 1291, "exemplars": 0, "bytes": 112461, "median_ms": 9.18, "p95_ms": 14.7}
    merged = {**one, "series": 1004, "worker_slots": 8, "files": 40, "ratio_vs_one_process": 3.11}
    scrape = {"agents": 4, "tools": 8, "text": one, "openmetrics": one, "multiprocess_text": merged,
              "multiprocess_openmetrics": merged,
              "observe_with_exemplar": {"one_process_ns": 1659, "multiprocess_stock_ns": 2248,
                                        "multiprocess_slot_with_exemplars_ns": 2219}}  # fmt: skip
    telemetry = {"per_task": {"modes": {"off": {"mean_us": 1.0, "p50_us": 1.0, "ratio_vs_off": 1.0}}}, "scrape": scrape}
    (tmp_path / "telemetry.json").write_text(json.dumps(telemetry))
    text = report.render(report.load(tmp_path))
    assert "| text, merged from 8 slots (40 files) | 1,004 | 0 | 112,461 | 9.2 | 14.7 | **3.11** |" in text
    assert "2.22 us in a worker slot that keeps the exemplar" in text


def test_the_http_section_gives_the_spread_of_its_rounds(tmp_path: Path) -> None:
    report = _report()
    http = {"rounds": 3, "ours_over_bare_throughput": 0.68, "round_ratios": [0.66, 0.68, 0.71]}
    (tmp_path / "http.json").write_text(json.dumps(http))
    assert "run back to back; rounds from 0.66x to 0.71x)" in report.render(report.load(tmp_path))
    (tmp_path / "http.json").write_text(json.dumps({"rounds": 3, "ours_over_bare_throughput": 0.68}))
    assert "rounds from" not in report.render(report.load(tmp_path))
