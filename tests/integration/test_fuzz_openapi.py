"""Fuzzing the HTTP service from its own OpenAPI document, with schemathesis.

Schemathesis reads ``/openapi.json`` from the real service (werkzeug on a
loopback port, over the deterministic test runtime of ``service_fixtures``)
and sends generated requests, valid and invalid, to every operation, in
three deployments:

- ``anonymous``: no admin token configured (admin endpoints answer 403);
- ``admin``: a token configured and sent with every request;
- ``faults``: token sent and fault injection on (``AGENT_RUNTIME_FAULTS=1``);
  every fault a generated request injects is cleared after it.

Each response must not be a 5xx and must match the response schema the
document declares for its status (``not_a_server_error`` and
``response_schema_conformance``). The run is bounded (about two minutes on a
loaded machine): ``AGENT_RUNTIME_FUZZ_EXAMPLES`` examples per operation and
deployment (default 100, about 40 seconds here), no deadline, a fixed seed;
raise it for a longer hunt.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, settings
from prometheus_client import CollectorRegistry

from agent_runtime.config.loader import parse_config
from agent_runtime.runtime import Runtime
from agent_runtime.service import ServiceSettings, create_app
from tests.integration.service_fixtures import ADMIN_TOKEN, TEST_CONFIG, Gate, make_tools, serve
from tests.support.binaries import in_ci

try:
    import schemathesis
    from schemathesis.checks import not_a_server_error, response_schema_conformance
except ImportError:  # pragma: no cover - the test extra installs it
    if in_ci():
        raise
    pytest.skip("schemathesis is not installed: pip install -e '.[test]'", allow_module_level=True)

EXAMPLES = int(os.environ.get("AGENT_RUNTIME_FUZZ_EXAMPLES") or 100)
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
DEPLOYMENTS = {
    "anonymous": {},
    "admin": {"AGENT_RUNTIME_ADMIN_TOKEN": ADMIN_TOKEN},
    "faults": {"AGENT_RUNTIME_ADMIN_TOKEN": ADMIN_TOKEN, "AGENT_RUNTIME_FAULTS": "1"},
}


@dataclass
class Deployment:
    """A running service, the headers every fuzzed request carries, and what to undo after each."""

    name: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)

    def reset(self) -> None:
        if self.name == "faults":
            cleared = requests.delete(self.url + "/v1/faults", headers=AUTH, timeout=10)
            assert cleared.status_code == 200, cleared.text


@pytest.fixture(scope="module", params=sorted(DEPLOYMENTS))
def deployment(request: pytest.FixtureRequest) -> Iterator[Deployment]:
    name: str = request.param
    gate = Gate()
    gate.release()  # the "hold" tool answers at once: fuzzed tasks must not wait on it
    runtime = Runtime(
        parse_config(TEST_CONFIG, source="test"), tools=make_tools(gate), metrics_registry=CollectorRegistry()
    )
    service_settings = ServiceSettings.from_env(DEPLOYMENTS[name])  # the variables, as a deployment sets them
    try:
        with serve(create_app(runtime, service_settings)) as url:
            yield Deployment(name, url, dict(AUTH) if service_settings.admin_enabled else {})
    finally:
        runtime.close()


@pytest.fixture(scope="module")
def served_schema(deployment: Deployment) -> Any:
    """The OpenAPI document as the service serves it, requests going to that service."""
    return schemathesis.openapi.from_url(deployment.url + "/openapi.json")


schema = schemathesis.pytest.from_fixture("served_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
def test_no_5xx_and_every_response_matches_its_schema(case: Any, deployment: Deployment) -> None:
    try:
        case.call_and_validate(
            base_url=deployment.url,
            headers=deployment.headers,
            checks=[not_a_server_error, response_schema_conformance],
            timeout=30,
        )
    finally:
        deployment.reset()
