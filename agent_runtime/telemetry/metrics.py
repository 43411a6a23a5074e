"""Prometheus metrics for the runtime, attached as a ``RuntimeListener``.

Collectors are built from the catalog once per registry; label children are
created up front for every known label value and cached, so the hot path is
a dict look-up and an ``inc``/``observe`` (never ``labels()`` per call).
Latency histograms carry the current trace id as an exemplar when the span is
sampled (visible when scraped as OpenMetrics).

Counter increments and histogram observations without an exemplar are
batched (``metric_batches``) and folded into the very same children, so a
scrape reads what one ``inc``/``observe`` per event would. An observation
with an exemplar (a sampled task) is counted with the batch, and its
exemplar set on its bucket at once. Gauges (tasks in flight, breaker state)
are set at once.

Example::

    >>> from prometheus_client import CollectorRegistry
    >>> registry = CollectorRegistry()
    >>> listener = PrometheusListener(LabelGuard(agents=("writer",)), registry=registry)
    >>> listener.task_finished("writer", "success", 0.2)
    >>> registry.get_sample_value("agent_runtime_tasks_total", {"agent": "writer", "outcome": "success"})
    1.0
"""

from __future__ import annotations

import threading
import weakref
from array import array
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, Final

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from agent_runtime._version import __version__
from agent_runtime.telemetry import catalog, tracing
from agent_runtime.telemetry.catalog import CATALOG, MetricSpec, MetricType
from agent_runtime.telemetry.labels import LabelGuard
from agent_runtime.telemetry.listener import ModelCall, RuntimeListener
from agent_runtime.telemetry.metric_batches import (
    BatchedCounter,
    BatchedHistogram,
    DirectHistogram,
    FlushBeforeCollect,
    Groups,
    batchable,
)
from agent_runtime.vocabulary import BreakerState, CacheLayer, CacheName, TaskOutcome, TokenType

_BREAKER_STATES = frozenset(catalog.BREAKER_STATES)
# Read per task: an Enum class attribute costs a descriptor call, a module constant does not.
_REJECTED: Final = TaskOutcome.REJECTED
_collectors_lock = threading.Lock()
# Weak keys: a registry's collectors go with it (ids of dead registries get reused).
_collectors: weakref.WeakKeyDictionary[CollectorRegistry, dict[str, MetricWrapperBase]] = (
    weakref.WeakKeyDictionary()
)


def collectors_for(registry: CollectorRegistry) -> dict[str, MetricWrapperBase]:
    """The runtime's collectors in ``registry``, created on first use.

    Shared by every listener on the same registry, so several runtimes in one
    process (tests, reloads) do not register duplicates.
    """
    with _collectors_lock:
        existing = _collectors.get(registry)
        if existing is None:
            registry.register(FlushBeforeCollect())
            existing = {spec.name: _build(spec, registry) for spec in CATALOG.values()}
            _collectors[registry] = existing
            build_info = existing["agent_runtime_build_info"]
            assert isinstance(build_info, Gauge)
            build_info.labels(version=__version__).set(1)
        return existing


def _build(spec: MetricSpec, registry: CollectorRegistry) -> MetricWrapperBase:
    kwargs: dict[str, Any] = {"labelnames": spec.labels, "registry": registry}
    if spec.type is MetricType.COUNTER:
        return Counter(spec.base_name, spec.help, **kwargs)
    if spec.type is MetricType.HISTOGRAM:
        return Histogram(spec.name, spec.help, buckets=spec.buckets, **kwargs)
    return Gauge(spec.name, spec.help, multiprocess_mode=spec.multiprocess_mode, **kwargs)


def _exemplar() -> dict[str, str] | None:
    """The current sampled span's trace id, as a Prometheus exemplar."""
    trace_id = tracing.sampled_trace_id()
    return {"trace_id": trace_id} if trace_id is not None else None


