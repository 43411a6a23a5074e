"""Routing-quality and telemetry-pipeline alerts.

Routing alerts catch tasks going to the wrong agent (fallbacks, low
confidence) before users notice. Telemetry alerts catch the runtime losing
its own traces: tasks never block on telemetry, so dropping is silent
unless it is alerted on.
"""

from __future__ import annotations

from observability import alert_names
from observability.config import ObservabilityConfig
from observability.promql import le_value, number
from observability.rules.model import Alert, AlertRule, PanelRef, Runbook, Step
from observability.rules.recording import fallback_ratio, low_confidence_ratio, routing_rate
from observability.rules.templates import VALUE_FIXED2, VALUE_INTEGER, VALUE_PERCENT, label


def _pct(ratio: float) -> str:
    return f"{number(ratio * 100)}%"


def _routing_diagnosis(config: ObservabilityConfig) -> tuple[Step, ...]:
    sel = config.selector
    return (
        Step("Decisions by source and agent:",
             promql=f"sum by (source, agent) (rate(agent_runtime_routing_decisions_total{{{sel}}}[5m]))"),
        Step("Median confidence per agent:",
             promql=(f"histogram_quantile(0.5, sum by (agent, le) "
                     f"(rate(agent_runtime_routing_confidence_bucket{{{sel}}}[5m])))")),
        Step("The agents, their specialties and the routing thresholds now loaded:",
             shell="agent-runtime agents"),
        Step("Route one representative task and read the candidates and their explanations:",
             shell='agent-runtime run "compare the p95 latency of the search tool with yesterday"'),
    )


def _routing_mitigation() -> tuple[Step, ...]:
    return (
        Step("It started with an agent configuration change: restore the previous `AGENT_RUNTIME_CONFIG` "
             "file and restart:", shell="docker compose restart runtime"),
        Step("New kinds of task: add specialties (keywords, domains) for them to the right agent, "
             "validate the file and restart:",
             shell="agent-runtime agents && docker compose restart runtime"),
        Step("Agents penalised by recent failures (experience weighting): fix the failing tools first "
             f"({alert_names.TOOL_ERRORS_HIGH}); confidence recovers as the experience decays."),
    )


def fallbacks_high(config: ObservabilityConfig) -> Alert:
    """Too many routing decisions from the fallback chain."""
    routing = config.routing
    return Alert(
        name=alert_names.ROUTING_FALLBACKS_HIGH,
        summary="Too many tasks are routed by the fallback chain.",
        rules=(AlertRule(
            severity="warning",
            expr=(f"{fallback_ratio(config)} > {number(routing.fallback_ratio)}\n"
                  f"and on (job)\n{routing_rate(config)} > {number(routing.min_rate)}"),
            description=(f"{VALUE_PERCENT} of routing decisions on {label('job')} went to the fallback "
                         f"chain over the last {routing.window}."),
            for_=routing.fallback_for,
        ),),
        runbook=Runbook(
            meaning=(f"More than {_pct(routing.fallback_ratio)} of routing decisions went to the fallback chain "
                     f"over {routing.window} for {routing.fallback_for} (at least {number(routing.min_rate)} "
                     "decisions/s): no agent scored above the router's `min_confidence` for those tasks. "
                     "Decisions served again from the decision cache count too "
                     "(`agent_runtime_routing_fallbacks_total`), so a question asked over and over that no "
                     "specialist fits keeps the ratio up although its `source` label says `cache`."),
            impact=("Tasks go to a generic agent instead of a specialist: worse answers, and often "
                    "slower ones. Users notice quality before any error alert fires."),
            panels=(PanelRef("routing", "Fallback ratio"), PanelRef("routing", "Fallbacks by agent"),
                    PanelRef("routing", "Decisions by source")),
            diagnosis=(
                Step("Fallback decisions per second by the agent that got them (fresh and cached):",
                     promql=(f"sum by (agent) (rate(agent_runtime_routing_fallbacks_total"
                             f"{{{config.selector}}}[5m]))")),
                *_routing_diagnosis(config),
            ),
            mitigation=_routing_mitigation(),
        ),
    )


