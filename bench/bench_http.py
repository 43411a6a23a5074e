"""Benchmark: a cached task over HTTP against a bare Flask endpoint, same gunicorn settings.

Not a test: it measures and reports. Both apps (``bench/http_apps.py``) run
under gunicorn with the service's own configuration file
(``agent_runtime/serving/gunicorn_conf.py``: gthread workers, multiprocess
metrics for several workers, tracing from ``OTEL_*`` at 10% sampling) and
the same ``--workers``/``--threads``. A client process keeps connections
open and sends the same ``POST /v1/tasks`` (a task whose routing and tool
calls are all cache hits once warm) for a fixed time; rounds alternate the
apps. Reported: requests per second, p50 and p99 latency, and ours as a
fraction of bare. Then, in one process, where a request's time goes: the
Flask test client for both apps, and ``Runtime.handle`` and the response's
JSON on their own.

Run from the repository root::

    python bench/bench_http.py            # prints a table, writes bench/results/http.json
    python bench/bench_http.py --quick    # shorter rounds
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from profiles import profile_top  # noqa: E402

RESULTS = REPO_ROOT / "bench" / "results" / "http.json"
APPS = ("bare", "ours")
BODY = json.dumps({"task": "echo this message number 7"}).encode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(app: str, port: int, workers: int, threads: int) -> subprocess.Popen[bytes]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    env.update(
        {
            "BENCH_HTTP_APP": app,
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.1",
            "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{REPO_ROOT / 'bench'}",
            "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="bench-http-"),
        }
    )
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        str(REPO_ROOT / "agent_runtime" / "serving" / "gunicorn_conf.py"),
        f"--workers={workers}",
        f"--threads={threads}",
        f"--bind=127.0.0.1:{port}",
        "--log-level=warning",
        "http_apps:app",
    ]
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            status, _ = request_once(port)
            if status == 200:
                return process
        except OSError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError(f"gunicorn ({app}) did not answer on port {port}")


def _request_bytes(port: int) -> bytes:
    return (
        f"POST /v1/tasks HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(BODY)}\r\nConnection: keep-alive\r\n\r\n"
    ).encode() + BODY


def _read_response(sock: socket.socket, buffer: bytearray) -> int:
    """Read one response from ``sock`` (``buffer`` keeps what follows it); its status."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        rest += chunk
    buffer[:] = rest[length:]
    return status


def request_once(port: int) -> tuple[int, float]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        started = time.perf_counter()
        sock.sendall(_request_bytes(port))
        status = _read_response(sock, bytearray())
        return status, time.perf_counter() - started


def drive(port: int, connections: int, seconds: float) -> dict[str, Any]:
    """``connections`` keep-alive connections sending back to back for ``seconds``."""
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors = [0]
    stop = time.monotonic() + seconds
    payload = _request_bytes(port)

    def client(index: int) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        buffer = bytearray()
        clock = time.perf_counter
        mine = latencies[index]
        try:
            while time.monotonic() < stop:
                started = clock()
                sock.sendall(payload)
                if _read_response(sock, buffer) != 200:
                    errors[0] += 1
                mine.append(clock() - started)
        finally:
            sock.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(connections)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    flat = [value for values in latencies for value in values]
    return {"requests": len(flat), "seconds": elapsed, "errors": errors[0], "latencies": flat}


def serve_and_drive(app: str, workers: int, threads: int, connections: int, seconds: float) -> dict[str, Any]:
    port = free_port()
    server = start_server(app, port, workers, threads)
    try:
        drive(port, connections, min(1.0, seconds))  # warm: caches, connections, workers
        return drive(port, connections, seconds)
    finally:
        server.terminate()
        server.wait(20)


