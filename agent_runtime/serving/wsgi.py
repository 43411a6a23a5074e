"""The WSGI entry point: ``gunicorn -c agent_runtime/serving/gunicorn_conf.py agent_runtime.serving.wsgi:app``.

Importing this module builds the runtime (``$AGENT_RUNTIME_CONFIG`` or the
bundled configuration), sets up tracing from ``OTEL_*`` variables with the
runtime's metrics counting dropped spans, and creates the Flask app. Under
gunicorn it is imported in each worker after ``post_fork`` (see
``agent_runtime.serving.gunicorn_conf``), which already started the worker's tracing;
the call here then only attaches the metrics.

Last, the start-up heap (configuration, search indexes, collectors: alive
as long as the worker) is moved out of the garbage collector's reach with
``gc.freeze()``. Otherwise every full collection, which any request's
allocations eventually trigger, traverses it: about 80 ms for the default
configuration, the p95 of a merged ``/metrics`` scrape (115 ms, against a
30 ms median; 33 ms frozen, ``bench/bench_telemetry.py``) and a pause for
every task running at that moment.
"""

from __future__ import annotations

import atexit
import gc

from agent_runtime.bootstrap import build_runtime
from agent_runtime.service import create_app
from exporters.otlp import configure_tracing_from_env

runtime = build_runtime()
configure_tracing_from_env(runtime.metrics)
app = create_app(runtime)
atexit.register(runtime.close)
gc.collect()  # start-up garbage is collected, not frozen
gc.freeze()
