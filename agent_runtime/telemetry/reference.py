"""Render the metrics reference (``docs/metrics.md``) from the catalog.

Run ``python -m agent_runtime.telemetry.reference > docs/metrics.md``; a test
fails when the committed page drifts from the catalog.
"""

from __future__ import annotations

from agent_runtime.telemetry import catalog
from agent_runtime.telemetry.catalog import CATALOG, MetricType

_ENUMS = catalog.ENUM_LABELS


def render_markdown() -> str:
    """The metrics reference page as Markdown."""
    lines = [
        "# Metrics reference",
        "",
        "Generated from `agent_runtime/telemetry/catalog.py` by",
        "`python -m agent_runtime.telemetry.reference > docs/metrics.md`; do not edit by hand.",
        "",
        "| metric | type | labels | help |",
        "|---|---|---|---|",
    ]
    for spec in CATALOG.values():
        labels = ", ".join(f"`{label}`" for label in spec.labels) or "-"
        lines.append(f"| `{spec.name}` | {spec.type.value} | {labels} | {spec.help} |")
    lines += [
        "",
        "## Label values",
        "",
        "`agent`, `tool` and `breaker` take the configured agent and tool names (plus `none` for tasks",
        "rejected before routing); every other label takes a fixed set. Anything else is folded to",
        f"`{catalog.OTHER}` and counted in `agent_runtime_telemetry_labels_folded_total{{label}}`.",
        "",
        "| label | values |",
        "|---|---|",
    ]
    lines += [f"| `{name}` | {', '.join(f'`{v}`' for v in values)} |" for name, values in _ENUMS.items()]
    lines += ["", "## Histogram buckets", ""]
    for spec in CATALOG.values():
        if spec.type is MetricType.HISTOGRAM:
            lines.append(f"- `{spec.name}`: {', '.join(f'{b:g}' for b in spec.buckets)}")
    lines += [
        "",
        f"The task latency SLO threshold ({catalog.TASK_LATENCY_SLO_SECONDS:g} s) and the tool latency target",
        f"({catalog.TOOL_LATENCY_TARGET_SECONDS:g} s) sit exactly on a bucket boundary.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_markdown(), end="")
