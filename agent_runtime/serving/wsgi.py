"""The WSGI entry point: ``gunicorn -c agent_runtime/serving/gunicorn_conf.py agent_runtime.serving.wsgi:app``.

Importing this module builds the runtime (``$AGENT_RUNTIME_CONFIG`` or the
bundled configuration), sets up tracing from ``OTEL_*`` variables with the
runtime's metrics counting dropped spans, and creates the Flask app. Under
gunicorn it is imported in each worker after ``post_fork`` (see
``agent_runtime.serving.gunicorn_conf``), which already started the worker's tracing;
the call here then only attaches the metrics.
"""

from __future__ import annotations

import atexit

from agent_runtime.bootstrap import build_runtime
from agent_runtime.service import create_app
from exporters.otlp import configure_tracing_from_env

runtime = build_runtime()
configure_tracing_from_env(runtime.metrics)
app = create_app(runtime)
atexit.register(runtime.close)