class _Children:
    """Cached label children of one metric, with unknown values folded once.

    ``related(values)`` names label sets to create (at zero) together with a
    new child, so a ratio's other side exists from its first event: a cache
    that only missed so far reads a 0% hit ratio, not no data.
    """

    def __init__(
        self,
        metric: MetricWrapperBase,
        labels: tuple[str, ...],
        fold: Callable[[str, str], str],
        known: Iterable[tuple[str, ...]],
        related: Callable[[tuple[str, ...]], Iterable[tuple[str, ...]]] | None = None,
    ) -> None:
        self._metric = metric
        self._labels = labels
        self._fold = fold
        self._related = related
        self._cache: dict[Hashable, Any] = {}
        for values in known:
            self._cache[values] = metric.labels(*values)

    def get(self, *values: str) -> Any:
        child = self._cache.get(values)
        if child is None:
            safe = tuple(self._fold(label, value) for label, value in zip(self._labels, values, strict=True))
            child = self._cache.get(safe)
            if child is None:
                child = self._create(safe)
                for sibling in self._related(safe) if self._related is not None else ():
                    if sibling not in self._cache:
                        self._create(sibling)
        return child

    def _create(self, safe: tuple[str, ...]) -> Any:
        child = self._wrap(self._metric.labels(*safe))
        # Only folded (bounded) tuples are remembered, never raw input.
        self._cache[safe] = child
        return child

    def _wrap(self, child: Any) -> Any:
        return child


class _Counters(_Children):
    """Counter children as one cheap call per event: a ``BatchedCounter``'s ``observe``.

    In one process every collection of the registry flushes first, so a
    scrape reads them exactly; a multiprocess value is read from its file by
    another process too, up to ``FLUSH_SECONDS`` late (see ``metric_batches``).
    A child without prometheus_client's private value object (another
    version's internals) gets its public ``inc``, unbatched.
    """

    def __init__(
        self,
        metric: MetricWrapperBase,
        labels: tuple[str, ...],
        fold: Callable[[str, str], str],
        known: Iterable[tuple[str, ...]],
        related: Callable[[tuple[str, ...]], Iterable[tuple[str, ...]]] | None = None,
    ) -> None:
        super().__init__(metric, labels, fold, (), related)
        for values in known:
            self._cache[values] = self._wrap(metric.labels(*values))

    def _wrap(self, child: Any) -> Any:
        # The child's value directly: the public ``inc`` adds two checks and two calls per event.
        value = getattr(child, "_value", None)
        if value is None or not hasattr(value, "inc"):
            return child.inc
        return BatchedCounter(value.inc).observe


class _Histograms(_Children):
    """Histogram children as ``BatchedHistogram``s (see ``metric_batches``)."""

    def __init__(
        self,
        metric: MetricWrapperBase,
        labels: tuple[str, ...],
        fold: Callable[[str, str], str],
        known: Iterable[tuple[str, ...]],
    ) -> None:
        super().__init__(metric, labels, fold, ())
        for values in known:
            self._cache[values] = self._wrap(metric.labels(*values))
        self._groups = Groups(self)

    def _wrap(self, child: Any) -> Any:
        return BatchedHistogram(child) if batchable(child) else DirectHistogram(child)

    def observe_many(self, observations: Iterable[tuple[str, float]]) -> None:
        """Observe each ``(label value, value)`` of a one-label metric, batched as one group."""
        self._groups.observe(tuple(observations))

    def fold(self, by_label: Mapping[str, array[float]]) -> None:
        """Fold each label value's observations into its child (``Groups``' flush)."""
        cache = self._cache
        for label, values in by_label.items():
            batch = cache.get((label,))
            if batch is not None:
                batch.fold(values)
                continue
            for value in values:  # folded (and the fold counted) per observation, as observe does
                self.get(label).fold(array("d", (value,)))

    def observe(self, value: float, exemplar: dict[str, str] | None, *labels: str) -> None:
        """Observe at once with an exemplar (it must reach the bucket now), batched without."""
        batch = self._cache.get(labels) or self.get(*labels)
        if exemplar is None:
            batch.observe(value)
        else:
            batch.observe_now(value, exemplar)


