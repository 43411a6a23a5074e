"""The fault drill: a healthy run, then fault waves, each alert timed from fault to webhook and back.

Each ``Scenario`` (a wave) starts its faults together, waits until every
expected alert has been delivered by Alertmanager (watching Prometheus for
pending and firing on the way), clears its faults and waits until each
expected alert's resolution has been delivered. Faults of one wave hit
distinct tools, labels, replicas or components, so their alerts are told
apart by labels; the waves run one after another. Times are wall-clock
seconds at the e2e time scale (multiply by it for the production
equivalent).

After the last wave the drill reads every alert's history back from
Prometheus (``ALERTS`` as a range query, one step per rule evaluation) and
from the receiver (Alertmanager's notifications), and counts per alert
series and wave how often it went pending, firing and resolved, and how
many distinct firing episodes Alertmanager notified: one of each per fault
is the contract, more is flapping.
"""

from __future__ import annotations

import math
import re
import shutil
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import yaml

from agent_runtime.ops.loadgen import LoadGenerator, LoadReport
from agent_runtime.ops.workload import Workload
from observability import alert_names
from tests.e2e.live import LiveStack

WATCHDOG = alert_names.WATCHDOG
_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")
# At least an hour at the time scale, so the first wave's 1h burn-rate window holds a healthy hour.
HEALTHY_SECONDS = 60.0
# The long healthy run (AGENT_RUNTIME_E2E_LONG=1): ten minutes of wall time, ten hours at the time scale.
LONG_HEALTHY_SECONDS = 600.0
POLL_SECONDS = 0.5
# Detection targets in production minutes: a page within 10, a collapsed cache hit ratio within 15,
# every other ticket within 20.
PAGE_TARGET_MINUTES = 10.0
CACHE_COLLAPSE_TARGET_MINUTES = 15.0
TICKET_TARGET_MINUTES = 20.0
# Tools whose caches the cache_flush faults empty: every tool but the model's (llm_chat) and the one
# answering from it (write_answer), so a flush does not turn into model calls.
FLUSHED_TOOLS = ("knowledge_search", "vector_search", "promql_query", "promql_range_query", "http_fetch",
                 "extractive_summary")  # fmt: skip
# The model server is slowed by holding this share of its requests this long (the receiver's pass-through):
# with a call's own second or two, every call takes over the 10.24 s latency threshold.
MODEL_DELAY_SECONDS = 10.0
MODEL_DELAY_SHARE = 1.0


@dataclass(frozen=True)
class Expect:
    """An alert a fault must raise: its name, identifying labels, the receiver it must reach and how fast.

    ``replica`` (1-based) pins the alert to one runtime replica's ``instance``. ``target_minutes`` is the
    detection target in production minutes (None: no target, ``why`` says why).
    """

    family: str
    alert: str
    labels: Mapping[str, str]
    receiver: str
    replica: int | None = None
    target_minutes: float | None = None
    why: str = ""

    def key(self) -> str:
        """A readable identity: the alert and its labels (and replica)."""
        labels = ",".join(f"{k}={v}" for k, v in self.labels.items())
        replica = f"replica={self.replica}" if self.replica else ""
        return f"{self.alert}{{{','.join(p for p in (labels, replica) if p)}}}"

    def matches(self, labels: Mapping[str, str], instances: list[str] | None = None) -> bool:
        if labels.get("alertname") != self.alert or any(labels.get(k) != v for k, v in self.labels.items()):
            return False
        return self.replica is None or instances is None or labels.get("instance") == instances[self.replica - 1]


def page(family: str, alert: str, labels: Mapping[str, str] | None = None, *, replica: int | None = None,
         target: float | None = PAGE_TARGET_MINUTES, why: str = "") -> Expect:  # fmt: skip
    """An expected page (severity critical), with the page detection target."""
    return Expect(family, alert, labels or {}, "page", replica, target, why)


