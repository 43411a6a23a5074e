"""PromQL and Markdown inspection helpers shared by the observability tests."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import promql_parser

# Grafana variables replaced by concrete PromQL so a dashboard query parses and runs.
# The rate interval gets an odd value so a test can tell it from literal windows.
RATE_INTERVAL_STANDIN = "17s"
GRAFANA_VARIABLES = {
    "$__rate_interval": RATE_INTERVAL_STANDIN,
    "$__range": "1h",
    "$job": "agent-runtime",
    "$instance": ".*",
}


def grafana_to_promql(expr: str, variables: dict[str, str] = GRAFANA_VARIABLES) -> str:
    """``expr`` with Grafana's variables replaced (longest names first)."""
    for name in sorted(variables, key=len, reverse=True):
        expr = expr.replace(name, variables[name])
    return expr


def nodes(expr: str) -> list[Any]:
    """Every AST node of ``expr``, depth first."""
    found: list[Any] = []
    promql_parser.walk(promql_parser.parse(expr), pre_visit=found.append)
    return found


def selectors(expr: str) -> list[promql_parser.VectorSelector]:
    """The vector selectors of ``expr``."""
    return [n for n in nodes(expr) if isinstance(n, promql_parser.VectorSelector)]


def metric_names(expr: str) -> set[str]:
    """The metric names ``expr`` selects."""
    return {s.name for s in selectors(expr) if s.name}


def range_functions(expr: str) -> list[tuple[str, timedelta]]:
    """``(function, range)`` for every call whose argument is a range selector."""
    calls = [n for n in nodes(expr) if isinstance(n, promql_parser.Call)]
    return [(c.func.name, a.range) for c in calls for a in c.args if isinstance(a, promql_parser.MatrixSelector)]


def ranges(expr: str) -> list[timedelta]:
    """Every range selector and subquery range and step in ``expr``, in order."""
    found: list[timedelta] = []
    for node in nodes(expr):
        if isinstance(node, promql_parser.MatrixSelector):
            found.append(node.range)
        elif isinstance(node, promql_parser.SubqueryExpr):
            found += [d for d in (node.range, node.step) if d is not None]
    return found


def unparen(node: Any) -> Any:
    """``node`` without enclosing parentheses."""
    while isinstance(node, promql_parser.ParenExpr):
        node = node.expr
    return node


def _is_guard(node: Any) -> bool:
    """A constant, or a filter such as ``x > 0`` that drops the zero (not a ``bool`` comparison)."""
    node = unparen(node)
    if isinstance(node, promql_parser.NumberLiteral):
        return True
    return (
        isinstance(node, promql_parser.BinaryExpr)
        and str(node.op) in (">", ">=")
        and not (node.modifier is not None and node.modifier.return_bool)
        and isinstance(unparen(node.rhs), promql_parser.NumberLiteral)
    )


def unguarded_divisions(expr: str) -> list[str]:
    """Divisions whose divisor could be zero: neither a constant nor filtered with ``> n``."""
    return [
        str(node) for node in nodes(expr)
        if isinstance(node, promql_parser.BinaryExpr) and str(node.op) == "/" and not _is_guard(node.rhs)
    ]


def code_blocks(markdown: str, language: str) -> list[str]:
    """The fenced ``language`` blocks of ``markdown``, dedented."""
    pattern = re.compile(rf"^(?P<indent>[ ]*)```{language}\n(?P<body>.*?)^(?P=indent)```", re.S | re.M)
    blocks = []
    for match in pattern.finditer(markdown):
        indent = len(match["indent"])
        blocks.append("\n".join(line[indent:] for line in match["body"].splitlines()))
    return blocks


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every non-row panel, including those nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        if panel["type"] == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def load_json(text: str) -> dict[str, Any]:
    """Parse a dashboard."""
    data = json.loads(text)
    assert isinstance(data, dict)
    return data
