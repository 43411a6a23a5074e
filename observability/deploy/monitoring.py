"""Prometheus Operator objects and Grafana dashboards: ServiceMonitor, PrometheusRule, AlertmanagerConfig.

- The ServiceMonitor sets ``jobLabel`` to ``app.kubernetes.io/name``, which is
  the kit's ``job`` on the runtime's Service: the ``job`` label the operator
  gives every series is the one the rules select, whatever the Service is
  called. Its targets carry ``namespace``, ``pod`` and ``service`` too.
- The PrometheusRule holds the very groups of ``prometheus/rules/*.yml``
  (recording groups first), rendered from the same config; its alerts also get
  ``namespace: <namespace>`` (``prometheus.namespace_label_on_alerts``):
  aggregated alerts (``sum by (job)``) lose the target's namespace, and the
  operator only routes alerts labelled with an AlertmanagerConfig's own
  namespace to it.
- The AlertmanagerConfig (``monitoring.coreos.com/v1alpha1``) is the routing
  tree of ``alertmanager/alertmanager.yml``: by severity, the Watchdog to its
  own receiver, critical inhibiting warning for the same alert and job.
- Dashboards are ConfigMaps with the Grafana sidecar's label and folder
  annotation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import yaml

from observability import alert_names
from observability.deploy.objects import (
    RECEIVER_PORT,
    RUNTIME_UID,
    Obj,
    http_probe,
    labels,
    metadata,
    pod_security,
    restricted_container_security,
    selector,
    service,
)
from observability.deploy.runtime import runtime_labels
from observability.kit import Kit

MONITORING_V1: Final = "monitoring.coreos.com/v1"
MONITORING_V1ALPHA1: Final = "monitoring.coreos.com/v1alpha1"
JOB_LABEL: Final = "app.kubernetes.io/name"


def _operator_labels(kit: Kit, own: Mapping[str, str]) -> dict[str, str]:
    """Own labels plus those the Prometheus or Alertmanager resource selects on (``release: ...``)."""
    return {**own, **kit.kubernetes.prometheus.selector_labels}


def service_monitor(kit: Kit, name: str, target_labels: Mapping[str, str], *, port: str = "http") -> Obj:
    """Scrape ``/metrics`` of the Service with ``target_labels``; ``job`` is its ``app.kubernetes.io/name``."""
    k8s = kit.kubernetes
    return {
        "apiVersion": MONITORING_V1,
        "kind": "ServiceMonitor",
        "metadata": metadata(kit, name, _operator_labels(kit, target_labels)),
        "spec": {
            "jobLabel": JOB_LABEL,
            "selector": {"matchLabels": selector(target_labels)},
            "namespaceSelector": {"matchNames": [k8s.namespace]},
            "endpoints": [
                {"port": port, "path": "/metrics", "interval": k8s.prometheus.scrape_interval, "scheme": "http"},
            ],
        },
    }


def runtime_service_monitor(kit: Kit) -> Obj:
    return service_monitor(kit, kit.kubernetes.name, runtime_labels(kit))


def prometheus_rbac(kit: Kit) -> list[Obj]:
    """A Role and RoleBinding letting Prometheus discover this namespace's targets (kube-prometheus grants
    its ``prometheus-k8s`` account such a Role only in the namespaces it lists); none when not configured."""
    settings = kit.kubernetes.prometheus
    if settings.service_account is None:
        return []
    own, name = labels(kit, "monitoring"), f"{kit.kubernetes.name}-prometheus"
    role: Obj = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": metadata(kit, name, own),
        "rules": [
            {"apiGroups": [""], "resources": ["services", "endpoints", "pods"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]},
        ],
    }
    binding: Obj = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": metadata(kit, name, own),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": settings.service_account,
                      "namespace": settings.service_account_namespace}],
    }  # fmt: skip
    return [role, binding]


def kubernetes_alert_labels(kit: Kit) -> dict[str, str]:
    """The labels every alert of the PrometheusRule carries: the kit's, and the namespace for routing."""
    extra = dict(kit.alert_labels)
    if kit.kubernetes.prometheus.namespace_label_on_alerts:
        extra.setdefault("namespace", kit.kubernetes.namespace)
    return extra


def prometheus_rule(kit: Kit, rule_files: Mapping[str, str]) -> Obj:
    """The rule files' groups (``recording.yml`` first) as one PrometheusRule."""
    groups: list[Any] = []
    for name in ("recording.yml", "alerts.yml"):
        groups += yaml.safe_load(rule_files[name])["groups"]
    return {
        "apiVersion": MONITORING_V1,
        "kind": "PrometheusRule",
        "metadata": metadata(kit, kit.kubernetes.name, _operator_labels(kit, runtime_labels(kit))),
        "spec": {"groups": groups},
    }


def dashboard_config_maps(kit: Kit, dashboards: Mapping[str, str]) -> list[tuple[str, Obj]]:
    """One ConfigMap per dashboard file, labelled for the Grafana sidecar: (file stem, object)."""
    grafana, own = kit.kubernetes.grafana, labels(kit, "dashboards")
    found = []
    for file_name, text in sorted(dashboards.items()):
        stem = file_name.removesuffix(".json")
        found.append((stem, {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(kit, f"{kit.kubernetes.name}-dashboard-{stem}",
                                 {**own, grafana.dashboard_label: grafana.dashboard_label_value},
                                 annotations={grafana.folder_annotation: kit.dashboards.folder}),
            "data": {file_name: text},
        }))  # fmt: skip
    return found


# --- Alertmanager ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One child route of the tree: equality matchers and timings (None: inherited)."""

    receiver: str
    matchers: Mapping[str, str]
    group_wait: str | None = None
    group_interval: str | None = None
    repeat_interval: str | None = None