def ticket(family: str, alert: str, labels: Mapping[str, str] | None = None, *, replica: int | None = None,
           target: float = TICKET_TARGET_MINUTES, why: str = "") -> Expect:  # fmt: skip
    """An expected ticket (severity warning), with the ticket detection target."""
    return Expect(family, alert, labels or {}, "ticket", replica, target, why)


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
class Transitions:
    """How one alert series moved during one wave, from Prometheus's ALERTS and Alertmanager's notifications."""

    pending: int = 0  # inactive -> pending (or straight to firing, for an alert without `for:`)
    firing: int = 0  # pending -> firing
    resolved: int = 0  # firing -> inactive
    abandoned: int = 0  # pending -> inactive: the condition cleared before `for:` passed
    notified_firing: int = 0  # distinct firing episodes Alertmanager notified (by startsAt)
    notified_resolved: int = 0  # distinct episodes whose resolution it notified

    def to_dict(self) -> dict[str, int]:
        return dict(vars(self))

    @property
    def flapping(self) -> bool:
        """Fired more than once, in Prometheus or in the notifications (a pending that never fired notifies
        nobody: it is counted, as ``abandoned``, not called flapping)."""
        return self.firing > 1 or self.resolved > 1 or self.notified_firing > 1 or self.notified_resolved > 1


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
    transitions: Transitions = field(default_factory=Transitions)

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
            "replica": self.expect.replica,
            "receiver": self.expect.receiver,
            "target_minutes": self.expect.target_minutes,
            "target_why": self.expect.why or None,
            "delivered_to": sorted(self.receivers),
            "pending_after_seconds": self.since_start(self.pending_at),
            "firing_after_seconds": self.since_start(self.firing_at),
            "detected_after_seconds": self.since_start(self.delivered_at),
            "inactive_after_clear_seconds": self.since_clear(self.inactive_at),
            "resolved_after_clear_seconds": self.since_clear(self.resolved_at),
            "transitions": self.transitions.to_dict(),
        }


@dataclass
class Wave:
    """One scenario's time span, its observations, and the alerts it raised that no expectation names."""

    scenario: Scenario
    started: float
    ended: float = 0.0
    observations: list[Observation] = field(default_factory=list)
    others: dict[str, Transitions] = field(default_factory=dict)
    traffic: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Model cache look-ups during the faults, by result (hit, miss).
    model_cache: dict[str, int] = field(default_factory=dict)


@dataclass
class DrillResult:
    healthy_seconds: float = 0.0
    # Alerts that fired in the healthy run, and those that only went pending there.
    healthy_alerts: set[str] = field(default_factory=set)
    healthy_pending: set[str] = field(default_factory=set)
    healthy_deliveries: list[dict[str, Any]] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    waves: list[Wave] = field(default_factory=list)

    def observation(self, alert: str, replica: int | None = None, **labels: str) -> Observation:
        for obs in self.observations:
            if obs.expect.alert == alert and dict(obs.expect.labels) == labels and obs.expect.replica == replica:
                return obs
        raise KeyError(f"{alert} {labels} replica={replica} was not drilled")


# --- faults ----------------------------------------------------------------------------------------


def _inject(body: dict[str, Any]) -> Callable[[LiveStack], Callable[[], None]]:
    def start(live: LiveStack) -> Callable[[], None]:
        fault_id = live.inject(body)
        return lambda: live.clear(fault_id)

    return start


def _otlp_down(live: LiveStack) -> Callable[[], None]:
    live.set_otlp_status(503)
    return lambda: live.set_otlp_status(200)


def _extra_traffic(mix: dict[str, float], rate: float, *, fresh: float = 0.0, name: str = "",
                   replicas: tuple[int, ...] = (), agent: str | None = None,
                   ) -> Callable[[LiveStack], Callable[[], None]]:  # fmt: skip
    """More tasks on top of the workload, over every replica (or ``replicas``, 1-based); ``fresh``: the
    share of them with new text, which no cache has seen; ``agent``: every task sent to that agent rather
    than routed (so each one does what that agent does, e.g. call the model).

    The load report of the run is kept in ``live.traffic[name]`` when ``name`` is given.
    """

    def start(live: LiveStack) -> Callable[[], None]:
        stop = threading.Event()
        workload: _TaskSource = Workload(mix, seed=7, fresh_share=fresh,
                                         fetch_base=f"{live.info.receiver_url}/pages")  # fmt: skip
        if agent is not None:
            workload = _Pinned(workload, agent)
        urls = [live.info.runtime_urls[r - 1] for r in replicas] if replicas else live.info.runtime_urls
        generator = LoadGenerator(urls, workload, rate=rate, duration_seconds=600,
                                  concurrency=32, timeout_seconds=40, stop=stop)  # fmt: skip
        reports: list[LoadReport] = []
        thread = threading.Thread(target=lambda: reports.append(generator.run()), name="extra-load", daemon=True)
        thread.start()

        def stop_traffic() -> None:
            stop.set()
            thread.join(timeout=45)
            if name and reports:
                live.traffic[name] = reports[0].to_dict()

        return stop_traffic

    return start


