"""Fixtures for integration tests against real binaries."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.prometheus import PrometheusServer


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """A real Prometheus scraping itself every second, with at least one ``up`` sample.

    Shared by the tests of one module, because Prometheus applies scrape
    targets only about five seconds after it starts: treat it as read-only,
    and start your own ``PrometheusServer`` to load rules or reload config.
    """
    server = PrometheusServer(tmp_path_factory.mktemp("prometheus"))
    with server:
        server.wait_for('up{job="prometheus"}')
        yield server


# Appended with the fixture below, rather than edited into the imports above.
from tests.support.llama import LlamaServer  # noqa: E402


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """A real ``llama-server --metrics`` serving Gemma 3 270M (the local-llm extra), shared by the session.

    Skips with the pip command when the extra is not installed (fails under CI=true).
    It has one slot: requests queue, so keep ``max_tokens`` small.
    """
    with LlamaServer(tmp_path_factory.mktemp("llama")) as server:
        yield server