# The routing tree of alertmanager/alertmanager.yml (a unit test keeps the two equal).
ROOT_RECEIVER: Final = "default"
GROUP_BY: Final = ("alertname", "job")
ROOT_TIMINGS: Final = {"group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h"}
ROUTES: Final = (
    Route("watchdog", {"alertname": alert_names.WATCHDOG}, group_wait="0s", group_interval="1m", repeat_interval="1m"),
    Route("page", {"severity": "critical"}, group_wait="10s", repeat_interval="1h"),
    Route("ticket", {"severity": "warning"}, repeat_interval="12h"),
)
INHIBIT: Final = ({"severity": "critical"}, {"severity": "warning"}, ("alertname", "job"))
RECEIVERS: Final = ("default", "page", "ticket", "watchdog")


def _matchers(matchers: Mapping[str, str]) -> list[Obj]:
    return [{"name": name, "value": value, "matchType": "="} for name, value in matchers.items()]


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _route(route: Route) -> Obj:
    obj: Obj = {"receiver": route.receiver, "matchers": _matchers(route.matchers)}
    for key in ("group_wait", "group_interval", "repeat_interval"):
        value = getattr(route, key)
        if value is not None:
            obj[_camel(key)] = value
    return obj


def receiver_name(kit: Kit) -> str:
    return f"{kit.kubernetes.name}-alert-receiver"


def webhook_base_url(kit: Kit) -> str:
    """Where the webhooks go: the configured base, or the built-in receiver's Service."""
    configured = kit.kubernetes.alerting.webhook_base_url
    if configured:
        return configured.rstrip("/")
    return f"http://{receiver_name(kit)}.{kit.kubernetes.namespace}.svc:{RECEIVER_PORT}/hooks"


def alertmanager_config(kit: Kit) -> Obj:
    """The routing tree, inhibition and webhook receivers as an AlertmanagerConfig."""
    base = webhook_base_url(kit)
    source, target, equal = INHIBIT
    route: Obj = {"receiver": ROOT_RECEIVER, "groupBy": list(GROUP_BY),
                  **{_camel(k): v for k, v in ROOT_TIMINGS.items()},
                  "routes": [_route(r) for r in ROUTES]}  # fmt: skip
    return {
        "apiVersion": MONITORING_V1ALPHA1,
        "kind": "AlertmanagerConfig",
        "metadata": metadata(kit, kit.kubernetes.name, _operator_labels(kit, labels(kit, "alerting"))),
        "spec": {
            "route": route,
            "inhibitRules": [
                {"sourceMatch": _matchers(source), "targetMatch": _matchers(target), "equal": list(equal)},
            ],
            "receivers": [
                {"name": name, "webhookConfigs": [{"url": f"{base}/{name}", "sendResolved": True}]}
                for name in RECEIVERS
            ],
        },
    }


def receiver_objects(kit: Kit) -> list[Obj]:
    """The built-in alert receiver (the runtime image's): it logs and keeps every delivery (``GET /alerts``)."""
    k8s, own, name = kit.kubernetes, labels(kit, "alert-receiver"), receiver_name(kit)
    container: Obj = {
        "name": "receiver",
        "image": k8s.alerting.receiver_image or k8s.image,
        "imagePullPolicy": k8s.image_pull_policy,
        "command": ["python", "-m", "agent_runtime.ops.stack.receiver", "--host", "0.0.0.0",
                    "--port", str(RECEIVER_PORT), "--log", "/tmp/alerts.jsonl"],
        "ports": [{"name": "http", "containerPort": RECEIVER_PORT, "protocol": "TCP"}],
        "readinessProbe": http_probe("/healthz", "http", period=10, failures=3),
        "livenessProbe": http_probe("/healthz", "http", period=20, failures=3),
        "resources": {"requests": {"cpu": "50m", "memory": "96Mi"}, "limits": {"memory": "192Mi"}},
        "securityContext": restricted_container_security(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }  # fmt: skip
    deployment: Obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(kit, name, own),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector(own)},
            "template": {"metadata": {"labels": own}, "spec": {
                "automountServiceAccountToken": False,
                "securityContext": pod_security(RUNTIME_UID),
                "containers": [container],
                "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
            }},
        },
    }  # fmt: skip
    return [deployment, service(kit, name, own, RECEIVER_PORT)]


def alertmanager_yaml_tree(document: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of an ``alertmanager.yml`` this module mirrors, normalised for comparison with ``ROUTES``."""

    def matchers(items: Sequence[str]) -> dict[str, str]:
        pairs = (item.split("=", 1) for item in items)
        return {name.strip(): value.strip().strip('"') for name, value in pairs}

    route = document["route"]
    (inhibit,) = document.get("inhibit_rules", [])
    return {
        "receiver": route["receiver"],
        "group_by": tuple(route["group_by"]),
        "timings": {k: route[k] for k in ROOT_TIMINGS},
        "routes": tuple(
            Route(r["receiver"], matchers(r["matchers"]), r.get("group_wait"), r.get("group_interval"),
                  r.get("repeat_interval"))
            for r in route["routes"]
        ),
        "inhibit": (
            matchers(inhibit["source_matchers"]), matchers(inhibit["target_matchers"]), tuple(inhibit["equal"])
        ),
        "receivers": tuple(r["name"] for r in document["receivers"]),
    }


def module_tree() -> dict[str, Any]:
    """``ROUTES`` and friends in the shape of ``alertmanager_yaml_tree``."""
    return {
        "receiver": ROOT_RECEIVER,
        "group_by": GROUP_BY,
        "timings": dict(ROOT_TIMINGS),
        "routes": ROUTES,
        "inhibit": INHIBIT,
        "receivers": RECEIVERS,
    }