def _freeze_replica(replica: int) -> Callable[[LiveStack], Callable[[], None]]:
    def start(live: LiveStack) -> Callable[[], None]:
        runtime = live.stack.runtimes()[replica - 1]
        runtime.signal_group(signal.SIGSTOP)
        return lambda: runtime.signal_group(signal.SIGCONT)

    return start


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


def _kill(component: str) -> Callable[[LiveStack], Callable[[], None]]:
    """SIGKILL a component (its whole process group); clearing the fault starts it again."""

    def start(live: LiveStack) -> Callable[[], None]:
        live.stack.child(component).signal_group(signal.SIGKILL)

        def restart() -> None:
            live.stack.restart(component)

        return restart

    return start


def _slow_model(live: LiveStack) -> Callable[[], None]:
    """Hold a share of the model requests at the receiver's pass-through, until cleared."""
    live.set_model_delay(MODEL_DELAY_SECONDS, MODEL_DELAY_SHARE)
    return lambda: live.set_model_delay(0.0)


def _block_l1(replica: int) -> Callable[[LiveStack], Callable[[], None]]:
    """Remove a replica's L1 cache directory and put a file in its place, so the layer cannot re-create it."""

    def start(live: LiveStack) -> Callable[[], None]:
        directory = live.cache_dir(replica)
        shutil.rmtree(directory, ignore_errors=True)
        directory.write_text("not a directory\n")
        return lambda: directory.unlink(missing_ok=True)

    return start


REPEATED_QUESTION = "write a summary of the tool cache for the handover"
WARMUP_QUESTION = "write a short status update on the router"


class _TaskSource(Protocol):
    def next_task(self) -> dict[str, Any]: ...


class _Pinned:
    """Another task source's tasks, each sent to ``agent``."""

    def __init__(self, tasks: _TaskSource, agent: str) -> None:
        self._tasks, self._agent = tasks, agent

    def next_task(self) -> dict[str, Any]:
        return {**self._tasks.next_task(), "agent": self._agent}


class _Fixed:
    """A task source that sends the same task every time."""

    def __init__(self, body: dict[str, Any]) -> None:
        self._body = body

    def next_task(self) -> dict[str, Any]:
        return dict(self._body)


def _repeat_task(body: dict[str, Any], rate: float, name: str = "") -> Callable[[LiveStack], Callable[[], None]]:
    """The same task at ``rate`` per second to the last replica (the drill freezes the first); its load
    report in ``live.traffic[name]`` when ``name`` is given."""

    def start(live: LiveStack) -> Callable[[], None]:
        stop = threading.Event()
        # One at a time: a repeat sent while the first answer is still being computed would miss too.
        generator = LoadGenerator(live.admin_url, _Fixed(body), rate=rate, duration_seconds=600, concurrency=1,
                                  timeout_seconds=40, stop=stop)  # fmt: skip
        reports: list[LoadReport] = []
        thread = threading.Thread(target=lambda: reports.append(generator.run()), name="repeat-task", daemon=True)
        thread.start()

        def stop_traffic() -> None:
            stop.set()
            thread.join(timeout=45)
            if name and reports:
                live.traffic[name] = reports[0].to_dict()

        return stop_traffic

    return start


def _compose_starts(*starts: Callable[[LiveStack], Callable[[], None]]) -> Callable[[LiveStack], Callable[[], None]]:
    """Several faults started in order as one, stopped in reverse."""

    def start(live: LiveStack) -> Callable[[], None]:
        stops = [begin(live) for begin in starts]

        def stop() -> None:
            for end in reversed(stops):
                end()

        return stop

    return start


# Nearly every call misses, so a fault on a tool reaches (almost) every call of it.
FLUSH = Fault("tool cache flushed every 0.1 s", _inject({"kind": "cache_flush", "tools": list(FLUSHED_TOOLS),
                                                           "every_seconds": 0.1}))  # fmt: skip
