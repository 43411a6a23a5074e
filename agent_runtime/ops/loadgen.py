"""A realistic, bounded workload for a running service: ``POST /v1/tasks`` at a fixed rate.

Tasks come from templates of on-call questions (caches, breakers, latency,
errors, alerts, docs, fetching pages, writing summaries), each *intent*
(a template with its slots filled) phrased several ways. Intents are drawn
with Zipf-distributed popularity, so a few are asked often (caches have
something to find) and many rarely; the phrasing is drawn uniformly, so the
router's similarity cache sees paraphrases. ``mix`` weights the families,
named after the agent each is written for (diagnostics, researcher,
fetcher, writer, investigator); the router still chooses the agent. Two
families are not in the default mix: ``investigator`` (root-cause questions
for the LLM agent, which is configured only with a model) and ``offtopic``
(hobbies, food, travel; thousands of distinct questions that fit no agent:
add it to exercise the router's fallback). ``fresh_share`` makes that
share of tasks new text (an intent with a unique suffix), so caches miss
them: with a model behind the runtime, that is the knob for how many
model calls a workload causes.

The generator is open-loop: request ``i`` is due at ``start + i / rate``
whatever happened to earlier ones, so a slow service meets the same
arrival rate (no coordinated omission). Given several service URLs (a list,
or one string of comma-separated URLs), it sends request ``i`` to URL
``i mod n``: replicas behind no load balancer each get an even share. At most ``concurrency`` requests
are in flight; a request due while all are busy is counted as ``skipped``,
not queued. The run ends after ``duration_seconds`` or ``max_requests``,
whichever comes first.

Example::

    >>> workload = Workload(seed=1)
    >>> task = workload.next_task()
    >>> sorted(task) in (["task"], ["context", "task"])
    True
"""

from __future__ import annotations

import contextlib
import itertools
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import requests
from requests.adapters import HTTPAdapter

DEFAULT_MIX: Final[Mapping[str, float]] = {"diagnostics": 0.4, "researcher": 0.25, "fetcher": 0.15, "writer": 0.2}
ZIPF_EXPONENT: Final = 1.1
# Families drawn uniformly: off-topic questions are a long tail, not a few favourites.
_UNIFORM_FAMILIES: Final = frozenset({"offtopic"})
MAX_RATE: Final = 10_000.0
MAX_DURATION_SECONDS: Final = 7 * 86_400.0

_TOOLS: Final = ("knowledge_search", "vector_search", "promql_query", "http_fetch")
_STAGES: Final = ("route", "score", "execute", "aggregate")
_ALERTS: Final = ("ErrorBudgetBurn", "ToolLatencyHigh", "CacheHitRateDrop", "CircuitBreakerOpen", "Saturation")
_TOPICS: Final = ("the tool cache", "the router", "the OTLP exporter", "the scoring matrix", "the plan executor")
_PAGES: Final = ("status", "changelog", "incident-log", "deploys", "capacity")
_INCIDENTS: Final = ("the latency spike", "the breaker that kept opening", "the dropped spans", "the failed deploy",
                     "yesterday's paging storm")  # fmt: skip
# Off-topic questions are many distinct combinations, as real ones are: few repeat, so the
# router's decision cache cannot answer them and they reach the fallback.
_OFFTOPIC: Final = tuple(
    f"{opener} {subject} {tail}{who}?"
    for opener in ("any tips on", "what do you think about", "tell me a fun fact about", "is it worth trying",
                   "how much does it cost to try", "recommend something like", "why do people love",
                   "give me trivia about")
    for subject in ("banana bread", "sourdough", "rugby", "jazz piano", "origami", "tango", "chess",
                    "birdwatching", "kayaking", "pottery", "haiku", "astronomy")
    for tail in ("in Lisbon", "this weekend", "for a birthday", "on holiday", "with kids", "in winter",
                 "near the coast", "for beginners", "after dinner", "in Kyoto")
    for who in ("", " for my aunt", " for two", " as a hobby", " in the rain", " at night")
)  # fmt: skip

