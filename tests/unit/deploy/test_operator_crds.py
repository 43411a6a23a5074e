"""The Prometheus Operator objects against the operator's own CRD schemas (vendored subsets, crds/README.md).

Unknown fields are errors here (``additionalProperties: false`` is added to
every object schema that lists properties and does not preserve unknown
fields), as with ``kubectl apply``'s strict field validation. The checks the
operator makes beyond the schema and that the kit can break are repeated:
routes name receivers that exist, child routes decode as routes, webhook
URLs are absolute, the ServiceMonitor selects the runtime's Service.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import jsonschema
import pytest
import yaml

from observability.deploy.monitoring import JOB_LABEL
from tests.unit.deploy.conftest import Manifest, by_kind

CRDS = Path(__file__).parent / "crds"
SCHEMAS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-v1.yaml",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule-v1.yaml",
    ("monitoring.coreos.com/v1alpha1", "AlertmanagerConfig"): "alertmanagerconfig-v1alpha1.yaml",
}


def strict(schema: Any) -> Any:
    """``schema`` with unknown properties rejected wherever Kubernetes would prune or refuse them."""
    if isinstance(schema, dict):
        schema = {k: strict(v) for k, v in schema.items()}
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):  # fmt: skip
            schema["additionalProperties"] = False
    elif isinstance(schema, list):
        schema = [strict(item) for item in schema]
    return schema


def validator(file_name: str) -> jsonschema.Draft202012Validator:
    schema = strict(yaml.safe_load((CRDS / file_name).read_text()))
    return jsonschema.Draft202012Validator(schema)


def errors(manifest: Manifest) -> list[str]:
    found = validator(SCHEMAS[(manifest["apiVersion"], manifest["kind"])]).iter_errors(manifest)
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in found]


def test_every_operator_object_has_a_schema_and_matches_it(manifests: dict[str, Manifest]) -> None:
    seen = set()
    for path, manifest in manifests.items():
        if manifest["apiVersion"].startswith("monitoring.coreos.com/"):
            assert errors(manifest) == [], path
            seen.add(manifest["kind"])
    assert seen == {"ServiceMonitor", "PrometheusRule", "AlertmanagerConfig"}


@pytest.mark.parametrize(("kind", "mutate"), [
    ("ServiceMonitor", lambda m: m["spec"]["endpoints"][0].update(intervall="15s")),
    ("ServiceMonitor", lambda m: m["spec"]["endpoints"][0].update(scheme="tcp")),
    ("ServiceMonitor", lambda m: m["spec"].pop("selector")),
    ("PrometheusRule", lambda m: m["spec"]["groups"][0]["rules"][0].pop("expr")),
    ("PrometheusRule", lambda m: m["spec"]["groups"][-1]["rules"][0].update({"for": "ten minutes"})),
    ("AlertmanagerConfig", lambda m: m["spec"]["route"].update(group_by=["job"])),
    ("AlertmanagerConfig", lambda m: m["spec"]["inhibitRules"][0]["sourceMatch"][0].update(matchType="==")),
    ("AlertmanagerConfig", lambda m: m["spec"]["receivers"][0]["webhookConfigs"][0].update(send_resolved=True)),
])  # fmt: skip
def test_the_schemas_catch_mistakes(manifests: dict[str, Manifest], kind: str, mutate: Any) -> None:
    (manifest,) = [m for m in by_kind(manifests, kind) if m["metadata"]["name"] == "agent-runtime"]
    broken = copy.deepcopy(manifest)
    mutate(broken)
    assert errors(broken)


def child_route_errors(config: Manifest) -> list[str]:
    """Errors of every child route against the Route schema (the operator decodes them strictly)."""
    schema = yaml.safe_load((CRDS / SCHEMAS[("monitoring.coreos.com/v1alpha1", "AlertmanagerConfig")]).read_text())
    route_validator = jsonschema.Draft202012Validator(strict({**schema["$defs"]["route"], "$defs": schema["$defs"]}))
    found, pending = [], list(config["spec"]["route"].get("routes", []))
    while pending:
        route = pending.pop()
        found += [error.message for error in route_validator.iter_errors(route)]
        pending += route.get("routes", [])
    return found


def test_child_routes_decode_as_routes(manifests: dict[str, Manifest]) -> None:
    (config,) = by_kind(manifests, "AlertmanagerConfig")
    assert config["spec"]["route"]["routes"] and child_route_errors(config) == []
    broken = copy.deepcopy(config)
    broken["spec"]["route"]["routes"][0]["matchers"][0]["matchType"] = "=="
    broken["spec"]["route"]["routes"][1]["repeat_interval"] = "1h"
    assert len(child_route_errors(broken)) == 2


def test_routes_use_existing_receivers_and_absolute_webhooks(manifests: dict[str, Manifest]) -> None:
    (config,) = by_kind(manifests, "AlertmanagerConfig")
    spec = config["spec"]
    names = [r["name"] for r in spec["receivers"]]
    assert len(names) == len(set(names))
    routes = [spec["route"], *spec["route"]["routes"]]
    assert {r["receiver"] for r in routes} <= set(names)
    for receiver in spec["receivers"]:
        for hook in receiver["webhookConfigs"]:
            url = urlparse(hook["url"])
            assert url.scheme in ("http", "https") and url.netloc and hook["sendResolved"], hook
    assert len(spec["route"]["groupBy"]) == len(set(spec["route"]["groupBy"]))


def test_service_monitors_select_a_service_and_name_the_job(manifests: dict[str, Manifest]) -> None:
    services = by_kind(manifests, "Service")
    for monitor in by_kind(manifests, "ServiceMonitor"):
        wanted = monitor["spec"]["selector"]["matchLabels"]
        (target,) = [s for s in services if wanted.items() <= s["metadata"]["labels"].items()]
        ports = {p["name"] for p in target["spec"]["ports"]}
        assert {e["port"] for e in monitor["spec"]["endpoints"]} <= ports
        assert monitor["spec"]["jobLabel"] == JOB_LABEL and JOB_LABEL in target["metadata"]["labels"]
        assert monitor["spec"]["namespaceSelector"]["matchNames"] == [target["metadata"]["namespace"]]
