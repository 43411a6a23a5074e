"""Observability as code: Prometheus rules and Grafana dashboards generated from Python."""
