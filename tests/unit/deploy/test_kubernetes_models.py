"""Every core Kubernetes object the kit generates parses into the official client's models, losslessly.

``ApiClient.deserialize`` builds the typed model (``V1Deployment``, ...) the
way the client reads an API server's answer: required fields are enforced
(client-side validation), values are converted to the model's types. It
ignores fields the model does not know, so each object is serialized back
and must come out equal to what was generated: a misspelt field, a field
of another API version or a number where a string belongs shows up as a
difference.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest

from tests.unit.deploy.conftest import Manifest, by_kind

kubernetes = pytest.importorskip("kubernetes", reason="pip install -e '.[k8s]' (the kubernetes client)")

# (apiVersion, kind) -> the client's model of it.
MODELS = {
    ("v1", "Namespace"): "V1Namespace",
    ("v1", "ServiceAccount"): "V1ServiceAccount",
    ("v1", "Service"): "V1Service",
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("apps/v1", "Deployment"): "V1Deployment",
    ("policy/v1", "PodDisruptionBudget"): "V1PodDisruptionBudget",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "V2HorizontalPodAutoscaler",
    ("rbac.authorization.k8s.io/v1", "Role"): "V1Role",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "V1RoleBinding",
}
OPERATOR_GROUP = "monitoring.coreos.com/"


class _Response:
    """What ``ApiClient.deserialize`` reads in clients before v34: an HTTP response with a ``data`` body."""

    def __init__(self, body: str) -> None:
        self.data = body


def round_trip(manifest: Manifest) -> Any:
    """``manifest`` parsed into its client model and serialized back (raises ``ValueError`` when invalid)."""
    client = kubernetes.client.ApiClient()
    model_name, body = MODELS[(manifest["apiVersion"], manifest["kind"])], json.dumps(manifest)
    if "content_type" in inspect.signature(client.deserialize).parameters:
        model = client.deserialize(body, model_name, "application/json")  # pydantic models (v34+)
    else:
        model = client.deserialize(_Response(body), model_name)
    return client.sanitize_for_serialization(model)


def test_every_object_is_a_core_kind_or_an_operator_kind(manifests: dict[str, Manifest]) -> None:
    for path, manifest in manifests.items():
        key = (manifest["apiVersion"], manifest["kind"])
        assert key in MODELS or manifest["apiVersion"].startswith(OPERATOR_GROUP), (path, key)


def test_core_objects_parse_into_the_client_models_without_losing_a_field(manifests: dict[str, Manifest]) -> None:
    checked = 0
    for path, manifest in manifests.items():
        if manifest["apiVersion"].startswith(OPERATOR_GROUP):
            continue
        assert round_trip(manifest) == manifest, path
        checked += 1
    assert checked >= 15


def test_a_misspelt_field_is_caught(manifests: dict[str, Manifest]) -> None:
    (deployment, *_) = by_kind(manifests, "Deployment")
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["terminationGracePeriod"] = 30
    assert round_trip(broken) != broken
    wrong_type = json.loads(json.dumps(deployment))
    wrong_type["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = "fifty"
    with pytest.raises(ValueError, match=r"terminationGracePeriodSeconds|termination_grace_period_seconds"):
        round_trip(wrong_type)
    missing = json.loads(json.dumps(deployment))
    del missing["spec"]["selector"]
    with pytest.raises(ValueError, match="selector"):
        round_trip(missing)


def test_names_and_namespaces_are_valid(manifests: dict[str, Manifest]) -> None:
    for path, manifest in manifests.items():
        meta = manifest["metadata"]
        assert len(meta["name"]) <= 63 and meta["name"].replace("-", "").isalnum(), path
        if manifest["kind"] != "Namespace":
            assert meta["namespace"] == "agent-runtime", path


def test_resource_quantities_parse(manifests: dict[str, Manifest]) -> None:
    parse = kubernetes.utils.parse_quantity
    for deployment in by_kind(manifests, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        for container in pod.get("initContainers", []) + pod["containers"]:
            for amounts in container["resources"].values():
                assert all(parse(value) > 0 for value in amounts.values()), container["name"]
