"""The runtime's telemetry: the metric catalog, runtime events and their listeners, the cardinality guard,
Prometheus metrics and OpenTelemetry spans (through the API only; ``exporters/`` does the SDK set-up).
"""