SLOW_SEARCH = Fault("knowledge_search 3 s slower",
                    _inject({"kind": "latency", "tool": "knowledge_search", "seconds": 3}))
LATENCY_PAGE_WHY = ("a slowness page, not a breakage one: the 14.4x burn of a 5% latency budget needs 72% of "
                    "an hour's tasks slow, so at least 43 min by construction; the tickets name the cause "
                    "within 20")  # fmt: skip

SCENARIOS = (
    Scenario(
        "A: every dependency down, cache layers down",
        (
            # Every tool, the model included: with some left, routing turns to the agent with most healthy tools.
            Fault("every tool's dependency down (connection refused), the model's too",
                  _inject({"kind": "dependency_down", "tools": ["*"]})),
            # Or the caches answer about a third of the tasks all the same: every task fails only uncached.
            FLUSH,
            Fault("replica 1's L1 cache directory removed, a file in its place", _block_l1(1)),
            Fault("Redis (the shared L2) killed (SIGKILL), restarted to clear", _kill("redis")),
        ),
        (
            page("error-budget burn", alert_names.TASK_ERROR_BUDGET_BURN, {"long": "1h", "short": "5m"},
                 why="even with every task failing, the 14.4x page of a 1% budget over 1h needs 8.6 min, plus "
                     "a scrape, two evaluations and the group wait (1 s each here, 1 min each scaled)"),
            ticket("cache layer down", alert_names.CACHE_LAYER_DOWN, {"layer": "l1"}, replica=1),
            ticket("cache layer down", alert_names.CACHE_LAYER_DOWN, {"layer": "l2"}, replica=1),
            ticket("cache layer down", alert_names.CACHE_LAYER_DOWN, {"layer": "l2"}, replica=2),
        ),
    ),
    Scenario(
        "B: dependencies and the model server failing",
        (
            Fault("Prometheus down for promql_query", _inject({"kind": "dependency_down", "dependency": "prometheus"})),
            Fault("knowledge_search fails 20% of calls",
                  _inject({"kind": "error", "tool": "knowledge_search", "rate": 0.2})),
            FLUSH,
            Fault("OTLP collector answering 503", _otlp_down),
            # More off-topic tasks than the background workload sends: most decisions fall back, unsure.
            Fault("12 off-topic tasks/s on top of the workload", _extra_traffic({"offtopic": 1.0}, 12.0)),
            Fault("model server killed (SIGKILL), restarted to clear", _kill("llama-server")),
            Fault("2 LLM tasks/s with new text (investigator and writer), so model calls reach it",
                  _extra_traffic({"investigator": 1.0, "writer": 1.0}, 2.0, fresh=1.0, name="model-down")),
        ),
        (
            ticket("circuit breaker open", alert_names.CIRCUIT_BREAKER_OPEN, {"breaker": "promql_query"}),
            ticket("tool error rate", alert_names.TOOL_ERRORS_HIGH, {"tool": "knowledge_search"}),
            ticket("cache hit-rate drop", alert_names.CACHE_HIT_RATE_DROP, {"cache": "tool"},
                   target=CACHE_COLLAPSE_TARGET_MINUTES),
            ticket("telemetry dropped", alert_names.SPANS_DROPPED, replica=1),
            ticket("telemetry dropped", alert_names.SPANS_DROPPED, replica=2),
            ticket("telemetry dropped", alert_names.TELEMETRY_EXPORT_FAILING, {"signal": "traces"}, replica=1),
            ticket("telemetry dropped", alert_names.TELEMETRY_EXPORT_FAILING, {"signal": "traces"}, replica=2),
            ticket("routing fallbacks", alert_names.ROUTING_FALLBACKS_HIGH),
            ticket("routing low confidence", alert_names.ROUTING_CONFIDENCE_LOW),
            page("model server down", alert_names.MODEL_SERVER_DOWN),
            ticket("model errors", alert_names.MODEL_ERRORS_HIGH),
            ticket("circuit breaker open", alert_names.CIRCUIT_BREAKER_OPEN, {"breaker": "llm_chat"}),
        ),
    ),
    Scenario(
        "C: a slow dependency",
        (SLOW_SEARCH, FLUSH),
        (
            ticket("tool latency", alert_names.TOOL_LATENCY_HIGH, {"tool": "knowledge_search"}),
            ticket("stage bottleneck", alert_names.STAGE_BOTTLENECK, {"stage": "tool"}),
            page("latency SLO burn", alert_names.TASK_LATENCY_BUDGET_BURN, {"long": "1h", "short": "5m"},
                 target=None, why=LATENCY_PAGE_WHY),
        ),
    ),
    # Its own wave: an overload that has to hold for the minute the latency page takes would hit a lull.
    Scenario(
        "D: overload",
        (
            SLOW_SEARCH,
            FLUSH,
            Fault("12 more tasks/s (diagnostics, researcher)",
                  _extra_traffic({"diagnostics": 1.0, "researcher": 1.0}, 12.0)),
        ),
        (
            ticket("saturation", alert_names.SATURATED, replica=1),
            ticket("saturation", alert_names.SATURATED, replica=2),
        ),
        detect_timeout=90,
    ),
    Scenario(
        "E: a runtime replica down, the model slow and uncached",
        (
            Fault("replica 1's gunicorn master and workers frozen (SIGSTOP)", _freeze_replica(1)),
            # Within what the model server answers on two busy cores (a call or two per second), so calls
            # are slow by the hold alone: at 0.4/s its queue grew to 40 s and calls began to fail. Sent to
            # the writer, not routed: every task is a model call. Routed, one in four went to the researcher
            # and calls completed 5-15 s apart; a gap over 25 s (the 15m window plus keep_firing_for, scaled)
            # resolves both model alerts while the fault lasts.
            Fault("0.2 writer tasks/s with new text to replica 2: model calls the cache cannot answer",
                  _extra_traffic({"writer": 1.0}, 0.2, fresh=1.0, name="model-slow", replicas=(2,),
                                 agent="writer")),
            # A repeated question then misses write_answer's cache but hits the model's (cache="llm").
            Fault("one question asked again every 4 s, its write_answer cache flushed every second",
                  _compose_starts(_repeat_task({"task": REPEATED_QUESTION}, 0.25, name="model-repeated"),
                                  _inject({"kind": "cache_flush", "tools": ["write_answer"], "every_seconds": 1.0}))),
            # Last, so cleared first (faults clear in reverse): the held requests are released at once
            # rather than completing slowly while the traffic stops.
            Fault(f"every model request held {MODEL_DELAY_SECONDS:g} s (the receiver's pass-through)",
                  _slow_model),
        ),
        (
            page("runtime down", alert_names.DOWN, replica=1),
            ticket("model latency", alert_names.MODEL_LATENCY_HIGH,
                   why="a call slower than the 10.24 s threshold takes 10.24 s of wall time to observe, which "
                       "the time scale counts as 10 minutes: in production that wait is 10 seconds"),
            ticket("model spend", alert_names.MODEL_SPEND_OVER_BUDGET),
        ),
        detect_timeout=90,
    ),
    Scenario(
        "F: runtime not scraped",
        (Fault("the runtime's scrape job removed from Prometheus", _drop_runtime_target),),
        (page("runtime not scraped", alert_names.TARGET_MISSING),),
        detect_timeout=60,
    ),
)


