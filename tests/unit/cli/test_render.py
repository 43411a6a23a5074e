"""Text rendering of task results, tables and figures."""

from __future__ import annotations

from typing import Any

from agent_runtime.cli import render


def test_seconds_picks_a_readable_unit() -> None:
    assert [render.seconds(v) for v in (None, 0.0000042, 0.0123, 2.5)] == ["-", "4 µs", "12.3 ms", "2.50 s"]


def test_table_aligns_columns() -> None:
    assert render.table(["a", "bb"], [["xxx", 1], ["y", 22]]).splitlines() == ["a    bb", "xxx  1", "y    22"]


def test_figures_indent_nested_mappings() -> None:
    text = render.figures({"l0": {"hits": 3, "tags": ["a", "b"]}, "entries": 7})
    assert text.splitlines() == ["l0:", "  hits: 3", "  tags: a, b", "entries: 7"]


def result(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "agent": "diagnostics",
        "outcome": "success",
        "decision": {"confidence": 0.8, "source": "scored", "explanation": "domain x", "gated": True},
        "tool_calls": [
            {
                "step": "a",
                "tool": "t1",
                "outcome": "fallback",
                "cache_layer": "l0",
                "attempts": 2,
                "duration_seconds": 0.5,
                "error": None,
            },
            {
                "step": "b",
                "tool": "t2",
                "outcome": "timeout",
                "cache_layer": None,
                "attempts": 1,
                "duration_seconds": 3.0,
                "error": "took too long",
            },
        ],
        "duration_seconds": 3.2,
        "trace_id": "abc",
        "output": "done",
        "error": None,
    }
    return {**base, **overrides}


def test_task_result_lines() -> None:
    lines = render.task_result(result()).splitlines()
    assert lines[0] == "agent:       diagnostics (confidence 0.80, source scored, gated)"
    assert lines[2] == "outcome:     success in 3.20 s  trace abc"
    assert lines[4].split() == ["↺", "a", "t1", "fallback", "cache=l0", "attempts=2", "500.0", "ms"]
    assert lines[5].split()[:4] == ["✗", "b", "t2", "timeout"]
    assert lines[5].endswith("error: took too long")
    assert lines[-2:] == ["output:", "  done"]


def test_long_outputs_are_cut_with_a_pointer_to_json() -> None:
    lines = render.task_result(result(output=[f"line {i}" for i in range(200)])).splitlines()
    assert lines[-1].strip().startswith("…") and "use --json" in lines[-1]
    assert len(lines) < 80


HITS = [
    {"path": "runbooks/A.md", "heading": "A > Meaning", "snippet": "The **cache** hit ratio fell.", "text": "x"},
    {"path": "docs/b.md", "heading": "B", "text": "word " * 100},
]
VECTOR = {
    "resultType": "vector",
    "series": 1,
    "truncated": False,
    "result": [{"metric": {"__name__": "ALERTS", "alertname": "Watchdog", "alertstate": "firing"}, "value": 1.0}],
}


def test_search_hits_render_as_ranked_lines() -> None:
    lines = render.output_lines(HITS)
    assert lines[:3] == ["1. runbooks/A.md — A > Meaning", "   The cache hit ratio fell.", "2. docs/b.md — B"]
    assert lines[3].endswith("…") and len(lines[3]) < 170


def test_prometheus_results_render_as_series_lines() -> None:
    assert render.output_lines(VECTOR) == ['ALERTS{alertname="Watchdog", alertstate="firing"} 1.0']
    assert render.output_lines({"resultType": "matrix", "result": []}) == ["no matrix data"]
    truncated = {**VECTOR, "series": 500, "truncated": True}
    assert render.output_lines(truncated)[-1] == "… 500 series in all (use --json)"


def test_answers_and_summaries_render_as_text() -> None:
    assert render.output_lines({"answer": "Flush, then warm.", "method": "llm"}) == ["Flush, then warm."]
    assert render.output_lines({"summary": "It dropped.", "sentences": ["It dropped."]}) == ["It dropped."]


def test_several_sink_steps_render_as_titled_blocks() -> None:
    lines = render.output_lines({"alerts": VECTOR, "runbooks": HITS[:1]})
    assert lines == [
        "[alerts]",
        '  ALERTS{alertname="Watchdog", alertstate="firing"} 1.0',
        "[runbooks]",
        "  1. runbooks/A.md — A > Meaning",
        "     The cache hit ratio fell.",
    ]


def test_other_values_render_as_json() -> None:
    assert render.output_lines({"p95_seconds": 0.42}) == ["{", '  "p95_seconds": 0.42', "}"]
