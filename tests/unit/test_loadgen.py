"""The load generator: task distribution, open-loop pacing, bounds and the report, against a loopback server."""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from agent_runtime.bootstrap import build_runtime
from agent_runtime.builtin_tools import BuiltinToolSettings, LlmSettings
from agent_runtime.cli import loadgen_cmd
from agent_runtime.ops.loadgen import (
    LoadGenerator,
    LoadReport,
    Workload,
    build_intents,
    parse_mix,
    progress_line,
    split_urls,
)

DEFAULT_CONFIG = str(Path(__file__).resolve().parents[2] / "agent_runtime" / "config" / "default.yaml")


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


def test_the_same_seed_gives_the_same_tasks() -> None:
    one, two = Workload(seed=3), Workload(seed=3)
    assert [one.next_task() for _ in range(50)] == [two.next_task() for _ in range(50)]
    assert [one.next_task() for _ in range(50)] != [Workload(seed=4).next_task() for _ in range(50)]


def test_popularity_is_skewed_and_paraphrases_recur() -> None:
    workload = Workload({"diagnostics": 1.0}, seed=1)
    texts = Counter(workload.next_task()["task"] for _ in range(4000))
    intents = {p: intent for intent in build_intents("diagnostics") for p in intent.phrasings}
    by_intent: Counter[str] = Counter()
    for text, count in texts.items():
        by_intent[intents[text].slot + intents[text].phrasings[0]] += count
    ranked = [count for _, count in by_intent.most_common()]
    # Zipf: the most popular intent is asked far more often than the median one.
    assert ranked[0] > 8 * ranked[len(ranked) // 2]
    top_intent = intents[texts.most_common(1)[0][0]]
    assert sum(1 for p in top_intent.phrasings if texts[p] > 0) == len(top_intent.phrasings)


def test_the_mix_sets_the_share_of_each_family() -> None:
    workload = Workload({"diagnostics": 3, "writer": 1}, seed=5)
    family_of = {p: f for f in ("diagnostics", "writer") for i in build_intents(f) for p in i.phrasings}
    counts = Counter(family_of[workload.next_task()["task"]] for _ in range(4000))
    assert set(counts) == {"diagnostics", "writer"}
    assert 0.70 < counts["diagnostics"] / 4000 < 0.80


def test_fetcher_tasks_carry_a_url_and_need_a_base() -> None:
    assert "fetcher" not in Workload(seed=1).families
    workload = Workload({"fetcher": 1}, seed=1, fetch_base="http://127.0.0.1:9/pages/")
    task = workload.next_task()
    assert task["context"]["url"].startswith("http://127.0.0.1:9/pages/")
    with pytest.raises(ValueError, match="fetcher needs fetch_base"):
        Workload({"fetcher": 1})


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


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("diagnostics", "FAMILY=WEIGHT"),
        ("cooking=1", "FAMILY=WEIGHT"),
        ("writer=lots", "must be a number"),
        ("writer=-1", "must be >= 0"),
        ("writer=0", "at least one family"),
    ],
)
def test_parse_mix_explains_bad_input(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_mix(text)


def test_parse_mix() -> None:
    assert parse_mix("diagnostics=0.4, writer=0.6") == {"diagnostics": 0.4, "writer": 0.6}


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


def test_each_family_routes_to_the_agent_it_is_written_for(tmp_path: Path) -> None:
    # The workload's mix means something only if the bundled agents route its tasks as labelled.
    settings = BuiltinToolSettings(index_path=str(tmp_path / "index.sqlite"))
    runtime = build_runtime(DEFAULT_CONFIG, metrics_registry=None, builtin_settings=settings)
    try:
        for family in ("diagnostics", "researcher", "fetcher", "writer"):
            for intent in build_intents(family):
                for text in intent.phrasings:
                    decision = runtime.route(text)
                    assert (decision.agent, decision.source) in {(family, "scored"), (family, "cache"),
                                                                 (family, "similar")}, text  # fmt: skip
                    assert decision.confidence > 0.5, text
        for intent in build_intents("offtopic")[::37]:
            decision = runtime.route(intent.phrasings[0])
            assert decision.confidence < 0.5, intent.phrasings[0]
    finally:
        runtime.close()


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


def test_a_share_of_fresh_tasks_is_new_text_every_time() -> None:
    known = {p for intent in build_intents("writer") for p in intent.phrasings}
    half = Workload({"writer": 1}, seed=2, fresh_share=0.5)
    tasks = [half.next_task()["task"] for _ in range(400)]
    fresh = [t for t in tasks if t not in known]
    assert 150 < len(fresh) < 250
    assert len(set(fresh)) == len(fresh)
    assert all(any(t.startswith(p) for p in known) for t in fresh)
    every = Workload({"writer": 1}, seed=2, fresh_share=1.0)
    assert all(every.next_task()["task"] not in known for _ in range(20))
    with pytest.raises(ValueError, match="fresh_share"):
        Workload(fresh_share=1.5)


def test_investigator_tasks_route_to_the_llm_agent_when_a_model_is_configured(tmp_path: Path) -> None:
    # The bundled investigator is an llm agent: it is configured only with a model (never called here).
    settings = BuiltinToolSettings(index_path=str(tmp_path / "index.sqlite"),
                                   llm=LlmSettings(base_url="http://127.0.0.1:9/v1", model="m"))  # fmt: skip
    runtime = build_runtime(DEFAULT_CONFIG, metrics_registry=None, builtin_settings=settings)
    try:
        for intent in build_intents("investigator"):
            for text in intent.phrasings:
                decision = runtime.route(text)
                assert decision.agent == "investigator", (text, decision.explanation)
                assert decision.confidence > 0.5, text
    finally:
        runtime.close()