def in_process() -> dict[str, Any]:
    """Where the time goes, in one process: per-request microseconds of each layer."""
    os.environ["BENCH_HTTP_APP"] = "ours"
    import http_apps
    from flask import Flask

    from agent_runtime.results import Task

    ours: Flask = http_apps.app
    bare: Flask = http_apps._bare()
    runtime = http_apps.RUNTIMES[-1] if http_apps.RUNTIMES else None
    body = {"task": "echo this message number 7"}

    def per_request(app: Flask, count: int) -> float:
        client = app.test_client()
        for _ in range(200):
            client.post("/v1/tasks", json=body)
        started = time.perf_counter()
        for _ in range(count):
            client.post("/v1/tasks", json=body)
        return (time.perf_counter() - started) / count * 1e6

    result: dict[str, Any] = {}
    rounds = {"ours": [], "bare": []}
    for _ in range(3):
        rounds["ours"].append(per_request(ours, 2000))
        rounds["bare"].append(per_request(bare, 2000))
    client = ours.test_client()
    result["profile"] = profile_top(lambda: [client.post("/v1/tasks", json=body) for _ in range(3000)])
    result["flask_test_client_ours_us"] = round(min(rounds["ours"]), 1)
    result["flask_test_client_bare_us"] = round(min(rounds["bare"]), 1)
    if runtime is not None:
        task = Task(body["task"])
        handle_times, json_times = [], []
        for _ in range(3):
            started = time.perf_counter()
            for _ in range(2000):
                runtime.handle(task)
            handle_times.append((time.perf_counter() - started) / 2000 * 1e6)
            answer = runtime.handle(task)
            with ours.app_context():
                from flask import jsonify

                started = time.perf_counter()
                for _ in range(2000):
                    jsonify(answer.to_dict())
                json_times.append((time.perf_counter() - started) / 2000 * 1e6)
        result["runtime_handle_us"] = round(min(handle_times), 1)
        result["result_to_json_us"] = round(min(json_times), 1)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="shorter rounds (a smoke run)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    options = parser.parse_args(argv)
    seconds, rounds = (2.0, 2) if options.quick else (6.0, 3)

    runs: dict[str, list[dict[str, Any]]] = {app: [] for app in APPS}
    for number in range(rounds):
        order = APPS if number % 2 == 0 else APPS[::-1]
        for app in order:
            runs[app].append(serve_and_drive(app, options.workers, options.threads, options.connections, seconds))
    summary: dict[str, Any] = {}
    for app in APPS:
        latencies = [value for run in runs[app] for value in run["latencies"]]
        throughputs = [run["requests"] / run["seconds"] for run in runs[app]]
        summary[app] = {
            "requests_per_second": round(statistics.median(throughputs), 1),
            "p50_ms": round(statistics.median(latencies) * 1e3, 3),
            "p99_ms": round(statistics.quantiles(latencies, n=100)[-1] * 1e3, 3),
            "errors": sum(run["errors"] for run in runs[app]),
            "requests": len(latencies),
        }
    ratio = summary["ours"]["requests_per_second"] / summary["bare"]["requests_per_second"]
    breakdown = in_process()

    print(
        f"HTTP, gunicorn gthread {options.workers} workers x {options.threads} threads, "
        f"{options.connections} keep-alive connections, {rounds} rounds x {seconds:.0f} s"
    )
    for app in APPS:
        entry = summary[app]
        print(
            f"  {app:5} {entry['requests_per_second']:>8.1f} req/s  p50 {entry['p50_ms']:.2f} ms  "
            f"p99 {entry['p99_ms']:.2f} ms  errors {entry['errors']}"
        )
    print(f"  ours / bare throughput: {ratio:.2f}")
    print(f"  in one process (us per request): { {k: v for k, v in breakdown.items() if k != 'profile'} }")
    report = {
        "benchmark": "http",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "quick": options.quick,
        "workers": options.workers,
        "threads": options.threads,
        "connections": options.connections,
        "seconds_per_round": seconds,
        "rounds": rounds,
        "apps": summary,
        "ours_over_bare_throughput": round(ratio, 3),
        "in_process_us": breakdown,
    }
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {options.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