# family → (phrasings, slot values); every phrasing of a template uses the same slot.
_TEMPLATES: Final[Mapping[str, Sequence[tuple[Sequence[str], Sequence[str]]]]] = {
    "diagnostics": (
        (
            (
                "why is the cache hit rate dropping for {}?",
                "cache hit rate drop on {}: diagnose it",
                "{} cache misses spiking, what is the mitigation?",
            ),
            _TOOLS,
        ),
        (
            (
                "is the circuit breaker for {} open?",
                "circuit breaker open on {}, troubleshoot",
                "{} breaker keeps opening: diagnose the symptom",
            ),
            _TOOLS,
        ),
        (
            (
                "p95 latency of the {} stage is high, why?",
                "investigate slow {} stage latency p99",
                "{} stage is the bottleneck: diagnose the latency",
            ),
            _STAGES,
        ),
        (
            (
                "the {} alert is firing, what does the runbook say?",
                "paged for {}: diagnosis and mitigation",
                "on-call: {} alert firing, how do I mitigate?",
            ),
            _ALERTS,
        ),
        (
            (
                "error rate spiking on {}, diagnose",
                "{} errors and timeouts increasing: troubleshoot",
                "{} failing with retries and timeouts, investigate",
            ),
            _TOOLS,
        ),
    ),
    "researcher": (
        (("explain how {} works", "documentation overview of {}", "how does {} work? find the docs"), _TOPICS),
        (
            (
                "find the configuration reference for {}",
                "list the configuration options of {} from the docs",
                "search the docs for {} configuration settings",
            ),
            _TOPICS,
        ),
        (
            (
                "explain the architecture and design of {}",
                "design overview of {} in the docs",
                "find the architecture guide for {}",
            ),
            _TOPICS,
        ),
    ),
    "fetcher": (
        (("fetch the {} web page", "download the {} page from the url", "fetch the {} webpage over http"), _PAGES),
    ),
    "writer": (
        (
            (
                "write a summary of {} for the handover",
                "draft handover notes summarising {}",
                "summarise {} in a short report",
            ),
            _TOPICS,
        ),
        (
            (
                "draft a status update about the {} incident",
                "write a postmortem summary for the {} alert",
                "write a short status update on {}",
            ),
            _ALERTS,
        ),
    ),
    # Root-cause questions for the LLM agent (the bundled `investigator`, present only with a model
    # configured). Not in the default mix: every one that misses the caches is a model call.
    "investigator": (
        (
            (
                "dig into the root cause of {}",
                "investigate the root cause of {} and correlate the signals",
                "explain the incident: what was the root cause of {}?",
            ),
            _INCIDENTS,
        ),
    ),
    # Questions no agent is for: the router falls back. Not in the default mix.
    "offtopic": ((("{}",), _OFFTOPIC),),
}


@dataclass(frozen=True)
class Intent:
    """One question with its slot filled, phrased several ways."""

    family: str
    phrasings: tuple[str, ...]
    slot: str


def build_intents(family: str) -> list[Intent]:
    """Every intent of ``family`` (one per template and slot value)."""
    return [
        Intent(family, tuple(p.format(value) for p in phrasings), value)
        for phrasings, values in _TEMPLATES[family]
        for value in values
    ]


def parse_mix(text: str) -> dict[str, float]:
    """``diagnostics=0.4,writer=0.6`` as weights; raises ``ValueError`` saying what is wrong."""
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, weight = part.partition("=")
        if not sep or name.strip() not in _TEMPLATES:
            raise ValueError(f"mix entries are FAMILY=WEIGHT with FAMILY one of {', '.join(_TEMPLATES)}, got {part!r}")
        try:
            value = float(weight)
        except ValueError:
            raise ValueError(f"the weight of {name.strip()} must be a number, got {weight!r}") from None
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"the weight of {name.strip()} must be >= 0, got {weight!r}")
        mix[name.strip()] = value
    if not mix or sum(mix.values()) <= 0:
        raise ValueError("the mix needs at least one family with a weight > 0")
    return mix


class TaskSource(Protocol):
    """What ``LoadGenerator`` draws request bodies from (``Workload``, or a test's own source)."""

    def next_task(self) -> dict[str, Any]:
        """The next request body for ``POST /v1/tasks``."""
        ...


