"""Benchmark: a cached task over HTTP against a bare Flask endpoint, same gunicorn settings.

Not a test: it measures and reports. Both apps (``bench/http_apps.py``) run
under gunicorn with the service's own configuration file
(``agent_runtime/serving/gunicorn_conf.py``: gthread workers, multiprocess
metrics for several workers, tracing from ``OTEL_*`` at 10% sampling, the
spans to a no-op exporter) and
the same ``--workers``/``--threads``. A client process keeps connections
open and sends the same ``POST /v1/tasks`` (a task whose routing and tool
calls are all cache hits once warm) for a fixed time; rounds alternate the
apps. Reported: requests per second, p50 and p99 latency, and ours as a
fraction of bare. Then, in a child process with the servers' environment,
where a request's time goes (``breakdown``): CPU microseconds per request of
each app as a whole and of each layer (Flask's request context, the request
limits, validation, ``Runtime.handle``, the result as a dict, its JSON, the
rest), the cases interleaved over rounds.

Run from the repository root::

    python bench/bench_http.py            # prints a table, writes bench/results/http.json
    python bench/bench_http.py --quick    # shorter rounds
    python bench/bench_http.py --breakdown-only --rounds 3 --count 500   # the breakdown alone, as JSON
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from profiles import profile_top  # noqa: E402

from agent_runtime.ops.stack.ports import free_port  # noqa: E402

RESULTS = REPO_ROOT / "bench" / "results" / "http.json"
APPS = ("bare", "ours")
BODY = json.dumps({"task": "echo this message number 7"}).encode()


def server_environment(app: str) -> dict[str, str]:
    """The environment a server (or the breakdown's child) runs ``app`` in; its multiprocess directory is new."""
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
    return env


def start_server(app: str, env: dict[str, str], port: int, workers: int, threads: int) -> subprocess.Popen[bytes]:
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
    stop_server(process)
    raise RuntimeError(f"gunicorn ({app}) did not answer on port {port}")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """Stop the server (by its pid) and wait for it."""
    process.terminate()
    process.wait(20)


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


def workers_cpu_seconds(server: subprocess.Popen[bytes]) -> float | None:
    """CPU seconds (user and system) the server's workers have used so far; None without Linux's /proc."""
    try:
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        total = 0
        for pid in children:
            # Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None
    return total / os.sysconf("SC_CLK_TCK")


def serve_and_drive(app: str, workers: int, threads: int, connections: int, seconds: float) -> dict[str, Any]:
    """One round: a fresh server for ``app``, warmed, then driven for ``seconds``; what the client measured,
    and the workers' CPU time per request (steadier than throughput on cores shared with other work)."""
    port = free_port()
    env = server_environment(app)
    try:
        server = start_server(app, env, port, workers, threads)
        try:
            drive(port, connections, min(1.0, seconds))  # warm: caches, connections, workers
            cpu_before = workers_cpu_seconds(server)
            run = drive(port, connections, seconds)
            cpu_after = workers_cpu_seconds(server)
            if cpu_before is not None and cpu_after is not None and run["requests"]:
                run["worker_cpu_us"] = (cpu_after - cpu_before) / run["requests"] * 1e6
            return run
        finally:
            stop_server(server)
    finally:
        shutil.rmtree(env["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def _environ(body: bytes) -> dict[str, Any]:
    """The WSGI environ gunicorn builds for the benchmark's request (its own keys included)."""
    return {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/v1/tasks",
        "QUERY_STRING": "",
        "RAW_URI": "/v1/tasks",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_SOFTWARE": "gunicorn",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "40000",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_CONNECTION": "keep-alive",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.url_scheme": "http",
        "wsgi.input_terminated": True,
    }


# The layers of a request, each timed on its own; "rest" is the whole request minus all of them: Flask's
# dispatch, the WSGI response, and what a layer costs more inside a request than alone (caches are shared).
LAYERS = (
    "flask_request_context",
    "request_limits",
    "request_validation",
    "runtime_handle",
    "result_to_dict",
    "result_encoding",
)


def breakdown(rounds: int, count: int) -> dict[str, Any]:
    """Where a request's time goes, in this process: CPU microseconds per request, whole and by layer.

    Runs in a child with the server's environment (multiprocess metrics), so
    the runtime pays what it pays in a worker. The request is the one the
    client sends, as a gunicorn environ straight into each WSGI app (no test
    client, no sockets). Each layer is timed alone inside a request context
    of its app, with the context's own cost taken off: ``Runtime.handle``
    costs more there than in a loop of its own (about 20 us: Flask's request
    and the runtime share the caches), and that belongs to it. For
    bare, validation is its ``request.get_json()`` and encoding its
    ``jsonify``. The cases alternate within every round; each figure is the
    median over rounds of CPU time (``time.thread_time``), steadier than wall
    time on shared cores.
    """
    import http_apps
    from flask import Flask, jsonify, request
    from opentelemetry.context import Context

    from agent_runtime.results import Task
    from agent_runtime.service.errors import check_request_limits
    from agent_runtime.service.state import current_state
    from agent_runtime.service.validation import json_object, parse_task

    apps: dict[str, Flask] = {"ours": http_apps.app, "bare": http_apps._bare()}
    runtime = http_apps.RUNTIMES[-1]
    text = json.loads(BODY)["task"]

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], object]:
        return len

    def whole(app: Flask) -> Callable[[], bytes]:
        def run() -> bytes:
            chunks = app(_environ(BODY), start_response)
            answer = b"".join(chunks)
            chunks.close()  # type: ignore[attr-defined]
            return answer

        return run

    def inside(app: str, work: Callable[[], object]) -> Callable[[], object]:
        def run() -> object:
            with apps[app].request_context(_environ(BODY)):
                return work()

        return run

    def validate() -> object:
        state = current_state()
        return parse_task(json_object(required=True), state.settings, agents=state.agent_names())

    def read_body() -> object:  # what bare does with the body (the proxy is only usable inside a request)
        return request.get_json()

    result = runtime.handle(Task(text))
    as_dict = result.to_dict()
    bare_answer = {"task": text, "outcome": "success", "output": text}
    cases: dict[tuple[str, str], Callable[[], object]] = {
        ("ours", "request"): whole(apps["ours"]),
        ("bare", "request"): whole(apps["bare"]),
        ("ours", "flask_request_context"): inside("ours", lambda: None),
        ("bare", "flask_request_context"): inside("bare", lambda: None),
        ("ours", "request_limits"): inside("ours", check_request_limits),
        ("ours", "request_validation"): inside("ours", validate),
        ("bare", "request_validation"): inside("bare", read_body),
        ("ours", "runtime_handle"): inside("ours", lambda: runtime.handle(Task(text), parent=Context())),
        ("ours", "result_to_dict"): inside("ours", result.to_dict),
        ("ours", "result_encoding"): inside("ours", lambda: jsonify(as_dict)),
        ("bare", "result_encoding"): inside("bare", lambda: jsonify(bare_answer)),
    }
    times: dict[tuple[str, str], list[float]] = {case: [] for case in cases}
    for _ in range(rounds):
        for case, work in cases.items():
            for _ in range(count // 10):
                work()
            started = time.thread_time()
            for _ in range(count):
                work()
            times[case].append((time.thread_time() - started) / count * 1e6)
    us = {case: statistics.median(values) for case, values in times.items()}
    out: dict[str, Any] = {
        "method": "CPU us per request (time.thread_time), median of interleaved rounds, gunicorn environ into the app",
        "rounds": rounds,
        "requests_per_round": count,
    }
    for name, app in apps.items():
        context = us[(name, "flask_request_context")]
        layers: dict[str, float] = {}
        for layer in LAYERS:
            cost = us.get((name, layer))
            if cost is None:
                layers[layer] = 0.0  # bare has no such layer
            else:
                layers[layer] = cost if layer == "flask_request_context" else cost - context
        layers["rest"] = us[(name, "request")] - sum(layers.values())
        out[f"request_{name}_us"] = round(us[(name, "request")], 1)
        out[f"layers_{name}_us"] = {layer: round(value, 1) for layer, value in layers.items()}
        out[f"response_{name}_bytes"] = len(whole(app)())
    out["profile"] = profile_top(lambda: [whole(apps["ours"])() for _ in range(3000)])
    return out


def in_process(rounds: int, count: int) -> dict[str, Any]:
    """``breakdown`` in a child process with the server's environment; its results."""
    env = server_environment("ours")
    child = Path(__file__).resolve()
    command = [sys.executable, str(child), "--breakdown-only", f"--rounds={rounds}", f"--count={count}"]
    try:
        done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=True)
    finally:
        shutil.rmtree(env["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _print_breakdown(inner: dict[str, Any]) -> None:
    ours, bare = inner["request_ours_us"], inner["request_bare_us"]
    print(f"  in one process, CPU us per request: ours {ours:.1f}, bare {bare:.1f} (ours - bare {ours - bare:.1f})")
    for name in (*LAYERS, "rest"):
        print(f"    {name:24} ours {inner['layers_ours_us'][name]:7.1f}   bare {inner['layers_bare_us'][name]:7.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="shorter rounds (a smoke run)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    parser.add_argument("--breakdown-only", action="store_true", help="print the in-process breakdown as JSON")
    parser.add_argument("--rounds", type=int, default=7, help="rounds of the in-process breakdown")
    parser.add_argument("--count", type=int, default=2000, help="requests per case and round of the breakdown")
    options = parser.parse_args(argv)
    if options.breakdown_only:
        print(json.dumps(breakdown(options.rounds, options.count)))
        return 0
    # Nine rounds, not five: with five the median ratio moved by +-4% between runs on a shared machine.
    seconds, rounds = (2.0, 2) if options.quick else (5.0, 9)
    breakdown_rounds, count = (3, 500) if options.quick else (options.rounds, options.count)

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
        cpu = [run["worker_cpu_us"] for run in runs[app] if "worker_cpu_us" in run]
        if cpu:
            summary[app]["worker_cpu_us_per_request"] = round(statistics.median(cpu), 1)
    # Each round runs the two apps back to back: the ratio within a round compares them under the same
    # load from other work on the cores, and the median over rounds drops a round that other work spoiled.
    ratios = [
        (mine["requests"] / mine["seconds"]) / (theirs["requests"] / theirs["seconds"])
        for mine, theirs in zip(runs["ours"], runs["bare"], strict=True)
    ]
    ratio = statistics.median(ratios)
    inner = in_process(breakdown_rounds, count)

    print(
        f"HTTP, gunicorn gthread {options.workers} workers x {options.threads} threads, "
        f"{options.connections} keep-alive connections, {rounds} rounds x {seconds:.0f} s"
    )
    for app in APPS:
        entry = summary[app]
        print(
            f"  {app:5} {entry['requests_per_second']:>8.1f} req/s  p50 {entry['p50_ms']:.2f} ms  "
            f"p99 {entry['p99_ms']:.2f} ms  errors {entry['errors']}  "
            f"worker CPU {entry.get('worker_cpu_us_per_request', 'n/a')} us/request"
        )
    print(f"  ours / bare throughput: {ratio:.2f}")
    _print_breakdown(inner)
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
        "round_ratios": [round(value, 3) for value in ratios],
        "in_process_us": inner,
    }
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {options.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