def confidence_low(config: ObservabilityConfig) -> Alert:
    """Too many routing decisions with low confidence."""
    routing = config.routing
    bound = number(routing.low_confidence_bound)
    return Alert(
        name=alert_names.ROUTING_CONFIDENCE_LOW,
        summary="Too many routing decisions have low confidence.",
        rules=(AlertRule(
            severity="warning",
            expr=(f"{low_confidence_ratio(config)} > {number(routing.low_confidence_ratio)}\n"
                  f"and on (job)\n{routing_rate(config)} > {number(routing.min_rate)}"),
            description=(f"{VALUE_PERCENT} of routing decisions on {label('job')} had a confidence of "
                         f"{bound} or less over the last {routing.window}."),
            for_=routing.low_confidence_for,
        ),),
        runbook=Runbook(
            meaning=(f"More than {_pct(routing.low_confidence_ratio)} of decisions had a confidence at or "
                     f"below {bound} (the `le=\"{le_value(routing.low_confidence_bound)}\"` bucket) over "
                     f"{routing.window} for {routing.low_confidence_for}: the configured agents do not match "
                     "the tasks arriving."),
            impact="Tasks are routed on weak evidence: more misroutes, more planning detours, worse answers.",
            panels=(PanelRef("routing", "Low-confidence decisions"), PanelRef("routing", "Confidence distribution")),
            diagnosis=_routing_diagnosis(config),
            mitigation=_routing_mitigation(),
        ),
    )


def _telemetry_diagnosis() -> tuple[Step, ...]:
    return (
        Step("Are the collector and the trace store running?",
             shell="docker compose ps otel-collector jaeger && docker compose logs --since 15m otel-collector"),
        Step("Is Prometheus still scraping the collector?", promql='up{job="otel-collector"}'),
        Step("Where the runtime sends spans:", shell="docker compose exec runtime env | grep '^OTEL_'"),
    )


def _telemetry_mitigation() -> tuple[Step, ...]:
    return (
        Step("Restart the collector (and the trace store if it is down):",
             shell="docker compose restart otel-collector jaeger"),
        Step("Sustained overload: sample less, e.g. 10% of new traces, and restart the runtime:",
             shell="OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=0.1 "
                   "docker compose up -d runtime"),
        Step("Bursty load: give the batch span processor a larger queue (`OTEL_BSP_MAX_QUEUE_SIZE`, "
             "default 2048) in the runtime's environment and restart it."),
    )


def spans_dropped(config: ObservabilityConfig) -> Alert:
    """The runtime drops spans."""
    plat, sel = config.platform, config.selector
    return Alert(
        name=alert_names.SPANS_DROPPED,
        summary="The runtime is dropping trace spans.",
        rules=(AlertRule(
            severity="warning",
            expr=(f"sum by (job, instance) (rate(agent_runtime_telemetry_spans_dropped_total{{{sel}}}"
                  f"[{plat.telemetry_window}])) > 0"),
            description=(f"{label('instance')} of job {label('job')} dropped {VALUE_FIXED2} spans/s over the "
                         f"last {plat.telemetry_window}."),
            for_=plat.telemetry_for,
        ),),
        runbook=Runbook(
            meaning=(f"Spans were dropped throughout {plat.telemetry_for}: the export queue was full or the "
                     "exporter failed. Tasks never wait for telemetry, so the runtime drops and counts "
                     "instead."),
            impact=("Traces are missing or incomplete; exemplar links on the latency panels lead nowhere. "
                    "Users are not affected."),
            panels=(PanelRef("overview", "Task latency quantiles"),),
            diagnosis=(
                Step("Drop rate per instance:",
                     promql=(f"sum by (instance) (rate(agent_runtime_telemetry_spans_dropped_total"
                             f"{{{sel}}}[5m]))")),
                Step("Export failures by signal:",
                     promql=(f"sum by (signal) (rate(agent_runtime_telemetry_export_failures_total"
                             f"{{{sel}}}[5m]))")),
                *_telemetry_diagnosis(),
            ),
            mitigation=_telemetry_mitigation(),
        ),
    )


