"""Fixtures for the built-in tools: a small corpus, loopback HTTP servers, a recording listener."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agent_runtime.builtin_tools.corpus import Corpus
from agent_runtime.telemetry.listener import ModelCall, RuntimeListener

RUNBOOK_CACHE = """# CacheHitRateLow

## Meaning

The tool cache hit ratio fell below its floor: most tool calls miss the cache
and go to the backend.

## Diagnosis

Check `agent_runtime_cache_requests_total` by result and layer. A deploy that
flushed Redis empties the shared L2 cache.

## Mitigation

Warm the cache from recorded popular calls with the admin endpoint.
"""

RUNBOOK_LATENCY = """# TaskLatencyHigh

## Meaning

Task latency is above the SLO: p95 of `agent_runtime_task_duration_seconds`
exceeds its target and requests are slow.

## Mitigation

Find the slowest stage in the bottleneck report and scale out the workers.
"""

RUNBOOK_BREAKER = """# CircuitBreakerOpen

## Meaning

A tool's circuit breaker opened after repeated failures of its dependency.

## Mitigation

Check the dependency's health; the breaker closes on its own after a successful probe.
"""

NOTES = """Deployment notes.

Roll out the runtime one replica at a time and watch the error budget.

Grafana dashboards are provisioned from files.
"""


@pytest.fixture()
def corpus_dir(tmp_path: Path) -> Path:
    """A folder of three runbooks, a text file, a hidden folder and a non-document."""
    root = tmp_path / "corpus"
    (root / "runbooks").mkdir(parents=True)
    (root / "runbooks" / "CacheHitRateLow.md").write_text(RUNBOOK_CACHE)
    (root / "runbooks" / "TaskLatencyHigh.md").write_text(RUNBOOK_LATENCY)
    (root / "runbooks" / "CircuitBreakerOpen.md").write_text(RUNBOOK_BREAKER)
    (root / "docs").mkdir()
    (root / "docs" / "notes.txt").write_text(NOTES)
    (root / "docs" / ".hidden").mkdir()
    (root / "docs" / ".hidden" / "secret.md").write_text("# Hidden\n\nflushed redis secret\n")
    (root / "docs" / "image.png").write_bytes(b"\x89PNG flushed")
    return root


@pytest.fixture()
def corpus(corpus_dir: Path, tmp_path: Path) -> Iterator[Corpus]:
    """A corpus over ``corpus_dir`` that re-scans on every call (no refresh interval)."""
    store = Corpus(
        [corpus_dir / "runbooks", corpus_dir / "docs"],
        tmp_path / "index" / "corpus.sqlite3",
        root=corpus_dir,
        refresh_interval_seconds=0.0,
    )
    yield store
    store.close()


class RecordingListener(RuntimeListener):
    """Keeps every cache and model-call event it receives (thread-safe: tools run on worker threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.lookups: list[tuple[str, str, bool]] = []
        self.saved: list[tuple[str, float, float]] = []
        self.llm_calls: list[ModelCall] = []

    def cache_looked_up(self, cache: str, layer: str, hit: bool) -> None:
        with self._lock:
            self.lookups.append((cache, layer, hit))

    def cache_saved(self, cache: str, seconds: float, dollars: float = 0.0) -> None:
        with self._lock:
            self.saved.append((cache, seconds, dollars))

    def llm_called(self, call: ModelCall) -> None:
        with self._lock:
            self.llm_calls.append(call)


@pytest.fixture()
def listener() -> RecordingListener:
    """A listener that records cache and LLM events."""
    return RecordingListener()


@dataclass
class Reply:
    """What a route answers: status, headers and body (a body of chunks is sent chunked)."""

    status: int = 200
    body: bytes | list[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0


@dataclass
class SeenRequest:
    """A request the loopback server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


Route = Callable[[SeenRequest], Reply]


class LoopbackServer:
    """An HTTP server on 127.0.0.1 in a thread, answering from a path → route table."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[SeenRequest] = []
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                seen = SeenRequest(self.command, self.path, dict(self.headers), self.rfile.read(length))
                server.requests.append(seen)
                route = server.routes.get(self.path.split("?", 1)[0])
                reply = route(seen) if route else Reply(404, b"not found", {"Content-Type": "text/plain"})
                if reply.delay_seconds:
                    server._stop.wait(reply.delay_seconds)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if isinstance(reply.body, list):
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for chunk in reply.body:
                        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)

            do_GET = _handle  # noqa: N815 - http.server's naming
            do_POST = _handle  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:  # signature from http.server
                """Keep test output quiet."""

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = int(self._httpd.server_address[1])
        # A short poll interval keeps shutdown() (and so each test's teardown) fast.
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        """The URL of ``path`` on this server, via ``host``."""
        return f"http://{host}:{self.port}{path}"

    def paths(self) -> list[str]:
        """Paths requested so far, in order."""
        return [r.path for r in self.requests]

    def close(self) -> None:
        """Stop serving (releasing any delayed reply) and close the socket."""
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@pytest.fixture()
def http_server() -> Iterator[LoopbackServer]:
    """A loopback HTTP server; tests add routes to ``http_server.routes``."""
    server = LoopbackServer()
    yield server
    server.close()
