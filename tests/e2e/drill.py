"""The fault drill: a healthy run, then fault waves, each alert timed from fault to webhook and back.

Each ``Scenario`` starts its faults together, waits until every expected
alert has been delivered by Alertmanager (watching Prometheus for pending
and firing on the way), clears its faults and waits until each expected
alert's resolution has been delivered. Scenarios in one wave fault distinct
tools, labels or components, so their alerts are told apart by labels; the
waves run one after another. Times are wall-clock seconds at the e2e time
scale (multiply by it for the production equivalent).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from agent_runtime.ops.loadgen import LoadGenerator, Workload
from tests.e2e.live import LiveStack

WATCHDOG = "AgentRuntimeWatchdog"
HEALTHY_SECONDS = 60.0
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Expect:
    """An alert a fault must raise: its name, identifying labels and the receiver it must reach."""

    family: str
    alert: str
    labels: Mapping[str, str]
    receiver: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        return labels.get("alertname") == self.alert and all(labels.get(k) == v for k, v in self.labels.items())


@dataclass(frozen=True)
class Fault:
    """One fault of a scenario: what it is (for the doc), how to start and stop it."""

    description: str
    start: Callable[[LiveStack], Callable[[], None]]


@dataclass(frozen=True)
class Scenario:
    name: str
    faults: tuple[Fault, ...]
    expects: tuple[Expect, ...]
    detect_timeout: float = 150.0
    resolve_timeout: float = 120.0


@dataclass
class Observation:
    """What happened to one expected alert, in seconds since its fault started (or was cleared)."""

    scenario: str
    fault: str
    expect: Expect
    started: float = 0.0
    cleared: float | None = None
    pending_at: float | None = None
    firing_at: float | None = None
    delivered_at: float | None = None
    inactive_at: float | None = None
    resolved_at: float | None = None
    receivers: set[str] = field(default_factory=set)
    firing_alert: dict[str, Any] | None = None
    resolved_alert: dict[str, Any] | None = None

    def since_start(self, moment: float | None) -> float | None:
        return None if moment is None else round(moment - self.started, 1)

    def since_clear(self, moment: float | None) -> float | None:
        return None if moment is None or self.cleared is None else round(moment - self.cleared, 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "fault": self.fault,
            "family": self.expect.family,
            "alert": self.expect.alert,
            "labels": dict(self.expect.labels),
            "receiver": self.expect.receiver,
            "delivered_to": sorted(self.receivers),
            "pending_after_seconds": self.since_start(self.pending_at),
            "firing_after_seconds": self.since_start(self.firing_at),
            "detected_after_seconds": self.since_start(self.delivered_at),
            "inactive_after_clear_seconds": self.since_clear(self.inactive_at),
            "resolved_after_clear_seconds": self.since_clear(self.resolved_at),
        }


@dataclass
class DrillResult:
    healthy_seconds: float = 0.0
    healthy_alerts: set[str] = field(default_factory=set)
    healthy_deliveries: list[dict[str, Any]] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)

    def observation(self, alert: str, **labels: str) -> Observation:
        for obs in self.observations:
            if obs.expect.alert == alert and dict(obs.expect.labels) == labels:
                return obs
        raise KeyError(f"{alert} {labels} was not drilled")


def _inject(body: dict[str, Any]) -> Callable[[LiveStack], Callable[[], None]]:
    def start(live: LiveStack) -> Callable[[], None]:
        fault_id = live.inject(body)
        return lambda: live.clear(fault_id)

    return start


def _otlp_down(live: LiveStack) -> Callable[[], None]:
    live.set_otlp_status(503)
    return lambda: live.set_otlp_status(200)


def _extra_traffic(mix: dict[str, float], rate: float) -> Callable[[LiveStack], Callable[[], None]]:
    def start(live: LiveStack) -> Callable[[], None]:
        stop = threading.Event()
        generator = LoadGenerator(live.info.runtime_url, Workload(mix, seed=7), rate=rate, duration_seconds=600,
                                  concurrency=32, timeout_seconds=30, stop=stop)  # fmt: skip
        thread = threading.Thread(target=generator.run, name="extra-load", daemon=True)
        thread.start()

        def stop_traffic() -> None:
            stop.set()
            thread.join(timeout=35)

        return stop_traffic

    return start


def _freeze_runtime(live: LiveStack) -> Callable[[], None]:
    runtime = live.stack.child("runtime")
    runtime.signal_group(signal.SIGSTOP)
    return lambda: runtime.signal_group(signal.SIGCONT)


def _drop_runtime_target(live: LiveStack) -> Callable[[], None]:
    # Prometheus loses the job (an edited config): rewrite it without the runtime and reload with SIGHUP.
    path = live.info.state_dir / "prometheus.yml"
    original = path.read_text()
    config = yaml.safe_load(original)
    config["scrape_configs"] = [j for j in config["scrape_configs"] if j["job_name"] != "agent-runtime"]
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    prometheus = live.stack.child("prometheus")
    prometheus.process.send_signal(signal.SIGHUP)

    def restore() -> None:
        path.write_text(original)
        prometheus.process.send_signal(signal.SIGHUP)

    return restore


# Nearly every call misses, so a fault on a tool reaches (almost) every call of it.
FLUSH = Fault("tool cache flushed every 0.1 s", _inject({"kind": "cache_flush", "every_seconds": 0.1}))
SLOW_SEARCH = Fault("knowledge_search 3 s slower",
                    _inject({"kind": "latency", "tool": "knowledge_search", "seconds": 3}))

SCENARIOS = (
    Scenario(
        "A: dependencies failing",
        (
            Fault("Prometheus down for promql_query", _inject({"kind": "dependency_down", "dependency": "prometheus"})),
            Fault("knowledge_search fails 20% of calls",
                  _inject({"kind": "error", "tool": "knowledge_search", "rate": 0.2})),
            FLUSH,
            Fault("OTLP collector answering 503", _otlp_down),
            # More off-topic tasks than the background workload sends: most decisions fall back, unsure.
            Fault("9 off-topic tasks/s on top of the workload", _extra_traffic({"offtopic": 1.0}, 9.0)),
        ),
        (
            Expect("circuit breaker open", "AgentRuntimeCircuitBreakerOpen", {"breaker": "promql_query"}, "ticket"),
            Expect("error-budget burn", "AgentRuntimeTaskErrorBudgetBurn", {"long": "1h", "short": "5m"}, "page"),
            Expect("tool error rate", "AgentRuntimeToolErrorsHigh", {"tool": "knowledge_search"}, "ticket"),
            Expect("cache hit-rate drop", "AgentRuntimeCacheHitRateDrop", {"cache": "tool"}, "ticket"),
            Expect("telemetry dropped", "AgentRuntimeSpansDropped", {}, "ticket"),
            Expect("telemetry dropped", "AgentRuntimeTelemetryExportFailing", {"signal": "traces"}, "ticket"),
            Expect("routing fallbacks", "AgentRuntimeRoutingFallbacksHigh", {}, "ticket"),
            Expect("routing low confidence", "AgentRuntimeRoutingConfidenceLow", {}, "ticket"),
        ),
    ),
    Scenario(
        "B: a slow dependency",
        (SLOW_SEARCH, FLUSH),
        (
            Expect("tool latency", "AgentRuntimeToolLatencyHigh", {"tool": "knowledge_search"}, "ticket"),
            Expect("stage bottleneck", "AgentRuntimeStageBottleneck", {"stage": "tool"}, "ticket"),
            Expect("latency SLO burn", "AgentRuntimeTaskLatencyBudgetBurn", {"long": "1h", "short": "5m"}, "page"),
        ),
    ),
    Scenario(
        "C: overload",
        (SLOW_SEARCH, FLUSH, Fault("10 more tasks/s", _extra_traffic({"researcher": 1.0, "writer": 1.0}, 10.0))),
        (Expect("saturation", "AgentRuntimeSaturated", {}, "ticket"),),
        detect_timeout=90,
    ),
    Scenario(
        "D: runtime down",
        (Fault("gunicorn master and workers frozen (SIGSTOP)", _freeze_runtime),),
        (Expect("runtime down", "AgentRuntimeDown", {}, "page"),),
        detect_timeout=60,
    ),
    Scenario(
        "E: runtime not scraped",
        (Fault("the runtime's scrape job removed from Prometheus", _drop_runtime_target),),
        (Expect("runtime not scraped", "AgentRuntimeTargetMissing", {}, "page"),),
        detect_timeout=60,
    ),
)


def _update(live: LiveStack, observations: list[Observation], since: float) -> None:
    now = time.time()
    active = live.alerts()
    deliveries = live.deliveries(since)
    for obs in observations:
        states = {a["state"] for a in active if obs.expect.matches(a["labels"])}
        if "pending" in states and obs.pending_at is None:
            obs.pending_at = now
        if "firing" in states and obs.firing_at is None:
            obs.firing_at = now
            obs.pending_at = obs.pending_at or now
        if obs.cleared is not None and not states and obs.inactive_at is None:
            obs.inactive_at = now
        for delivery in deliveries:
            for alert in delivery["payload"].get("alerts", []):
                if not obs.expect.matches(alert["labels"]):
                    continue
                if alert["status"] == "firing" and obs.delivered_at is None:
                    obs.delivered_at, obs.firing_alert = delivery["received_at"], alert
                    obs.receivers.add(delivery["receiver"])
                elif alert["status"] == "resolved" and obs.cleared is not None and obs.resolved_at is None \
                        and delivery["received_at"] >= obs.cleared:  # fmt: skip
                    obs.resolved_at, obs.resolved_alert = delivery["received_at"], alert
                    obs.receivers.add(delivery["receiver"])


def _poll(live: LiveStack, observations: list[Observation], since: float, timeout: float,
          done: Callable[[Observation], bool]) -> None:  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _update(live, observations, since)
        if all(done(obs) for obs in observations):
            return
        time.sleep(POLL_SECONDS)


def _wait_quiet(live: LiveStack, scenario: Scenario, timeout: float = 90.0) -> None:
    """Wait until none of the scenario's alerts is still active from an earlier wave."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(e.matches(a["labels"]) for a in live.alerts() for e in scenario.expects):
            return
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"{scenario.name}: its alerts were still active {timeout:g}s after the previous wave")


