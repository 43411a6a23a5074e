"""Telemetry outlets: Prometheus exposition and OpenTelemetry SDK set-up."""
