"""Human-readable text for task results, tables and nested figures.

Example::

    >>> print(table(["tool", "state"], [["promql_query", "open"], ["knowledge_search", "closed"]]))
    tool              state
    promql_query      open
    knowledge_search  closed
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from agent_runtime.errors import shorten
from agent_runtime.vocabulary import ToolOutcome

_MARKS: Final = {ToolOutcome.SUCCESS: "✓", ToolOutcome.FALLBACK: "↺"}
MAX_OUTPUT_LINES: Final = 60
SNIPPET_CHARS: Final = 160


def columns(rows: Sequence[Sequence[object]]) -> list[str]:
    """Rows as left-aligned columns, two spaces apart, trailing spaces trimmed."""
    cells = [[str(c) for c in row] for row in rows]
    if not cells:
        return []
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A header line and rows, as aligned columns."""
    return "\n".join(columns([headers, *rows]))


def seconds(value: float | None) -> str:
    """A duration in the unit that reads best (µs, ms or s)."""
    if value is None:
        return "-"
    if value < 0.001:
        return f"{value * 1e6:.0f} µs"
    if value < 1:
        return f"{value * 1e3:.1f} ms"
    return f"{value:.2f} s"


def figures(value: Any, indent: int = 0) -> str:
    """Nested mappings as indented ``key: value`` lines (lists of scalars inline)."""
    pad = "  " * indent
    if not isinstance(value, Mapping):
        return f"{pad}{value}"
    lines = []
    for key, item in value.items():
        if isinstance(item, Mapping):
            lines.append(f"{pad}{key}:")
            lines.append(figures(item, indent + 1))
        elif isinstance(item, list):
            lines.append(f"{pad}{key}: {', '.join(str(i) for i in item) or '-'}")
        else:
            lines.append(f"{pad}{key}: {item}")
    return "\n".join(lines)


def _is_hits(value: Any) -> bool:
    """True for a list of search hits (objects with a path and a heading)."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(hit, Mapping) and "path" in hit and "heading" in hit for hit in value)
    )


def _one_line(text: str, limit: int = SNIPPET_CHARS) -> str:
    return shorten(text.replace("**", ""), limit, squash_whitespace=True)


def output_lines(output: Any) -> list[str]:
    """An output for reading: search hits as ranked lines, answers as text, the rest as JSON."""
    if isinstance(output, str):
        return output.splitlines() or [""]
    if _is_hits(output):
        lines = []
        for rank, hit in enumerate(output, start=1):
            lines.append(f"{rank}. {hit['path']} — {hit['heading']}")
            lines.append(f"   {_one_line(str(hit.get('snippet') or hit.get('text') or ''))}")
        return lines
    if isinstance(output, Mapping) and "resultType" in output and isinstance(output.get("result"), list):
        return _promql_lines(output)
    if isinstance(output, Mapping):
        for key in ("answer", "summary"):
            if isinstance(output.get(key), str):
                return output[key].splitlines() or [""]
        if output and all(_is_hits(v) or isinstance(v, Mapping | str) for v in output.values()):
            # Several sink steps: one titled block each.
            lines = []
            for step, value in output.items():
                lines.append(f"[{step}]")
                lines.extend("  " + line for line in output_lines(value))
            return lines
    return json.dumps(output, indent=2, ensure_ascii=False, default=str).splitlines()


def _promql_lines(result: Mapping[str, Any]) -> list[str]:
    """A compact Prometheus result as one ``name{labels} value`` line per series."""
    lines = []
    for series in result["result"]:
        labels = dict(series.get("metric") or {})
        name = labels.pop("__name__", "")
        selector = name + "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
        value = series["value"] if "value" in series else f"{len(series.get('values', []))} samples"
        lines.append(f"{selector} {value}")
    if result.get("truncated"):
        lines.append(f"… {result.get('series')} series in all (use --json)")
    return lines or [f"no {result['resultType']} data"]


def _output_text(output: Any) -> str:
    lines = output_lines(output)
    if len(lines) > MAX_OUTPUT_LINES:
        # Long outputs are cut for reading; --json prints everything.
        lines = [*lines[:MAX_OUTPUT_LINES], f"… {len(lines) - MAX_OUTPUT_LINES} more lines (use --json)"]
    return "\n".join("  " + line for line in lines)


def _turn_row(turn: Mapping[str, Any]) -> list[object]:
    """One model turn: its index, tokens, time and what the model chose."""
    chosen = []
    for action in turn.get("actions") or []:
        if action.get("type") == "tool_call":
            chosen.append(f"{action.get('tool')}({_one_line(json.dumps(action.get('arguments') or {}), 60)})")
        elif action.get("type") == "final":
            chosen.append(f"answer: {_one_line(str(action.get('answer', '')), 60)}")
        else:
            chosen.append(f"invalid {action.get('kind')}: {_one_line(str(action.get('error', '')), 60)}")
    cost = "cached" if turn.get("cache_layer") else f"{turn.get('input_tokens', 0)}→{turn.get('output_tokens', 0)} tok"
    return [
        f"#{turn.get('index')}",
        cost,
        seconds(turn.get("duration_seconds")),
        "; ".join(chosen) or f"error: {turn.get('error')}",
    ]


def task_result(result: Mapping[str, Any]) -> str:
    """A ``TaskResult.to_dict()`` for people: decision, each tool call, output."""
    decision = result.get("decision") or {}
    lines = [
        f"agent:       {result.get('agent') or '-'} (confidence {decision.get('confidence', 0):.2f}, "
        f"source {decision.get('source', '-')}{', gated' if decision.get('gated') else ''})",
        f"why:         {decision.get('explanation', '-')}",
        f"outcome:     {result.get('outcome')} in {seconds(result.get('duration_seconds'))}"
        + (f"  trace {result['trace_id']}" if result.get("trace_id") else ""),
    ]
    if result.get("kind") and result["kind"] != "plan":
        lines.append(f"kind:        {result['kind']}, stopped: {result.get('stop_reason') or '-'}")
    if result.get("error"):
        lines.append(f"error:       {result['error']}")
    turns = result.get("turns") or []
    if turns:
        lines.append("model turns:")
        lines.extend("  " + line for line in columns([_turn_row(turn) for turn in turns]))
    calls = result.get("tool_calls") or []
    if calls:
        lines.append("tool calls:")
        rows = [
            [
                _MARKS.get(call["outcome"], "✗"),
                call["step"] if call.get("turn") is None else f"turn {call['turn']}",
                call["tool"],
                call["outcome"],
                f"cache={call.get('cache_layer') or 'miss'}",
                f"attempts={call.get('attempts', 0)}",
                seconds(call.get("duration_seconds")),
                f"error: {call['error']}" if call.get("error") else "",
            ]
            for call in calls
        ]
        lines.extend("  " + line for line in columns(rows))
    lines.append("output:")
    lines.append(_output_text(result.get("output")) if result.get("output") is not None else "  (none)")
    return "\n".join(lines)
