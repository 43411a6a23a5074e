"""The two WSGI apps ``bench/bench_http.py`` serves with the same gunicorn settings.

``ours``: the service (``agent_runtime.service.create_app``) around a runtime
whose tasks are all answered from cache once warm (the hot-path benchmark's
agents, with in-process ``inline`` tools), metrics on, tracing from the
``OTEL_*`` variables as in production (the benchmark samples 10%), its spans
through the bounded batch processor to a no-op exporter, as in the hot-path
benchmark: no collector runs beside it. ``bare``: a Flask endpoint that reads
the same JSON body and answers a JSON object, nothing else: the floor.

Imported by gunicorn in each worker (``bench.http_apps:ours`` /
``bench.http_apps:bare``); ``BENCH_HTTP_APP`` picks which app is built, so the
other costs nothing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from flask import Flask, jsonify, request

WHICH = os.environ.get("BENCH_HTTP_APP", "ours")
RUNTIMES: list[Any] = []  # the runtime behind each ``_ours`` app (for the in-process breakdown)


def _bare() -> Flask:
    app = Flask("bare")

    @app.post("/v1/tasks")
    def task() -> Any:
        body = request.get_json()
        return jsonify({"task": body.get("task"), "outcome": "success", "output": body.get("task")})

    return app


def _ours() -> Flask:
    from bench_hotpath import NoopExporter, config, tools
    from prometheus_client import REGISTRY

    from agent_runtime.config.loader import parse_config
    from agent_runtime.runtime import Runtime
    from agent_runtime.service import ServiceSettings, create_app
    from exporters.otlp import configure_tracing_from_env

    runtime = Runtime(parse_config(config()), tools=tools(), metrics_registry=REGISTRY)
    # Without an OTLP endpoint (none is set) tracing would be off: spans go to a no-op exporter instead.
    configure_tracing_from_env(runtime.metrics, span_exporter=NoopExporter())
    flask_app = create_app(runtime, ServiceSettings())
    RUNTIMES.append(runtime)
    return flask_app


app = _ours() if WHICH == "ours" else _bare()