class PrometheusListener(RuntimeListener):
    """Turns runtime events into the catalog's Prometheus series."""

    def __init__(
        self,
        guard: LabelGuard,
        *,
        registry: CollectorRegistry = REGISTRY,
        in_flight_limit: int | None = None,
    ) -> None:
        self.guard = guard
        self.registry = registry
        metrics = collectors_for(registry)
        self._metrics = metrics
        folded = metrics["agent_runtime_telemetry_labels_folded_total"]
        fold_children: dict[str, Any] = {label: folded.labels(label) for label in guard.labels()}
        fold_other: Any = folded.labels(catalog.OTHER)

        def count_fold(label: str) -> None:
            fold_children.get(label, fold_other).inc()

        guard.set_on_fold(count_fold)
        agents = (*sorted(guard.allowed("agent")), catalog.OTHER)
        tools = (*sorted(guard.allowed("tool")), catalog.OTHER)
        # Folded once per event, so a fold is counted once even if two series use it.
        self._agents = frozenset(agents)
        self._tools = frozenset(tools)

        def children(name: str, known: Iterable[tuple[str, ...]]) -> _Children:
            return _Children(metrics[name], CATALOG[name].labels, guard.fold, known)

        def counters(
            name: str,
            known: Iterable[tuple[str, ...]],
            related: Callable[[tuple[str, ...]], Iterable[tuple[str, ...]]] | None = None,
        ) -> _Counters:
            return _Counters(metrics[name], CATALOG[name].labels, guard.fold, known, related)

        def histograms(name: str, known: Iterable[tuple[str, ...]]) -> _Histograms:
            return _Histograms(metrics[name], CATALOG[name].labels, guard.fold, known)

        self._tasks = counters(
            "agent_runtime_tasks_total", [(a, o) for a in agents for o in catalog.TASK_OUTCOMES]
        )
        self._task_seconds = histograms("agent_runtime_task_duration_seconds", [(a,) for a in agents])
        self._stages = histograms("agent_runtime_stage_duration_seconds", [(s,) for s in catalog.STAGES])
        self._decisions = counters(
            "agent_runtime_routing_decisions_total",
            [(a, s) for a in agents for s in catalog.ROUTING_SOURCES],
        )
        self._confidence = histograms("agent_runtime_routing_confidence", [(a,) for a in agents])
        self._fallbacks = counters("agent_runtime_routing_fallbacks_total", [(a,) for a in agents])
        self._tool_calls = counters(
            "agent_runtime_tool_calls_total", [(t, o) for t in tools for o in catalog.TOOL_OUTCOMES]
        )
        self._tool_seconds = histograms("agent_runtime_tool_duration_seconds", [(t,) for t in tools])
        self._retries = counters("agent_runtime_tool_retries_total", [(t,) for t in tools])
        self._cache_requests = counters(
            "agent_runtime_cache_requests_total",
            [
                (CacheName.TOOL, layer, result)
                for layer in (CacheLayer.L0, CacheLayer.L1, CacheLayer.L2)
                for result in catalog.CACHE_RESULTS
            ]
            + [
                (cache, layer, result)
                for cache in (CacheName.DECISION, CacheName.ANALYSIS)
                for layer in (CacheLayer.EXACT, CacheLayer.SIMILAR)
                for result in catalog.CACHE_RESULTS
            ],
            # A cache and layer first seen (the model's, when one is configured) gets hit and miss at once.
            lambda values: [(*values[:2], result) for result in catalog.CACHE_RESULTS],
        )
        self._saved = counters("agent_runtime_cache_saved_seconds_total", [(c,) for c in catalog.CACHE_NAMES])
        self._saved_dollars = counters("agent_runtime_cache_saved_dollars_total", [(c,) for c in catalog.CACHE_NAMES])
        self._agent_info = metrics["agent_runtime_agent_info"]
        self._model_calls = histograms("agent_runtime_agent_model_calls", [(a,) for a in agents])
        self._agent_tool_calls = histograms("agent_runtime_agent_tool_calls", [(a,) for a in agents])
        self._stops = counters(
            "agent_runtime_agent_stops_total", [(a, r) for a in agents for r in catalog.STOP_REASONS]
        )
        self._invalid_actions = children(
            "agent_runtime_agent_invalid_actions_total",
            [(a, k) for a in agents for k in catalog.INVALID_ACTIONS],
        )
        self._llm_cost = children("agent_runtime_llm_cost_dollars_total", ())
        # No children up front: a layer that is not configured must not read as down.
        self._layer_up = children("agent_runtime_cache_layer_up", ())
        self._breaker_state = children("agent_runtime_circuit_breaker_state", [(t,) for t in tools[:-1]])
        self._transitions = children(
            "agent_runtime_circuit_breaker_transitions_total",
            [(t, s) for t in tools[:-1] for s in catalog.BREAKER_STATES],
        )
        in_flight: Any = metrics["agent_runtime_tasks_in_flight"]
        in_flight_value = getattr(in_flight, "_value", None)
        self._in_flight_inc: Callable[[float], None] = (
            in_flight_value.inc if in_flight_value is not None and hasattr(in_flight_value, "inc") else in_flight.inc
        )
        if in_flight_limit is not None:
            limit = metrics["agent_runtime_tasks_in_flight_limit"]
            assert isinstance(limit, Gauge)
            limit.set(in_flight_limit)
        for tool in tools[:-1]:
            self._breaker_state.get(tool).set(0)
        self._genai_seconds = children("gen_ai_client_operation_duration_seconds", ())
        self._genai_tokens = children("gen_ai_client_token_usage", ())
        self._spans_dropped = metrics["agent_runtime_telemetry_spans_dropped_total"]
        self._export_failures = children(
            "agent_runtime_telemetry_export_failures_total", [(s,) for s in catalog.TELEMETRY_SIGNALS]
        )

    @property
    def collectors(self) -> Mapping[str, MetricWrapperBase]:
        """The collectors by exposed name (for exporters that need them)."""
        return self._metrics

    def task_started(self) -> None:
        self._in_flight_inc(1)

    def task_finished(self, agent: str, outcome: str, seconds: float) -> None:
        self._in_flight_inc(-1)
        if agent not in self._agents:
            agent = self.guard.agent(agent)
        self._tasks.get(agent, outcome)(1)
        if outcome != _REJECTED:
            # A rejected task was never handled; its near-zero time would flatter the latency SLO under overload.
            self._task_seconds.observe(seconds, _exemplar(), agent)

    def stage_timed(self, stage: str, seconds: float) -> None:
        self._stages.get(stage).observe(seconds)

    def stages_timed(self, timings: Iterable[tuple[str, float]]) -> None:
        self._stages.observe_many(timings)

    def routing_decided(self, agent: str, source: str, confidence: float, fallback: bool = False) -> None:
        if agent not in self._agents:
            agent = self.guard.agent(agent)
        self._decisions.get(agent, source)(1)
        if fallback:
            self._fallbacks.get(agent)(1)
        self._confidence.get(agent).observe(confidence)

    def tool_called(self, tool: str, outcome: str, seconds: float) -> None:
        if tool not in self._tools:
            tool = self.guard.tool(tool)
        self._tool_calls.get(tool, outcome)(1)
        self._tool_seconds.observe(seconds, _exemplar(), tool)

    def tool_retried(self, tool: str) -> None:
        self._retries.get(tool)(1)

    def cache_looked_up(self, cache: str, layer: str, hit: bool) -> None:
        self._cache_requests.get(cache, layer, "hit" if hit else "miss")(1)

    def cache_saved(self, cache: str, seconds: float, dollars: float = 0.0) -> None:
        if seconds > 0:
            self._saved.get(cache)(seconds)
        if dollars > 0:
            self._saved_dollars.get(cache)(dollars)

    def breaker_changed(self, breaker: str, state: str) -> None:
        value = BreakerState(state).gauge_value if state in _BREAKER_STATES else 0.0
        self._breaker_state.get(breaker).set(value)
        self._transitions.get(breaker, state).inc()

    def agents_configured(self, kinds: Mapping[str, str]) -> None:
        for agent, kind in kinds.items():
            self._agent_info.labels(self.guard.agent(agent), self.guard.fold("kind", kind)).set(1)  # type: ignore[attr-defined]

    def agent_finished(self, agent: str, kind: str, reason: str, model_calls: int, tool_calls: int) -> None:
        if agent not in self._agents:
            agent = self.guard.agent(agent)
        self._stops.get(agent, reason)(1)
        self._model_calls.get(agent).observe(model_calls)
        self._agent_tool_calls.get(agent).observe(tool_calls)

    def invalid_action(self, agent: str, kind: str) -> None:
        if agent not in self._agents:
            agent = self.guard.agent(agent)
        self._invalid_actions.get(agent, kind).inc()

    def cache_layer_changed(self, cache: str, layer: str, up: bool) -> None:
        self._layer_up.get(cache, layer).set(1.0 if up else 0.0)

    def llm_called(self, call: ModelCall) -> None:
        operation, provider, model = call.operation, call.provider, call.model
        self._genai_seconds.get(operation, provider, model, call.error_type).observe(call.seconds, _exemplar())
        for token_type, tokens, cost in (
            (TokenType.INPUT, call.input_tokens, call.input_cost),
            (TokenType.OUTPUT, call.output_tokens, call.output_cost),
        ):
            if tokens:
                self._genai_tokens.get(operation, provider, model, token_type).observe(tokens)
            if cost > 0:
                self._llm_cost.get(model, token_type).inc(cost)

    def spans_dropped(self, count: int) -> None:
        """Count spans the exporter dropped (called by exporters/)."""
        if count > 0:
            self._spans_dropped.inc(count)  # type: ignore[attr-defined]

    def export_failed(self, signal: str) -> None:
        """Count one failed export attempt for ``signal`` (traces, metrics)."""
        self._export_failures.get(signal).inc()
