"""``GET /metrics``: the Prometheus exposition of the runtime's metrics.

Content negotiation follows prometheus_client: ``Accept:
application/openmetrics-text`` gets OpenMetrics (with trace-id exemplars on
latency histograms), anything else the classic text format. Under gunicorn
with ``PROMETHEUS_MULTIPROC_DIR`` set, every worker writes its samples to that
directory and a scrape merges them with a ``MultiProcessCollector`` on a fresh
registry (the documented prometheus_client pattern), whichever worker answers
(it folds in its own batched events first; the other workers' are at most
``FLUSH_SECONDS`` late, see ``telemetry.metric_batches``); for OpenMetrics,
``exporters.exemplars`` puts the exemplars the workers published back on the
merged buckets.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Final

from flask import Blueprint, Response, request
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from agent_runtime.service.state import current_state
from agent_runtime.telemetry.metric_batches import flush_pending

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
OPENMETRICS: Final = "application/openmetrics-text"

logger = logging.getLogger(__name__)
blueprint = Blueprint("metrics", __name__)

_warned_lock = threading.Lock()
_warned: set[str] = set()


def _warn_once(directory: str) -> None:
    with _warned_lock:
        if directory in _warned:
            return
        _warned.add(directory)
    logger.warning(
        "%s=%s is not a directory: /metrics serves this process's metrics only; create it or unset the variable",
        MULTIPROC_ENV,
        directory,
    )


def scrape_registry(*, exemplars: bool = False) -> CollectorRegistry:
    """The registry a scrape reads: merged worker files, else the runtime's registry or the default one.

    ``exemplars``: merged histogram buckets carry the exemplars the workers
    published (for OpenMetrics; the classic text format cannot show them).
    A multiprocess directory that is missing degrades to this process's
    metrics (logged once) rather than failing every scrape.
    """
    directory = os.environ.get(MULTIPROC_ENV)
    if directory:
        if os.path.isdir(directory):
            flush_pending()  # this worker's batched events, into its file before the files are read
            registry = CollectorRegistry()
            if exemplars:
                from exporters.exemplars import ExemplarMultiProcessCollector

                ExemplarMultiProcessCollector(registry, directory)
            else:
                MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
            return registry
        _warn_once(directory)
    metrics = current_state().runtime.metrics
    return metrics.registry if metrics is not None else REGISTRY


@blueprint.get("/metrics")
def metrics() -> Response:
    """Every series in the exposition format the scraper asked for."""
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    openmetrics = content_type.startswith(OPENMETRICS)
    return Response(encoder(scrape_registry(exemplars=openmetrics)), content_type=content_type)
