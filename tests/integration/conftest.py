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