# --- running the waves -----------------------------------------------------------------------------


def _update(live: LiveStack, observations: list[Observation], since: float) -> None:
    now = time.time()
    active = live.alerts()
    deliveries = live.deliveries(since)
    instances = live.instances
    for obs in observations:
        states = {a["state"] for a in active if obs.expect.matches(a["labels"], instances)}
        if "pending" in states and obs.pending_at is None:
            obs.pending_at = now
        if "firing" in states and obs.firing_at is None:
            obs.firing_at = now
            obs.pending_at = obs.pending_at or now
        if obs.cleared is not None and not states and obs.inactive_at is None:
            obs.inactive_at = now
        for delivery in deliveries:
            for alert in delivery["payload"].get("alerts", []):
                if not obs.expect.matches(alert["labels"], instances):
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
    """Wait until none of the scenario's alerts is still active from an earlier wave, and one evaluation
    interval more: the state sampled just before the wave starts (where its counting starts) is then
    quiet too."""
    deadline = time.monotonic() + timeout
    instances = live.instances
    while time.monotonic() < deadline:
        if not any(e.matches(a["labels"], instances) for a in live.alerts() for e in scenario.expects):
            time.sleep(live.interval_seconds)
            return
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"{scenario.name}: its alerts were still active {timeout:g}s after the previous wave")


