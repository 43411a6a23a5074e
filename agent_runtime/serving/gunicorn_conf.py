"""Gunicorn configuration for the agent runtime service (``agent-runtime serve``).

    gunicorn -c agent_runtime/serving/gunicorn_conf.py agent_runtime.serving.wsgi:app --workers 4 --bind 127.0.0.1:8080

What it adds to gunicorn:

- prometheus_client multiprocess mode whenever several workers (or a
  recycled one, ``--max-requests``) share the counters: the directory comes
  from ``PROMETHEUS_MULTIPROC_DIR`` or is created (and removed at exit), is
  emptied when the server starts, and workers write per-slot files so the
  file count stays bounded however often workers are recycled
  (``exporters.multiprocess``);
- trace-id exemplars on the merged histograms: each worker keeps its
  exemplars in memory and a background thread publishes them to the slot's
  exemplar file (``exporters.exemplars``), once more when the worker exits;
- tracing configured in each worker after fork (``post_fork``), since the
  span export thread does not survive ``fork``, and flushed (bounded) when
  the worker exits.
- the runtime's own log lines (``agent_runtime.*``, ``exporters.*``: a cache
  layer degraded or recovered, span export failing or recovered, admin
  actions) on stderr beside gunicorn's, at its ``--log-level``: without a
  handler, Python prints only warnings.

The app is loaded in each worker, after fork (``preload_app`` stays off): the
metric files and the export thread must belong to the worker.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from agent_runtime.telemetry.metric_batches import flush_pending
from exporters import multiprocess
from exporters.otlp import configure_tracing_from_env, current_handle

_log = logging.getLogger("exporters.gunicorn")

# The attribute the master stores a worker's metrics slot in.
SLOT_ATTRIBUTE = "agent_runtime_metrics_slot"

preload_app = False
worker_class = "gthread"
# Above the runtime's default in-flight limit (24, config/default.yaml): a saturated
# worker then rejects tasks with 429 and still answers /metrics and /healthz.
threads = 32
timeout = 60
graceful_timeout = 15
# gunicorn 24+ opens a control socket at one fixed per-user path, which two
# servers on a host (or tests in parallel) would fight over; signals suffice.
control_socket_disable = True
# Request limits. Gunicorn answers a request over its own limits itself, in HTML,
# before the app sees it. So the service's limits (agent_runtime/service/errors.py:
# a 4094-byte request target, 8190-byte header fields, 64 header fields) are the
# ones that apply, answered in JSON (414 uri_too_long, 431 header_field_too_large or
# too_many_header_fields), and gunicorn's sit above them as a backstop against
# abuse: a request line over 8190 bytes (gunicorn's maximum) is gunicorn's HTML 414,
# a header field over 16380 bytes or more than 128 fields its HTML 431 (docs/security.md).
limit_request_line = 8190
limit_request_fields = 128
limit_request_field_size = 16380

# The multiprocess directory this master created (and removes on exit).
_created_dir: list[Path] = []


def _slot(worker: Any) -> int | None:
    slot = getattr(worker, SLOT_ATTRIBUTE, None)
    return slot if isinstance(slot, int) else None


_LOGGERS = ("agent_runtime", "exporters")
_LOG_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"


def _route_logs(level_name: str) -> None:
    """Print the runtime's loggers on stderr at ``level_name`` (gunicorn's) in gunicorn's format; workers inherit it."""
    level = logging.getLevelName(level_name.upper())
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(_LOG_FORMAT, "%Y-%m-%d %H:%M:%S %z"))
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if logger.handlers:
            continue  # configured by the embedding application: leave it as it is
        logger.addHandler(handler)
        logger.setLevel(level if isinstance(level, int) else logging.INFO)
        logger.propagate = False


def on_starting(server: Any) -> None:
    """Master, before any worker: route the runtime's logs; choose, export and empty the multiprocess directory."""
    _route_logs(str(server.cfg.loglevel))
    path, created = multiprocess.prepare_directory(server.cfg.workers, server.cfg.max_requests)
    if path is not None and created:
        _created_dir.append(path)


def pre_fork(server: Any, worker: Any) -> None:
    """Master: give the new worker the lowest metrics slot no unreaped worker holds."""
    if multiprocess.multiprocess_dir() is not None:
        slot = multiprocess.assign_slot(_slot(other) for other in server.WORKERS.values())
        setattr(worker, SLOT_ATTRIBUTE, slot)


def post_fork(server: Any, worker: Any) -> None:
    """Worker, before the app loads: write the slot's metric and exemplar files; start this worker's span export."""
    slot = _slot(worker)
    if slot is not None:
        multiprocess.use_slot(slot)
        _log.info("worker %s writes metrics slot %s", worker.pid, multiprocess.slot_identifier(slot))
    # The runtime's metrics are attached when agent_runtime.serving.wsgi builds the runtime.
    configure_tracing_from_env()


def worker_exit(server: Any, worker: Any) -> None:
    """Worker, on its way out (recycled or stopped): fold in batched observations, publish its exemplars,
    export queued spans, within a bound."""
    # Histogram observations are batched (up to a second): write the last ones before the slot is released.
    flush_pending()
    if _slot(worker) is not None:
        multiprocess.release_slot()
    handle = current_handle()
    if handle is not None:
        handle.shutdown()


def child_exit(server: Any, worker: Any) -> None:
    """Master, once a worker is reaped: drop its live gauges (in-flight tasks, breaker state)."""
    slot = _slot(worker)
    if slot is not None:
        multiprocess.mark_slot_dead(slot)


def on_exit(server: Any) -> None:
    """Master, last: remove the multiprocess directory if this server created it."""
    while _created_dir:
        multiprocess.remove_directory(_created_dir.pop())
