"""OTLP settings from OTEL_* variables: endpoint suffix rules, protocol, headers, timeouts, queue."""

from __future__ import annotations

import logging

import pytest

from exporters.otlp_settings import (
    DEFAULT_EXPORT_TIMEOUT_SECONDS,
    OtlpSettings,
    QueueSettings,
    traces_endpoint,
)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, "http://collector:4318/v1/traces"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}, "http://collector:4318/v1/traces"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "https://gw/otlp"}, "https://gw/otlp/v1/traces"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "https://gw/otlp/"}, "https://gw/otlp/v1/traces"),
        # The signal-specific endpoint is used exactly as given, no suffix added.
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/custom"}, "http://c:4318/custom"),
        (
            {
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:4318/v1/traces",
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://b",
            },
            "http://t:4318/v1/traces",
        ),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "  ", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://b"}, "http://b/v1/traces"),
        ({}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ""}, None),
    ],
)
def test_http_endpoint_follows_the_spec_suffix_rules(environ: dict[str, str], expected: str | None) -> None:
    assert traces_endpoint(environ, "http/protobuf") == expected


def test_grpc_endpoints_are_used_as_given() -> None:
    settings = OtlpSettings.from_env(
        {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}
    )
    assert settings is not None
    assert (settings.protocol, settings.endpoint) == ("grpc", "http://c:4317")


def test_signal_protocol_overrides_the_general_one() -> None:
    settings = OtlpSettings.from_env(
        {
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
        }
    )
    assert settings is not None
    assert (settings.protocol, settings.endpoint) == ("http/protobuf", "http://c:4318/v1/traces")


def test_unsupported_protocol_falls_back_to_http_protobuf_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        settings = OtlpSettings.from_env(
            {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}
        )
    assert settings is not None and settings.protocol == "http/protobuf"
    assert "http/json" in caplog.text


def test_headers_are_parsed_and_the_signal_variable_wins() -> None:
    settings = OtlpSettings.from_env(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c",
            "OTEL_EXPORTER_OTLP_HEADERS": "x-general=1",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "Authorization=Bearer%20abc,x-tenant=t1",
        }
    )
    assert settings is not None
    assert dict(settings.headers) == {"authorization": "Bearer abc", "x-tenant": "t1"}


def test_timeout_defaults_short_and_is_capped_by_the_bsp_export_timeout() -> None:
    base = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}
    default = OtlpSettings.from_env(base)
    assert default is not None and default.timeout_seconds == DEFAULT_EXPORT_TIMEOUT_SECONDS
    explicit = OtlpSettings.from_env(
        {**base, "OTEL_EXPORTER_OTLP_TIMEOUT": "7", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "0.5"}
    )
    assert explicit is not None and explicit.timeout_seconds == 0.5
    capped = OtlpSettings.from_env({**base, "OTEL_EXPORTER_OTLP_TIMEOUT": "10000", "OTEL_BSP_EXPORT_TIMEOUT": "3000"})
    assert capped is not None and capped.timeout_seconds == 3.0


def test_queue_settings_from_env_and_bad_values_fall_back(caplog: pytest.LogCaptureFixture) -> None:
    assert QueueSettings.from_env({}) == QueueSettings()
    settings = QueueSettings.from_env(
        {"OTEL_BSP_MAX_QUEUE_SIZE": "100", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "10", "OTEL_BSP_SCHEDULE_DELAY": "250"}
    )
    assert (settings.max_queue_size, settings.max_export_batch_size, settings.schedule_delay_seconds) == (100, 10, 0.25)
    with caplog.at_level(logging.WARNING):
        bad = QueueSettings.from_env({"OTEL_BSP_MAX_QUEUE_SIZE": "lots", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "0"})
    assert bad == QueueSettings()
    assert "OTEL_BSP_MAX_QUEUE_SIZE" in caplog.text
    clamped = QueueSettings.from_env({"OTEL_BSP_MAX_QUEUE_SIZE": "8", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "64"})
    assert (clamped.max_queue_size, clamped.max_export_batch_size) == (8, 8)
