"""The load generator: open-loop pacing, bounds, URLs and clients, the report and the CLI, against a loopback server."""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from agent_runtime.cli import loadgen_cmd
from agent_runtime.ops.loadgen import LoadGenerator, LoadReport, progress_line, split_urls
from agent_runtime.ops.workload import Workload


class TaskServer(ThreadingHTTPServer):
    """Answers ``POST /v1/tasks`` like the service; tasks mentioning "boom" get a 500."""

    daemon_threads = True

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__(("127.0.0.1", 0), TaskHandler)
        self.delay = delay
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class TaskHandler(BaseHTTPRequestHandler):
    server: TaskServer

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.bodies.append(body)
        time.sleep(self.server.delay)
        status = 500 if "boom" in body["task"] else 200
        payload = json.dumps({"outcome": "success", "agent": "writer"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(delay: float = 0.0) -> Iterator[TaskServer]:
    server = TaskServer(delay)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def server() -> Iterator[TaskServer]:
    yield from serve()


@pytest.fixture()
def slow_server() -> Iterator[TaskServer]:
    yield from serve(delay=0.4)


def test_a_request_failing_outside_requests_is_counted_not_lost(
    server: TaskServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def overflow(self: requests.Session, *args: Any, **kwargs: Any) -> requests.Response:
        raise OverflowError("timeout value is too large")  # what urllib3 raised for --timeout inf

    monkeypatch.setattr(requests.Session, "post", overflow)
    generator = LoadGenerator(server.url, Workload(seed=1), rate=20, duration_seconds=0.2, timeout_seconds=1)
    report = generator.run()
    assert report.sent > 0
    assert report.statuses == Counter({"error:OverflowError": report.sent})  # every one, none lost


def test_a_run_sends_rate_times_duration_and_reports(server: TaskServer) -> None:
    lines: list[str] = []
    report = LoadGenerator(
        server.url,
        Workload(seed=2),
        rate=40,
        duration_seconds=1.0,
        concurrency=4,
        progress=lambda r, n: lines.append(progress_line(r, n)),
        progress_seconds=0.2,
    ).run()
    assert report.sent == 40 == len(server.bodies) == report.completed
    assert report.statuses == Counter({"200": 40})
    assert report.outcomes == Counter({"success": 40})
    assert 0.9 < report.elapsed_seconds < 2.0
    data = report.to_dict()
    assert data["errors"] == 0 and data["skipped"] == 0
    assert 0 < data["latency_seconds"]["p50"] <= data["latency_seconds"]["p95"] <= data["latency_seconds"]["p99"]
    assert len(lines) >= 3 and lines[-1].startswith("sent 40 (40/s)  done 40")


def test_open_loop_skips_requests_when_all_slots_are_busy(slow_server: TaskServer) -> None:
    # 20/s for 1 s against a 0.4 s service with 2 slots: at most ~6 can be sent; the rest are skipped, not queued.
    report = LoadGenerator(slow_server.url, Workload(seed=1), rate=20, duration_seconds=1.0, concurrency=2).run()
    assert report.sent + report.skipped == 20
    assert 4 <= report.sent <= 8
    assert min(report.latencies) >= 0.4


def test_max_requests_and_stop_bound_the_run(server: TaskServer) -> None:
    report = LoadGenerator(server.url, Workload(seed=1), rate=100, duration_seconds=5, max_requests=7).run()
    assert report.sent == 7
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    report = LoadGenerator(server.url, Workload(seed=1), rate=10, duration_seconds=30, stop=stop).run()
    assert time.monotonic() - started < 2
    assert 2 <= report.sent <= 5


def test_errors_are_counted_by_status() -> None:
    report = LoadReport(rate=1, duration_seconds=1)
    report.statuses.update({"200": 3, "500": 1, "error:ConnectionError": 2})
    assert report.errors == 3


def test_an_unreachable_service_is_counted_not_raised() -> None:
    generator = LoadGenerator("http://127.0.0.1:9", Workload(seed=1), rate=20, duration_seconds=0.2, timeout_seconds=1)
    report = generator.run()
    assert report.completed == 0
    assert report.statuses == Counter({"error:ConnectionError": report.sent})
    assert report.to_dict()["latency_seconds"]["p95"] is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"rate": 0}, "rate must be"), ({"duration_seconds": 0}, "duration must be"), ({"concurrency": 0}, "concurrency")],
)
def test_bounds_are_checked(kwargs: dict[str, Any], message: str) -> None:
    settings: dict[str, Any] = {"rate": 1.0, "duration_seconds": 1.0, **kwargs}
    with pytest.raises(ValueError, match=message):
        LoadGenerator("http://127.0.0.1:9", Workload(seed=1), **settings)


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    (command,) = loadgen_cmd.COMMANDS
    command.configure(parser)
    return command.run(parser.parse_args(argv))


def test_cli_prints_a_json_report(server: TaskServer, capsys: pytest.CaptureFixture[str]) -> None:
    code = run_cli(["--url", server.url, "--rate", "20", "--duration", "0.5", "--json", "--seed", "4",
                    "--mix", "writer=1", "--concurrency", "10"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0
    data = json.loads(out)
    assert data["sent"] == data["completed"] == 10
    assert data["statuses"] == {"200": 10}
    assert "sent 10 (20/s)" in err


def test_cli_exits_1_when_nothing_answers(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["--url", "http://127.0.0.1:9", "--rate", "10", "--duration", "0.2", "--quiet"]) == 1
    assert "error:ConnectionError" in capsys.readouterr().out


def test_several_urls_share_the_requests_in_turn(server: TaskServer) -> None:
    other = TaskServer()
    thread = threading.Thread(target=other.serve_forever, daemon=True)
    thread.start()
    try:
        report = LoadGenerator(f"{server.url}, {other.url}/", Workload(seed=1), rate=40, duration_seconds=0.5).run()
        assert report.sent == 20 == report.completed
        assert len(server.bodies) == len(other.bodies) == 10
        # A list works as well as a comma-separated string.
        LoadGenerator([server.url, other.url], Workload(seed=1), rate=40, duration_seconds=0.1).run()
        assert len(server.bodies) == len(other.bodies) == 12
    finally:
        other.shutdown()
        other.server_close()
    assert split_urls(" http://a:1/ ,http://b:2") == ["http://a:1", "http://b:2"]
    with pytest.raises(ValueError, match="at least one service URL"):
        split_urls(" , ")


def test_requests_come_from_several_clients_each_with_its_own_connection(
    server: TaskServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Four clients, one request at a time: the server sees four connections (a multi-process server
    # spreads them over its workers), where one client would reuse a single one.
    ports: set[int] = set()
    original = TaskHandler.do_POST

    def record(handler: TaskHandler) -> None:
        ports.add(handler.client_address[1])
        original(handler)

    monkeypatch.setattr(TaskHandler, "do_POST", record)
    monkeypatch.setattr(TaskHandler, "protocol_version", "HTTP/1.1")  # keep-alive, as the service
    LoadGenerator(server.url, Workload(seed=1), rate=20, duration_seconds=0.5, concurrency=1, clients=4).run()
    assert len(ports) == 4
    ports.clear()
    LoadGenerator(server.url, Workload(seed=1), rate=20, duration_seconds=0.5, concurrency=1, clients=1).run()
    assert len(ports) == 1
    with pytest.raises(ValueError, match="clients"):
        LoadGenerator(server.url, Workload(seed=1), rate=1, duration_seconds=1, clients=0)
