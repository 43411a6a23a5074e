"""The load generator: a bounded workload sent to a running service, ``POST /v1/tasks`` at a fixed rate.

The tasks come from a ``TaskSource``: ``agent_runtime.ops.workload``'s
``Workload`` (on-call questions with Zipf popularity), or a test's own.

The generator is open-loop: request ``i`` is due at ``start + i / rate``
whatever happened to earlier ones, so a slow service meets the same
arrival rate (no coordinated omission). Given several service URLs (a list,
or one string of comma-separated URLs), it sends request ``i`` to URL
``i mod n``: replicas behind no load balancer each get an even share. At most ``concurrency`` requests
are in flight; a request due while all are busy is counted as ``skipped``,
not queued. The run ends after ``duration_seconds`` or ``max_requests``,
whichever comes first.

Example::

    >>> split_urls("http://10.0.0.1:8000/, http://10.0.0.2:8000")
    ['http://10.0.0.1:8000', 'http://10.0.0.2:8000']
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import requests
from requests.adapters import HTTPAdapter

MAX_RATE: Final = 10_000.0
MAX_DURATION_SECONDS: Final = 7 * 86_400.0


class TaskSource(Protocol):
    """What ``LoadGenerator`` draws request bodies from (``Workload``, or a test's own source)."""

    def next_task(self) -> dict[str, Any]:
        """The next request body for ``POST /v1/tasks``."""
        ...


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
