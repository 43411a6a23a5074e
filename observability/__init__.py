"""Observability as code: the agent runtime's on-call kit, generated from one Python source.

``ObservabilityConfig`` (``observability.config``) holds every selector,
threshold, window and SLO target. From it, ``python -m observability
generate`` renders:

- Prometheus recording and alerting rules (``prometheus/rules/*.yml``) and
  their promtool unit tests (``prometheus/tests/*.yml``);
- Grafana dashboards (``grafana/dashboards/*.json``, grafana-foundation-sdk);
- one runbook per alert plus an index (``runbooks/*.md``).

This package imports only the standard library and the metric catalog at
import time; the dashboard SDK is needed only to generate dashboards.
"""

from __future__ import annotations

from observability.config import DEFAULT_CONFIG, ObservabilityConfig

__all__ = ["DEFAULT_CONFIG", "ObservabilityConfig"]
