"""Every alert name, spelled once.

The rules (``observability/rules/alerts_*.py``), their promtool scenarios,
the dashboards' runbook links and the runbook prose all import these
constants, so renaming an alert is a one-line change here (plus the
hand-written files that cannot import Python: ``alertmanager/alertmanager.yml``
names the Watchdog, and the docs list every alert; a unit test checks both).

Names are CamelCase with the shared ``AgentRuntime`` prefix (docs/observability.md).
"""

from __future__ import annotations

from typing import Final

PREFIX: Final = "AgentRuntime"

# Service level: scrape health, SLO burn, saturation, the dead man's switch.
DOWN: Final = "AgentRuntimeDown"
TARGET_MISSING: Final = "AgentRuntimeTargetMissing"
SATURATED: Final = "AgentRuntimeSaturated"
TASK_ERROR_BUDGET_BURN: Final = "AgentRuntimeTaskErrorBudgetBurn"
TASK_LATENCY_BUDGET_BURN: Final = "AgentRuntimeTaskLatencyBudgetBurn"
WATCHDOG: Final = "AgentRuntimeWatchdog"

# Components: stages, tools, caches, breakers.
STAGE_BOTTLENECK: Final = "AgentRuntimeStageBottleneck"
TOOL_LATENCY_HIGH: Final = "AgentRuntimeToolLatencyHigh"
TOOL_ERRORS_HIGH: Final = "AgentRuntimeToolErrorsHigh"
CACHE_HIT_RATE_DROP: Final = "AgentRuntimeCacheHitRateDrop"
CACHE_LAYER_DOWN: Final = "AgentRuntimeCacheLayerDown"
CIRCUIT_BREAKER_OPEN: Final = "AgentRuntimeCircuitBreakerOpen"

# LLM agents, model calls and the local model server.
MODEL_ERRORS_HIGH: Final = "AgentRuntimeModelErrorsHigh"
MODEL_LATENCY_HIGH: Final = "AgentRuntimeModelLatencyHigh"
MODEL_SERVER_DOWN: Final = "AgentRuntimeModelServerDown"
MODEL_SERVER_MISSING: Final = "AgentRuntimeModelServerMissing"
MODEL_SPEND_OVER_BUDGET: Final = "AgentRuntimeModelSpendOverBudget"
AGENT_STOPS_WITHOUT_ANSWER: Final = "AgentRuntimeAgentStopsWithoutAnswer"
AGENT_INVALID_ACTIONS_HIGH: Final = "AgentRuntimeAgentInvalidActionsHigh"
LLM_CACHE_HIT_RATE_DROP: Final = "AgentRuntimeLlmCacheHitRateDrop"

# Routing quality and the telemetry pipeline.
ROUTING_FALLBACKS_HIGH: Final = "AgentRuntimeRoutingFallbacksHigh"
ROUTING_CONFIDENCE_LOW: Final = "AgentRuntimeRoutingConfidenceLow"
SPANS_DROPPED: Final = "AgentRuntimeSpansDropped"
TELEMETRY_EXPORT_FAILING: Final = "AgentRuntimeTelemetryExportFailing"
LABEL_VALUES_FOLDED: Final = "AgentRuntimeLabelValuesFolded"