def run_scenario(live: LiveStack, scenario: Scenario) -> Wave:
    """Start the faults, wait for every alert's delivery, clear them, wait for every resolution."""
    _wait_quiet(live, scenario)
    started = time.time()
    wave = Wave(scenario, started)
    stops: list[Callable[[], None]] = []
    fault_text = "; ".join(f.description for f in scenario.faults)
    observations = [Observation(scenario.name, fault_text, expect, started) for expect in scenario.expects]
    try:
        for fault in scenario.faults:
            stops.append(fault.start(live))
        _poll(live, observations, started, scenario.detect_timeout, lambda o: o.delivered_at is not None)
    finally:
        for stop in reversed(stops):
            stop()
    cleared = time.time()
    for obs in observations:
        obs.cleared = cleared
    # What the model's cache answered during the faults (cache="llm" look-ups, every layer).
    span = f"{max(1, round(cleared - started))}s"
    wave.model_cache = {series["metric"].get("result", "?"): round(float(series["value"][1]))
                        for series in live.query(f'sum by (result) (increase(agent_runtime_cache_requests_total'
                                                 f'{{cache="llm"}}[{span}]))')["result"]}  # fmt: skip
    _poll(live, observations, started, scenario.resolve_timeout, lambda o: o.resolved_at is not None)
    wave.ended = time.time()
    wave.observations = observations
    wave.traffic = dict(live.traffic)
    live.traffic.clear()
    return wave


def run_healthy(live: LiveStack, result: DrillResult, seconds: float) -> None:
    """Workload only: record every alert that fired, every one that only went pending, and every delivery."""
    started = time.time()
    time.sleep(seconds)
    result.healthy_seconds = round(time.time() - started, 1)
    result.healthy_deliveries = live.deliveries()
    # Every evaluation of the run, from Prometheus's ALERTS: a pending that cleared before its `for:` (a
    # near miss, notified to nobody) is told apart from an alert that fired.
    for series in live.query_range("ALERTS", started, time.time(), live.interval_seconds):
        name, state = series["metric"]["alertname"], series["metric"]["alertstate"]
        (result.healthy_alerts if state == "firing" else result.healthy_pending).add(name)
    result.healthy_pending -= result.healthy_alerts


# --- transitions -------------------------------------------------------------------------------------


def _series_key(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in ("__name__", "alertstate"))


def alert_timelines(live: LiveStack, start: float, end: float) -> dict[str, list[str]]:
    """Per alert series (its labels), its state at every rule evaluation in [start, end]: inactive, pending
    or firing."""
    step = live.interval_seconds
    size = int((end - start) / step) + 1
    timelines: dict[str, list[str]] = {}
    for series in live.query_range(f'ALERTS{{alertname!="{WATCHDOG}"}}', start, end, step):
        states = timelines.setdefault(_series_key(series["metric"]), ["inactive"] * size)
        state = series["metric"]["alertstate"]
        for stamp, _ in series["values"]:
            index = round((float(stamp) - start) / step)
            # Firing wins a step where both show (the pending series goes stale the evaluation after).
            if 0 <= index < size and states[index] != "firing":
                states[index] = state
    return timelines


def count_transitions(timeline: list[str]) -> Transitions:
    """Pending, firing, resolved and abandoned transitions in one series' state timeline.

    An episode already firing when the timeline starts belongs to the wave that raised it: neither it nor
    its resolution is counted again (as Alertmanager's notifications of it are not, by ``startsAt``).
    """
    counts = Transitions()
    carried = 0
    if timeline and timeline[0] == "firing":
        carried = next((i for i, state in enumerate(timeline) if state == "inactive"), len(timeline))
    timeline = timeline[carried:]
    previous = timeline[0] if timeline else "inactive"
    for state in timeline[1:]:
        if state == previous:
            continue
        if previous == "inactive":
            counts.pending += 1
            counts.firing += state == "firing"
        elif previous == "pending":
            counts.firing += state == "firing"
            counts.abandoned += state == "inactive"
        elif previous == "firing":
            counts.resolved += state == "inactive"
        previous = state
    return counts


