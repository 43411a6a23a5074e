"""Kubernetes packaging of the runtime and its on-call kit: a kustomize base, components and an overlay.

``render_kubernetes(kit, rule_files, dashboards)`` returns every file under
``deploy/kubernetes/`` by repository-relative path::

    base/                   Namespace, ServiceAccount, the runtime Deployment, Service, PodDisruptionBudget
    components/autoscaling  HorizontalPodAutoscaler (in-flight tasks per pod, or CPU)
    components/redis        Redis for the shared L2 cache (absent when an external URL is configured)
    components/monitoring   ServiceMonitor, PrometheusRule (the rules of prometheus/rules/), and a Role that
                            lets kube-prometheus's Prometheus discover targets in the namespace
    components/dashboards   the Grafana dashboards as sidecar ConfigMaps
    components/alerting     AlertmanagerConfig (and the built-in receiver, unless webhooks go elsewhere)
    components/local-model  llama.cpp's llama-server with Gemma 3 270M
    overlays/default        the base plus the components the kit turns on (``kubernetes.parts``)

Every file is one complete object and the kustomizations only list files
(no patches, no generators, no name or namespace rewriting), so what is
validated is exactly what ``kubectl apply -k`` sends. A component the
runtime may use (Redis, the model) hands it its address through a ConfigMap
that the Deployment reads with ``optional: true``: leaving the component out
leaves the variable unset.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from observability.deploy import local_model, monitoring, runtime
from observability.deploy.objects import Obj, to_yaml
from observability.kit import Kit

ROOT: Final = "deploy/kubernetes"
KUSTOMIZE_KUSTOMIZATION: Final = "kustomize.config.k8s.io/v1beta1"
KUSTOMIZE_COMPONENT: Final = "kustomize.config.k8s.io/v1alpha1"
DEFAULT_OVERLAY: Final = "overlays/default"
# The adapter's discovery rule for the HPA's Pods metric, to merge into the Prometheus Adapter's config.
ADAPTER_RULES_FILE: Final = "components/autoscaling/prometheus-adapter-rules.yaml"

__all__ = ["ROOT", "Layout", "adapter_rules", "layout", "render_kubernetes"]

# directory -> file name -> object
Layout = dict[str, dict[str, Obj]]


def _file_name(obj: Obj) -> str:
    return f"{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"


def _named(*objects: Obj) -> dict[str, Obj]:
    return {_file_name(obj): obj for obj in objects}


def layout(kit: Kit, rule_files: Mapping[str, str], dashboards: Mapping[str, str]) -> Layout:
    """Every object by directory (``base``, ``components/<part>``) and file name."""
    facts = runtime.RuntimeFacts.from_default_config()
    k8s = kit.kubernetes
    found: Layout = {
        "base": _named(runtime.namespace(kit), runtime.service_account(kit), runtime.deployment(kit, facts),
                       runtime.runtime_service(kit), runtime.pod_disruption_budget(kit)),
        "components/autoscaling": _named(runtime.horizontal_pod_autoscaler(kit, facts)),
        "components/monitoring": _named(monitoring.runtime_service_monitor(kit),
                                        monitoring.prometheus_rule(kit, rule_files), *monitoring.prometheus_rbac(kit)),
        "components/dashboards": {f"configmap-dashboard-{stem}.yaml": obj
                                  for stem, obj in monitoring.dashboard_config_maps(kit, dashboards)},
        "components/alerting": _named(monitoring.alertmanager_config(kit),
                                      *([] if k8s.alerting.webhook_base_url else monitoring.receiver_objects(kit))),
        "components/local-model": _named(*local_model.local_model_objects(kit)),
    }  # fmt: skip
    if not k8s.redis.url:
        found["components/redis"] = _named(*runtime.redis_objects(kit))
    return dict(sorted(found.items()))


def _enabled(kit: Kit, directory: str) -> bool:
    part = directory.removeprefix("components/").replace("-", "_")
    return bool(getattr(kit.kubernetes.parts, part))


def adapter_rules(kit: Kit) -> str:
    """A Prometheus Adapter rule exposing the in-flight gauge per pod (the HPA's ``Pods`` metric)."""
    job = kit.observability.job
    return (
        "# Merge into the Prometheus Adapter's config (kube-prometheus: ConfigMap adapter-config,\n"
        "# key config.yaml; kube-prometheus-stack's prometheus-adapter chart: rules.custom).\n"
        "# Not a Kubernetes object: the kustomization does not list it.\n"
        "rules:\n"
        f"- seriesQuery: '{runtime.IN_FLIGHT_METRIC}{{job=\"{job}\",namespace!=\"\",pod!=\"\"}}'\n"
        "  resources:\n"
        "    overrides:\n"
        "      namespace: {resource: namespace}\n"
        "      pod: {resource: pod}\n"
        f"  name: {{matches: '^{runtime.IN_FLIGHT_METRIC}$', as: '{runtime.IN_FLIGHT_METRIC}'}}\n"
        "  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'\n"
    )


def _kustomization(kind: str, resources: list[str], components: list[str] | None = None) -> Obj:
    document: Obj = {
        "apiVersion": KUSTOMIZE_COMPONENT if kind == "Component" else KUSTOMIZE_KUSTOMIZATION,
        "kind": kind,
        "resources": resources,
    }
    if components is not None:
        document["components"] = components
    return document


def render_kubernetes(kit: Kit, rule_files: Mapping[str, str], dashboards: Mapping[str, str]) -> dict[str, str]:
    """Every file of ``deploy/kubernetes`` by repository-relative path.

    ``rule_files`` are the rule files rendered for the cluster (with
    ``monitoring.kubernetes_alert_labels``) and ``dashboards`` the dashboard
    JSON by file name.
    """
    files: dict[str, str] = {}
    tree = layout(kit, rule_files, dashboards)
    for directory, objects in tree.items():
        for name, obj in objects.items():
            files[f"{ROOT}/{directory}/{name}"] = to_yaml(obj)
        kind = "Kustomization" if directory == "base" else "Component"
        files[f"{ROOT}/{directory}/kustomization.yaml"] = to_yaml(_kustomization(kind, sorted(objects)))
    components = [f"../../{d}" for d in tree if d.startswith("components/") and _enabled(kit, d)]
    files[f"{ROOT}/{DEFAULT_OVERLAY}/kustomization.yaml"] = to_yaml(
        _kustomization("Kustomization", ["../../base"], components))
    files[f"{ROOT}/{ADAPTER_RULES_FILE}"] = adapter_rules(kit)
    return dict(sorted(files.items()))