def export_failing(config: ObservabilityConfig) -> Alert:
    """Telemetry exports keep failing."""
    plat, sel = config.platform, config.selector
    return Alert(
        name=alert_names.TELEMETRY_EXPORT_FAILING,
        summary="Telemetry exports from the runtime are failing.",
        rules=(AlertRule(
            severity="warning",
            expr=(f"sum by (job, instance, signal) (rate(agent_runtime_telemetry_export_failures_total"
                  f"{{{sel}}}[{plat.telemetry_window}])) > 0"),
            description=(f"{label('instance')} of job {label('job')} failed {VALUE_FIXED2} {label('signal')} "
                         f"exports/s over the last {plat.telemetry_window}."),
            for_=plat.telemetry_for,
        ),),
        runbook=Runbook(
            meaning=(f"Export attempts for the signal kept failing for {plat.telemetry_for}: the OTLP "
                     "endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`) is down, unreachable, or rejecting data."),
            impact="Telemetry of that signal is lost until exports succeed again. Users are not affected.",
            panels=(PanelRef("overview", "Task latency quantiles"),),
            diagnosis=(
                Step("Failures by instance and signal:",
                     promql=(f"sum by (instance, signal) (rate(agent_runtime_telemetry_export_failures_total"
                             f"{{{sel}}}[5m]))")),
                *_telemetry_diagnosis(),
                Step("Can the runtime reach the collector (its health endpoint)?",
                     shell="docker compose exec runtime python -c \"import urllib.request as u; "
                           "print(u.urlopen('http://otel-collector:13133/').status)\""),
            ),
            mitigation=_telemetry_mitigation(),
        ),
    )


def labels_folded(config: ObservabilityConfig) -> Alert:
    """The cardinality guard keeps folding unknown label values."""
    plat, sel = config.platform, config.selector
    return Alert(
        name=alert_names.LABEL_VALUES_FOLDED,
        summary="Unknown label values are being folded to other.",
        rules=(AlertRule(
            severity="info",
            expr=(f"sum by (job, label) (increase(agent_runtime_telemetry_labels_folded_total{{{sel}}}"
                  f"[{plat.folded_window}])) > 0"),
            description=(f"About {VALUE_INTEGER} values of label {label('label')} on {label('job')} were folded "
                         f'to "other" in the last {plat.folded_window}.'),
            for_=plat.folded_for,
        ),),
        runbook=Runbook(
            meaning=("The cardinality guard replaced label values it does not know (agents, tools or "
                     "breakers outside the loaded configuration) with `other`. That keeps series bounded, "
                     "but it means the runtime meets names its metric layer was not configured for."),
            impact="Per-agent or per-tool panels show an `other` series instead of the real name. No user impact.",
            panels=(PanelRef("overview", "Task errors by agent"),),
            diagnosis=(
                Step("Which label is folded, and how often:",
                     promql=(f"sum by (label) (increase(agent_runtime_telemetry_labels_folded_total"
                             f"{{{sel}}}[1h]))")),
                Step("Traffic recorded under `other`:",
                     promql=f'sum by (outcome) (rate(agent_runtime_tasks_total{{{sel},agent="other"}}[5m]))'),
                Step("The agents and tools the runtime has loaded:",
                     shell="agent-runtime agents && agent-runtime tools"),
            ),
            mitigation=(
                Step("Add the missing agent or tool to the `AGENT_RUNTIME_CONFIG` file (or correct a "
                     "misspelled name in a plan) and restart:", shell="docker compose restart runtime"),
            ),
        ),
    )