class Workload:
    """Draws tasks: a family by ``mix``, an intent by Zipf popularity, a phrasing uniformly.

    ``fetch_base`` is the URL prefix of pages the fetcher family asks for
    (sent as the task context ``url``); without it that family is left out.
    ``fresh_share`` (0..1) of the tasks get a unique suffix (``(#n)``), so no
    cache has seen them. Thread-safe; the sequence is reproducible for a
    given ``seed``.
    """

    def __init__(
        self,
        mix: Mapping[str, float] | None = None,
        *,
        seed: int | None = None,
        fetch_base: str | None = None,
        zipf_exponent: float = ZIPF_EXPONENT,
        fresh_share: float = 0.0,
    ) -> None:
        if not 0.0 <= fresh_share <= 1.0:
            raise ValueError(f"fresh_share must be between 0 and 1, got {fresh_share}")
        weights = dict(DEFAULT_MIX if mix is None else mix)
        if fetch_base is None:
            weights.pop("fetcher", None)
        weights = {name: w for name, w in weights.items() if w > 0}
        if not weights:
            raise ValueError("the mix has no family left to draw from (fetcher needs fetch_base)")
        self._families = sorted(weights)
        self._family_weights = list(itertools.accumulate(weights[f] for f in self._families))
        self._fetch_base = (fetch_base or "").rstrip("/")
        self._rng = random.Random(seed)
        self._fresh_share = fresh_share
        self._fresh = itertools.count(1)
        self._lock = threading.Lock()
        self._intents: dict[str, list[Intent]] = {}
        self._cumulative: dict[str, list[float]] = {}
        for family in self._families:
            intents = build_intents(family)
            # A seeded shuffle decides which intents are the popular ones.
            self._rng.shuffle(intents)
            self._intents[family] = intents
            exponent = 0.0 if family in _UNIFORM_FAMILIES else zipf_exponent
            ranks = (1.0 / (rank**exponent) for rank in range(1, len(intents) + 1))
            self._cumulative[family] = list(itertools.accumulate(ranks))

    @property
    def families(self) -> tuple[str, ...]:
        """The families this workload draws from."""
        return tuple(self._families)

    def next_task(self) -> dict[str, Any]:
        """The next request body for ``POST /v1/tasks``."""
        with self._lock:
            family = self._rng.choices(self._families, cum_weights=self._family_weights)[0]
            intent = self._rng.choices(self._intents[family], cum_weights=self._cumulative[family])[0]
            text = self._rng.choice(intent.phrasings)
            if self._fresh_share and self._rng.random() < self._fresh_share:
                text = f"{text} (#{next(self._fresh)})"
        body: dict[str, Any] = {"task": text}
        if family == "fetcher":
            body["context"] = {"url": f"{self._fetch_base}/{intent.slot}"}
        return body


