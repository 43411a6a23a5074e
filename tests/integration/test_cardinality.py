"""The cardinality guard under hostile input: 2,000 random names cannot grow /metrics.

Random agent names, tool names and garbage fields arrive through the HTTP API
(where they must be refused with a 4xx and never reach a label) and straight
through the metrics listener (where the guard folds them to ``other`` and
counts the folds). Afterwards every new series has an ``other`` label value,
their number is bounded by the catalog, and no label value outside the
guard's sets appears anywhere.
"""

from __future__ import annotations

import math
import random
import string
from collections.abc import Iterator

import pytest
import requests
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from agent_runtime import __version__
from agent_runtime.runtime import Runtime
from agent_runtime.service import ServiceSettings, create_app
from agent_runtime.telemetry import catalog
from agent_runtime.telemetry.labels import LabelGuard
from agent_runtime.telemetry.listener import ModelCall
from tests.support.telemetry_runtime import AGENTS, make_runtime, task
from tests.support.wsgi_server import serving

REQUESTS = 2000
# Labels whose values are numbers, not names.
NUMERIC_LABELS = frozenset({"le", "quantile"})
Series = frozenset[tuple[str, tuple[tuple[str, str], ...]]]


def random_name(rng: random.Random) -> str:
    alphabet = string.ascii_letters + string.digits + "_-.:/<>'\" {}"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))


def series(text: str) -> Series:
    return frozenset(
        (sample.name, tuple(sorted(sample.labels.items())))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    )


@pytest.fixture()
def runtime() -> Iterator[Runtime]:
    runtime = make_runtime(CollectorRegistry())
    try:
        yield runtime
    finally:
        runtime.close()


def hostile_http(base_url: str, rng: random.Random, count: int) -> list[int]:
    statuses = []
    with requests.Session() as session:
        for number in range(count):
            kind = number % 4
            if kind == 0:
                body: object = {"task": "echo this", "agent": random_name(rng)}
            elif kind == 1:
                body = {"task": "echo this", random_name(rng): random_name(rng)}
            elif kind == 2:
                body = {"task": random_name(rng), "agent": rng.choice(AGENTS), "context": {random_name(rng): 1}}
            else:
                body = [random_name(rng)]
            response = session.post(f"{base_url}/v1/tasks", json=body, timeout=10)
            statuses.append(response.status_code)
    return statuses


def hostile_events(runtime: Runtime, rng: random.Random, count: int) -> None:
    metrics = runtime.metrics
    assert metrics is not None
    for _ in range(count):
        name, other = random_name(rng), random_name(rng)
        metrics.task_finished(name, other, 0.01)
        metrics.routing_decided(name, other, 0.5)
        metrics.tool_called(name, other, 0.01)
        metrics.tool_retried(name)
        metrics.cache_looked_up(name, other, True)
        metrics.cache_saved(name, 0.1)
        metrics.breaker_changed(name, other)
        metrics.stage_timed(name, 0.001)
        metrics.export_failed(name)
        metrics.llm_called(
            ModelCall(
                operation=name,
                provider=other,
                model=name,
                seconds=0.1,
                input_tokens=1,
                output_tokens=1,
                input_cost=0.1,
                output_cost=0.1,
                error_type=name,
            )
        )
        metrics.agent_finished(name, name, name, 1, 1)
        metrics.invalid_action(name, name)
        metrics.agents_configured({name: name})
        metrics.cache_layer_changed(name, name, False)
        metrics.cache_saved(name, 0.1, 0.2)


def allowed_values(guard: LabelGuard) -> dict[str, frozenset[str]]:
    labels = {label for spec in catalog.CATALOG.values() for label in spec.labels}
    allowed = {label: guard.allowed(label) | {catalog.OTHER} for label in labels}
    # Labels the guard does not own: the fold counter names guarded labels; build_info the version.
    allowed["label"] = frozenset(guard.labels()) | {catalog.OTHER}
    allowed["version"] = frozenset({__version__})
    return allowed


def samples_per_child(spec: catalog.MetricSpec) -> int:
    if spec.type is catalog.MetricType.HISTOGRAM:
        return len(spec.buckets) + 4  # +Inf bucket, _count, _sum, _created
    return 2 if spec.type is catalog.MetricType.COUNTER else 1


def test_random_names_only_ever_add_bounded_other_series(runtime: Runtime) -> None:
    rng = random.Random(20240601)
    with serving(create_app(runtime, ServiceSettings())) as base_url:
        # Legitimate traffic first, so the baseline has what normal use creates.
        for agent in AGENTS:
            runtime.handle(task(agent))
        before = series(requests.get(f"{base_url}/metrics", timeout=10).text)
        folded_before = (
            runtime.metrics.registry.get_sample_value(  # type: ignore[union-attr]
                "agent_runtime_telemetry_labels_folded_total", {"label": "agent"}
            )
            or 0.0
        )

        statuses = hostile_http(base_url, rng, REQUESTS)
        hostile_events(runtime, rng, REQUESTS)
        after = series(requests.get(f"{base_url}/metrics", timeout=10).text)

    assert all(status < 500 for status in statuses), "hostile input must never cause a 500"
    refused = [status for number, status in enumerate(statuses) if number % 4 != 2]
    assert all(400 <= status < 500 for status in refused), sorted(set(refused))

    added = after - before
    assert added, "the listener events should have created some 'other' series"
    for name, labels in added:
        assert catalog.OTHER in dict(labels).values(), f"new series without an 'other' label: {name}{labels}"

    # Every label value anywhere is one the guard allows.
    assert runtime.metrics is not None
    allowed = allowed_values(runtime.metrics.guard)
    for name, labels in after:
        for label, value in labels:
            if label not in NUMERIC_LABELS:
                assert value in allowed[label], f"{name}: {label}={value!r} escaped the guard"

    # Bounded by the label combinations the catalog allows, whatever the number of random names.
    bound = sum(
        math.prod(len(allowed[label]) for label in spec.labels) * samples_per_child(spec)
        for spec in catalog.CATALOG.values()
    )
    assert len(after) <= bound
    assert len(added) < REQUESTS // 4

    folded_after = runtime.metrics.registry.get_sample_value(  # type: ignore[union-attr]
        "agent_runtime_telemetry_labels_folded_total", {"label": "agent"}
    )
    assert folded_after is not None and folded_after >= folded_before + REQUESTS
    tool_folds = runtime.metrics.registry.get_sample_value(  # type: ignore[union-attr]
        "agent_runtime_telemetry_labels_folded_total", {"label": "tool"}
    )
    assert tool_folds is not None and tool_folds >= REQUESTS