def run_scenario(live: LiveStack, scenario: Scenario) -> list[Observation]:
    """Start the faults, wait for every alert's delivery, clear them, wait for every resolution."""
    _wait_quiet(live, scenario)
    started = time.time()
    stops = [fault.start(live) for fault in scenario.faults]
    fault_text = "; ".join(f.description for f in scenario.faults)
    observations = [Observation(scenario.name, fault_text, expect, started) for expect in scenario.expects]
    try:
        _poll(live, observations, started, scenario.detect_timeout, lambda o: o.delivered_at is not None)
    finally:
        for stop in reversed(stops):
            stop()
    cleared = time.time()
    for obs in observations:
        obs.cleared = cleared
    _poll(live, observations, started, scenario.resolve_timeout, lambda o: o.resolved_at is not None)
    return observations


def run_healthy(live: LiveStack, result: DrillResult, seconds: float) -> None:
    """Workload only: record every alert Prometheus shows and every delivery."""
    started = time.time()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result.healthy_alerts.update(a["labels"]["alertname"] for a in live.alerts())
        time.sleep(POLL_SECONDS)
    result.healthy_seconds = round(time.time() - started, 1)
    result.healthy_deliveries = live.deliveries()


def run_drill(live: LiveStack, healthy_seconds: float = HEALTHY_SECONDS) -> DrillResult:
    """The healthy run, then every scenario in order."""
    result = DrillResult()
    run_healthy(live, result, healthy_seconds)
    for scenario in SCENARIOS:
        result.observations.extend(run_scenario(live, scenario))
    return result