def notified_episodes(deliveries: Iterable[Mapping[str, Any]], start: float, end: float) -> dict[str, Counter[str]]:
    """Per alert series, the distinct firing and resolved episodes (by ``startsAt``) that began in
    [start, end] and were notified by ``end`` (an earlier wave's episode resolving late is not counted)."""
    episodes: dict[str, dict[str, set[str]]] = {}
    for delivery in deliveries:
        if not start <= delivery["received_at"] <= end:
            continue
        for alert in delivery["payload"].get("alerts", []):
            if alert["labels"].get("alertname") == WATCHDOG or _timestamp(alert["startsAt"]) < start:
                continue
            seen = episodes.setdefault(_series_key(alert["labels"]), {"firing": set(), "resolved": set()})
            seen[alert["status"]].add(alert["startsAt"])
    return {key: Counter({status: len(starts) for status, starts in seen.items()}) for key, seen in episodes.items()}


def _timestamp(text: str) -> float:
    """Unix seconds of Alertmanager's RFC 3339 time (a nanosecond fraction is cut to microseconds)."""
    match = _RFC3339.match(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    base, fraction, zone = match.groups()
    return datetime.fromisoformat(f"{base}.{(fraction or '0')[:6]}{'+00:00' if zone == 'Z' else zone}").timestamp()


def wave_samples(start: float, step: float, begin: float, end: float) -> slice:
    """The samples of a timeline sampled every ``step`` from ``start`` that a wave running from ``begin``
    to ``end`` owns: from the last one before it began (the state its counting starts from) to the last
    one by its end.

    Its faults' effect can show in the first sample after ``begin``: a killed model server's failed scrape
    and the evaluation after it can both fall within that interval.
    """
    first = max(0, math.ceil((begin - start) / step))
    return slice(max(0, first - 1), int((end - start) / step) + 1)


def record_transitions(live: LiveStack, waves: list[Wave], until: float) -> None:
    """Fill every wave's observations and other alerts with their transitions.

    One timeline for the whole drill; each transition belongs to the wave running when it happened (a wave
    runs until the next one starts), so one at a wave's edge is counted once.
    """
    if not waves:
        return
    deliveries = live.deliveries()
    instances = live.instances
    step = live.interval_seconds
    start = waves[0].started
    timelines = alert_timelines(live, start, until)
    for index, wave in enumerate(waves):
        end = waves[index + 1].started if index + 1 < len(waves) else until
        owned = wave_samples(start, step, wave.started, end)
        slices = {key: states[owned] for key, states in timelines.items()}
        notified = notified_episodes(deliveries, wave.started, end)
        matched: set[str] = set()
        for obs in wave.observations:
            keys = [key for key in {*slices, *notified} if obs.expect.matches(_labels(key), instances)]
            counts = Transitions()
            for key in keys:
                matched.add(key)
                one = count_transitions(slices.get(key, []))
                for name in ("pending", "firing", "resolved", "abandoned"):
                    setattr(counts, name, getattr(counts, name) + getattr(one, name))
                counts.notified_firing += notified.get(key, Counter())["firing"]
                counts.notified_resolved += notified.get(key, Counter())["resolved"]
            obs.transitions = counts
        for key in sorted({*slices, *notified} - matched):
            counts = count_transitions(slices.get(key, []))
            counts.notified_firing = notified.get(key, Counter())["firing"]
            counts.notified_resolved = notified.get(key, Counter())["resolved"]
            if counts.to_dict() != Transitions().to_dict():
                wave.others[key] = counts


def _labels(key: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in key.split(",") if "=" in part)


def run_drill(live: LiveStack, healthy_seconds: float = HEALTHY_SECONDS) -> DrillResult:
    """The healthy run, then every scenario in order, then every alert's transitions."""
    result = DrillResult()
    run_healthy(live, result, healthy_seconds)
    for scenario in SCENARIOS:
        wave = run_scenario(live, scenario)
        result.waves.append(wave)
        result.observations.extend(wave.observations)
    # A resolution Alertmanager sent late, or an alert firing again after it, shows in the next seconds.
    time.sleep(2 * live.interval_seconds)
    record_transitions(live, result.waves, time.time())
    return result