@dataclass
class LoadReport:
    """What a run did: counts, latencies of answered requests, and how they ended."""

    rate: float
    duration_seconds: float
    elapsed_seconds: float = 0.0
    sent: int = 0
    skipped: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    agents: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    @property
    def completed(self) -> int:
        """Requests that got an HTTP answer."""
        return len(self.latencies)

    @property
    def errors(self) -> int:
        """Requests answered with a non-2xx status or not answered at all."""
        return sum(n for status, n in self.statuses.items() if not status.startswith("2"))

    def percentile(self, q: float) -> float | None:
        """The ``q``-th percentile (0..100) of latency in seconds, nearest rank; None before any answer."""
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (latencies as percentiles, not the raw list)."""
        elapsed = self.elapsed_seconds or 1e-9
        return {
            "rate": self.rate,
            "duration_seconds": self.duration_seconds,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "sent": self.sent,
            "completed": self.completed,
            "skipped": self.skipped,
            "errors": self.errors,
            "throughput_per_second": round(self.completed / elapsed, 3),
            "latency_seconds": {
                name: None if value is None else round(value, 6)
                for name, value in (
                    ("p50", self.percentile(50)),
                    ("p95", self.percentile(95)),
                    ("p99", self.percentile(99)),
                    ("max", max(self.latencies, default=None)),
                )
            },
            "statuses": dict(sorted(self.statuses.items())),
            "outcomes": dict(sorted(self.outcomes.items())),
            "agents": dict(sorted(self.agents.items())),
        }

    def summary(self) -> str:
        """A few human-readable lines."""
        data = self.to_dict()
        lat = {k: "-" if v is None else f"{v * 1000:.1f}ms" for k, v in data["latency_seconds"].items()}
        statuses = ", ".join(f"{k}: {v}" for k, v in data["statuses"].items()) or "none"
        return "\n".join(
            (
                f"sent {self.sent} in {data['elapsed_seconds']}s, completed {self.completed} "
                f"({data['throughput_per_second']}/s), skipped {self.skipped} (concurrency limit), "
                f"errors {self.errors}",
                f"latency p50 {lat['p50']}  p95 {lat['p95']}  p99 {lat['p99']}  max {lat['max']}",
                f"status: {statuses}",
                f"outcomes: {', '.join(f'{k}: {v}' for k, v in data['outcomes'].items()) or 'none'}",
                f"agents: {', '.join(f'{k}: {v}' for k, v in data['agents'].items()) or 'none'}",
            )
        )


def split_urls(url: str | Sequence[str]) -> list[str]:
    """Service base URLs from one URL, a comma-separated string of them, or a list; ``ValueError`` if none."""
    parts = url.split(",") if isinstance(url, str) else list(url)
    urls = [part.strip().rstrip("/") for part in parts if part.strip()]
    if not urls:
        raise ValueError("give at least one service URL")
    return urls


class LoadGenerator:
    """Sends ``workload`` tasks to ``url`` at ``rate`` per second, open-loop, bounded.

    ``url`` is one service URL or several (a list or a comma-separated
    string): request ``i`` goes to the ``i mod n``-th. The requests come
    from ``clients`` clients taking turns, each with its own keep-alive
    connection per URL: a server with several worker processes (gunicorn)
    then sees them spread over its workers, as it would real clients, rather
    than every request on the one connection a single client reuses.
    ``progress(report, in_flight)`` is called about once per
    ``progress_seconds`` from the scheduling thread; ``stop`` (an Event)
    ends a run early.
    """

    def __init__(
        self,
        url: str | Sequence[str],
        workload: TaskSource,
        *,
        rate: float,
        duration_seconds: float,
        concurrency: int = 16,
        max_requests: int | None = None,
        timeout_seconds: float = 30.0,
        progress: Callable[[LoadReport, int], None] | None = None,
        progress_seconds: float = 1.0,
        stop: threading.Event | None = None,
        clients: int = 16,
    ) -> None:
        if not 0 < rate <= MAX_RATE:
            raise ValueError(f"rate must be > 0 and <= {MAX_RATE:g} per second, got {rate}")
        if not 0 < duration_seconds <= MAX_DURATION_SECONDS:
            raise ValueError(f"duration must be > 0 and <= {MAX_DURATION_SECONDS:g} seconds, got {duration_seconds}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if clients < 1:
            raise ValueError(f"clients must be >= 1, got {clients}")
        self._clients = clients
        self._endpoints = [base + "/v1/tasks" for base in split_urls(url)]
        self._workload = workload
        self._rate = rate
        self._duration = duration_seconds
        self._concurrency = concurrency
        limit = math.ceil(rate * duration_seconds)
        self._max_requests = limit if max_requests is None else min(limit, max_requests)
        self._timeout = timeout_seconds
        self._progress = progress
        self._progress_seconds = progress_seconds
        self._stop = stop or threading.Event()
        self._slots = threading.BoundedSemaphore(concurrency)
        self._lock = threading.Lock()
        self._in_flight = 0

    def run(self) -> LoadReport:
        """Run to the end (time, count or ``stop``) and return the report."""
        report = LoadReport(rate=self._rate, duration_seconds=self._duration)
        sessions = [self._session() for _ in range(self._clients)]
        started = time.monotonic()
        next_progress = started + self._progress_seconds
        with contextlib.ExitStack() as resources:
            for session in sessions:
                resources.enter_context(session)
            pool = resources.enter_context(ThreadPoolExecutor(self._concurrency, thread_name_prefix="loadgen"))
            for index in range(self._max_requests):
                due = started + index / self._rate
                if due - started >= self._duration or self._stop.wait(max(0.0, due - time.monotonic())):
                    break
                if not self._slots.acquire(blocking=False):
                    with self._lock:
                        report.skipped += 1
                else:
                    with self._lock:
                        turn = report.sent
                        report.sent += 1
                        self._in_flight += 1
                    # Turns go by requests sent, not scheduled: a skipped request leaves the rotation even.
                    endpoint = self._endpoints[turn % len(self._endpoints)]
                    session = sessions[turn % len(sessions)]
                    pool.submit(self._send, session, endpoint, self._workload.next_task(), report)
                now = time.monotonic()
                if self._progress is not None and now >= next_progress:
                    next_progress = now + self._progress_seconds
                    with self._lock:
                        self._progress(report, self._in_flight)
        report.elapsed_seconds = time.monotonic() - started
        if self._progress is not None:
            self._progress(report, 0)
        return report

    def _session(self) -> requests.Session:
        # Connections are pooled and reused, never re-opened per request: a client's requests in flight
        # at once each get one, at most the concurrency limit per URL.
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=len(self._endpoints), pool_maxsize=self._concurrency)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def _send(self, session: requests.Session, endpoint: str, body: Mapping[str, Any], report: LoadReport) -> None:
        started = time.perf_counter()
        status: str
        outcome: str | None = None
        agent: str | None = None
        try:
            response = session.post(endpoint, json=body, timeout=self._timeout)
            status = str(response.status_code)
            payload = response.json() if response.ok else None
            if isinstance(payload, dict):
                outcome, agent = payload.get("outcome"), payload.get("agent")
        except Exception as exc:  # connection refused, timeout, a body that is not JSON: counted, never lost
            status = f"error:{type(exc).__name__}"
        finally:
            self._slots.release()
        elapsed = time.perf_counter() - started
        with self._lock:
            self._in_flight -= 1
            report.statuses[status] += 1
            if not status.startswith("error:"):
                report.latencies.append(elapsed)
            if outcome is not None:
                report.outcomes[str(outcome)] += 1
            if agent is not None:
                report.agents[str(agent)] += 1


def progress_line(report: LoadReport, in_flight: int) -> str:
    """One status line for a running load test."""
    p95 = report.percentile(95)
    latency = "-" if p95 is None else f"{p95 * 1000:.0f}ms"
    return (
        f"sent {report.sent} ({report.rate:g}/s)  done {report.completed}  "
        f"errors {report.errors}  skipped {report.skipped}  in flight {in_flight}  p95 {latency}"
    )
