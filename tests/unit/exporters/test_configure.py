"""configure_tracing_from_env: what the OTEL_* variables turn on, and what they leave off."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import textwrap
import time

import pytest
from opentelemetry import trace

from agent_runtime.ops.stack.ports import free_port
from exporters import tracer_switch
from exporters.otlp import configure_tracing_from_env, current_handle
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.tracing import record_spans

pytest_plugins = ["tests.support.telemetry_fixtures"]


def _span(name: str) -> None:
    with trace.get_tracer("test").start_as_current_span(name):
        pass


def test_without_an_endpoint_nothing_is_installed_not_even_the_sdk() -> None:
    # A fresh interpreter: the test process has long imported the SDK.
    code = textwrap.dedent(
        """
        import os, sys
        for name in list(os.environ):
            if name.startswith("OTEL_"):
                del os.environ[name]
        from opentelemetry import trace
        from exporters.otlp import configure_tracing_from_env
        assert configure_tracing_from_env() is None
        assert "opentelemetry.sdk.trace" not in sys.modules, "the SDK was imported"
        with trace.get_tracer("t").start_as_current_span("s") as span:
            assert not span.is_recording()
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.stdout.strip() == "ok", result.stderr


def test_sdk_disabled_wins_over_an_endpoint(otel_env: pytest.MonkeyPatch, otlp_receiver: OtlpReceiver) -> None:
    otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver.base_url)
    otel_env.setenv("OTEL_SDK_DISABLED", "true")
    assert configure_tracing_from_env() is None
    assert tracer_switch.active() is None


def test_spans_reach_the_receiver_with_resource_headers_and_path(
    otel_env: pytest.MonkeyPatch, otlp_receiver: OtlpReceiver
) -> None:
    otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver.base_url + "/")
    otel_env.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=blue,authorization=Bearer%20t0ken")
    otel_env.setenv("OTEL_SERVICE_NAME", "runtime-under-test")
    otel_env.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test,service.name=ignored")
    handle = configure_tracing_from_env()
    assert handle is not None
    assert handle.destination == otlp_receiver.traces_url
    _span("hello")
    assert handle.force_flush(5)
    (span,) = otlp_receiver.wait_for_spans(lambda spans: len(spans) == 1)
    assert span.name == "hello"
    assert span.resource["service.name"] == "runtime-under-test"
    assert span.resource["deployment.environment"] == "test"
    assert span.resource["service.version"]
    (request,) = otlp_receiver.requests()
    assert request.path == "/v1/traces"
    assert request.headers["x-tenant"] == "blue"
    assert request.headers["authorization"] == "Bearer t0ken"
    assert request.headers["content-type"] == "application/x-protobuf"


def test_the_default_service_name_is_the_runtimes(otel_env: pytest.MonkeyPatch) -> None:
    handle, _ = record_spans()
    assert handle.provider.resource.attributes["service.name"] == "agent-runtime"


def test_the_traces_endpoint_is_used_as_is(otel_env: pytest.MonkeyPatch, otlp_receiver: OtlpReceiver) -> None:
    otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9/not-this-one")
    otel_env.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", otlp_receiver.base_url + "/custom/path")
    handle = configure_tracing_from_env()
    assert handle is not None
    _span("s")
    handle.force_flush(5)
    assert [r.path for r in otlp_receiver.requests()] == ["/custom/path"]


def test_the_sdk_reads_the_sampler_variables(otel_env: pytest.MonkeyPatch) -> None:
    otel_env.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    otel_env.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
    handle, exporter = record_spans()
    assert "TraceIdRatioBased{0.25}" in handle.provider.sampler.get_description()
    for _ in range(2000):
        _span("root")
    assert handle.force_flush(5)
    sampled = len(exporter.get_finished_spans())
    assert 350 < sampled < 650, f"{sampled} of 2000 root spans sampled at ratio 0.25"


def test_configured_once_per_process_until_shutdown(otel_env: pytest.MonkeyPatch) -> None:
    handle, exporter = record_spans()
    assert configure_tracing_from_env() is handle
    assert current_handle() is handle
    handle.shutdown()
    assert current_handle() is None and not handle.active
    _span("while off")
    again, again_exporter = record_spans()
    assert again is not handle
    _span("again")
    assert again.force_flush(5)
    assert [s.name for s in again_exporter.get_finished_spans()] == ["again"]
    assert exporter.get_finished_spans() == ()


def _child_state(queue: multiprocessing.Queue[tuple[bool, bool]]) -> None:
    handle = current_handle()
    fresh, _ = record_spans()
    queue.put((handle is None, fresh.pid == __import__("os").getpid()))


def test_a_forked_child_forgets_the_inherited_setup_and_can_configure_its_own(otel_env: pytest.MonkeyPatch) -> None:
    parent, _ = record_spans()
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[tuple[bool, bool]] = context.Queue()
    child = context.Process(target=_child_state, args=(queue,))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert queue.get(timeout=5) == (True, True)
    assert current_handle() is parent, "the parent keeps its own set-up"


def test_grpc_exports_to_a_dead_collector_are_bounded_and_counted(otel_env: pytest.MonkeyPatch) -> None:
    otel_env.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    otel_env.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "0.5")
    handle = configure_tracing_from_env()
    assert handle is not None
    _span("lost")
    started = time.perf_counter()
    handle.force_flush(10)
    assert time.perf_counter() - started < 3
    stats = handle.stats()
    assert (stats.failed_exports, stats.dropped_spans, stats.exported_spans) == (1, 1, 0)
