"""The runtime on Kubernetes: Namespace, ServiceAccount, Deployment, Service, PodDisruptionBudget, HPA, Redis.

Sizes and timings come from the runtime's own configuration
(``agent_runtime/config/default.yaml``, the one the image runs): the in-flight
limit per worker sizes the autoscaling target, the task timeout sizes the
shutdown. On SIGTERM the pod has already left the Service (``preStop`` sleeps
while the endpoints controller removes it); gunicorn then stops accepting and
waits up to its graceful timeout, the task timeout plus a margin, for
in-flight tasks; ``terminationGracePeriodSeconds`` covers both and a margin,
so Kubernetes never SIGKILLs a task that could still finish.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from agent_runtime.config.loader import DEFAULT_CONFIG_PATH, load_config
from observability.deploy.objects import (
    HTTP_PORT,
    REDIS_PORT,
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
from observability.kit import Kit

ADMIN_SECRET_KEY: Final = "token"
# The in-flight gauge (livesum across a pod's gunicorn workers): one series per pod.
IN_FLIGHT_METRIC: Final = "agent_runtime_tasks_in_flight"
MULTIPROC_DIR: Final = "/tmp/prometheus-multiproc"
CACHE_DIR: Final = "/var/cache/agent-runtime"
# Seconds gunicorn waits for in-flight tasks beyond the task timeout, and the pod beyond gunicorn.
GRACEFUL_MARGIN_SECONDS: Final = 5
TERMINATION_MARGIN_SECONDS: Final = 10
REDIS_UID: Final = 999  # the redis user of the official image


@dataclass(frozen=True)
class RuntimeFacts:
    """What the manifests take from the runtime's configuration."""

    task_timeout_seconds: float
    max_in_flight_per_worker: int

    @classmethod
    def from_default_config(cls) -> RuntimeFacts:
        """The bundled ``default.yaml`` (what the image runs unless ``AGENT_RUNTIME_CONFIG`` says otherwise)."""
        execution = load_config(DEFAULT_CONFIG_PATH).execution
        return cls(execution.task_timeout_seconds, execution.max_in_flight_tasks)

    @property
    def graceful_timeout_seconds(self) -> int:
        """gunicorn's ``--graceful-timeout``: the task timeout plus a margin."""
        return int(self.task_timeout_seconds) + GRACEFUL_MARGIN_SECONDS

    def termination_grace_seconds(self, pre_stop_seconds: int) -> int:
        """``terminationGracePeriodSeconds``: preStop, gunicorn's graceful shutdown and a margin."""
        return pre_stop_seconds + self.graceful_timeout_seconds + TERMINATION_MARGIN_SECONDS


def runtime_labels(kit: Kit) -> dict[str, str]:
    """The runtime's labels; ``app.kubernetes.io/name`` is the job the rules select."""
    return labels(kit, "runtime", name=kit.observability.job)


def redis_name(kit: Kit) -> str:
    return f"{kit.kubernetes.name}-redis"


def llm_config_name(kit: Kit) -> str:
    """The ConfigMap the local-model component provides (the runtime reads it only if it exists)."""
    return f"{kit.kubernetes.name}-llm"


def redis_config_name(kit: Kit) -> str:
    """The ConfigMap the redis component provides."""
    return f"{kit.kubernetes.name}-redis"


def admin_secret_name(kit: Kit) -> str:
    return f"{kit.kubernetes.name}-admin"


def namespace(kit: Kit) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": kit.kubernetes.namespace, "labels": {"app.kubernetes.io/part-of": "agent-runtime"}},
    }


def service_account(kit: Kit) -> Obj:
    """The runtime talks to no Kubernetes API: no token is mounted."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(kit, kit.kubernetes.name, runtime_labels(kit)),
        "automountServiceAccountToken": False,
    }


def _optional_config(name: str, config_map: str, key: str) -> Obj:
    return {"name": name, "valueFrom": {"configMapKeyRef": {"name": config_map, "key": key, "optional": True}}}


def _env(kit: Kit, facts: RuntimeFacts) -> list[Obj]:
    k8s = kit.kubernetes
    env: list[Obj] = [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        # Read by gunicorn after its config file: in-flight tasks get the task timeout to finish.
        {"name": "GUNICORN_CMD_ARGS", "value": f"--graceful-timeout={facts.graceful_timeout_seconds}"},
        {"name": "PROMETHEUS_MULTIPROC_DIR", "value": MULTIPROC_DIR},
        # L1 (diskcache), shared by the pod's workers.
        {"name": "AGENT_RUNTIME_CACHE_DIR", "value": CACHE_DIR},
        {"name": "XDG_CACHE_HOME", "value": "/tmp/cache"},
        {"name": "AGENT_RUNTIME_PROMETHEUS_URL", "value": k8s.prometheus.url},
        {"name": "AGENT_RUNTIME_ADMIN_TOKEN", "valueFrom": {"secretKeyRef": {
            "name": admin_secret_name(kit), "key": ADMIN_SECRET_KEY, "optional": True}}},
        {"name": "OTEL_SERVICE_NAME", "value": "agent-runtime"},
        {"name": "OTEL_RESOURCE_ATTRIBUTES", "value": "k8s.namespace.name=$(POD_NAMESPACE),k8s.pod.name=$(POD_NAME)"},
    ]  # fmt: skip
    if k8s.otlp_endpoint:
        env += [{"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": k8s.otlp_endpoint},
                {"name": "OTEL_EXPORTER_OTLP_PROTOCOL", "value": "http/protobuf"}]  # fmt: skip
    # L2: an external Redis, or the redis component's (absent component: no variable, no L2).
    if k8s.redis.url:
        env.append({"name": "AGENT_RUNTIME_REDIS_URL", "value": k8s.redis.url})
    else:
        env.append(_optional_config("AGENT_RUNTIME_REDIS_URL", redis_config_name(kit), "url"))
    # The model: the local-model component's ConfigMap when it is there.
    env += [
        _optional_config("AGENT_RUNTIME_LLM_BASE_URL", llm_config_name(kit), "base_url"),
        _optional_config("AGENT_RUNTIME_LLM_MODEL", llm_config_name(kit), "model"),
        _optional_config("AGENT_RUNTIME_LLM_PROVIDER", llm_config_name(kit), "provider"),
    ]
    return env


def deployment(kit: Kit, facts: RuntimeFacts) -> Obj:
    """The runtime: gunicorn with ``workers`` processes per pod, probes, graceful shutdown, resources."""
    k8s, own = kit.kubernetes, runtime_labels(kit)
    container: Obj = {
        "name": "runtime",
        "image": k8s.image,
        "imagePullPolicy": k8s.image_pull_policy,
        "command": ["agent-runtime", "serve", "--workers", str(k8s.workers), "--bind", f"0.0.0.0:{HTTP_PORT}"],
        "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}],
        "env": _env(kit, facts),
        "resources": {
            "requests": {"cpu": k8s.cpu_request, "memory": k8s.memory_request},
            # No CPU limit: throttling a worker mid-task costs latency; the request reserves the cores.
            "limits": {"memory": k8s.memory_limit},
        },
        # Starting builds the runtime and its search index once per worker.
        "startupProbe": http_probe("/healthz", "http", period=2, failures=60),
        # 503 at the in-flight limit: a saturated pod stops getting new tasks until it drains.
        "readinessProbe": http_probe("/readyz", "http", period=5, failures=2),
        "livenessProbe": http_probe("/healthz", "http", period=10, failures=6, timeout=3),
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", str(k8s.pre_stop_seconds)]}}},
        "securityContext": restricted_container_security(),
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "metrics", "mountPath": MULTIPROC_DIR},
            {"name": "cache", "mountPath": CACHE_DIR},
        ],
    }
    spec: Obj = {}
    if not k8s.parts.autoscaling:
        spec["replicas"] = k8s.replicas  # with the HPA, replicas is its to set (kubectl apply would reset it)
    spec.update({
        "revisionHistoryLimit": 5,
        "selector": {"matchLabels": selector(own)},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
        "template": {
            "metadata": {"labels": own},
            "spec": {
                "serviceAccountName": k8s.name,
                "automountServiceAccountToken": False,
                "terminationGracePeriodSeconds": facts.termination_grace_seconds(k8s.pre_stop_seconds),
                "securityContext": pod_security(RUNTIME_UID),
                "topologySpreadConstraints": [{
                    "maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": selector(own)},
                }],
                "containers": [container],
                "volumes": [
                    {"name": "tmp", "emptyDir": {"sizeLimit": "512Mi"}},
                    # Emptied on every start, as prometheus_client's multiprocess mode requires.
                    {"name": "metrics", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
                    {"name": "cache", "emptyDir": {"sizeLimit": "1Gi"}},
                ],
            },
        },
    })  # fmt: skip
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata(kit, k8s.name, own), "spec": spec}


def runtime_service(kit: Kit) -> Obj:
    return service(kit, kit.kubernetes.name, runtime_labels(kit), HTTP_PORT)


def pod_disruption_budget(kit: Kit) -> Obj:
    """At most one runtime pod down for voluntary disruptions (drains, upgrades)."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(kit, kit.kubernetes.name, runtime_labels(kit)),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(runtime_labels(kit))}},
    }


def in_flight_target(kit: Kit, facts: RuntimeFacts) -> int:
    """Average in-flight tasks per pod the HPA aims at: a share of the pod's capacity."""
    capacity = kit.kubernetes.workers * facts.max_in_flight_per_worker
    return max(1, round(capacity * kit.kubernetes.autoscaling.in_flight_target_ratio))


def horizontal_pod_autoscaler(kit: Kit, facts: RuntimeFacts) -> Obj:
    """Scale on in-flight tasks per pod (a Pods metric served by the Prometheus Adapter), or on CPU."""
    k8s, scaling = kit.kubernetes, kit.kubernetes.autoscaling
    if scaling.metric == "in_flight":
        metric: Obj = {"type": "Pods", "pods": {
            "metric": {"name": IN_FLIGHT_METRIC},
            "target": {"type": "AverageValue", "averageValue": str(in_flight_target(kit, facts))}}}  # fmt: skip
    else:
        target = {"type": "Utilization", "averageUtilization": scaling.cpu_target_utilization}
        metric = {"type": "Resource", "resource": {"name": "cpu", "target": target}}
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(kit, k8s.name, runtime_labels(kit)),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": k8s.name},
            "minReplicas": scaling.min_replicas,
            "maxReplicas": scaling.max_replicas,
            "metrics": [metric],
            "behavior": {
                "scaleUp": {"stabilizationWindowSeconds": 0,
                            "policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}]},
                # Scaling down drains tasks: slowly, after load has stayed low for five minutes.
                "scaleDown": {"stabilizationWindowSeconds": 300,
                              "policies": [{"type": "Pods", "value": 1, "periodSeconds": 120}]},
            },
        },
    }  # fmt: skip


def redis_labels(kit: Kit) -> dict[str, str]:
    return labels(kit, "cache", name="redis")


def redis_objects(kit: Kit) -> list[Obj]:
    """The shared L2 cache: one Redis without persistence, bounded memory, LRU eviction; and its URL."""
    k8s, own, name = kit.kubernetes, redis_labels(kit), redis_name(kit)
    container: Obj = {
        "name": "redis",
        "image": k8s.redis.image,
        "imagePullPolicy": "IfNotPresent",
        "args": ["--save", "", "--appendonly", "no", "--maxmemory", k8s.redis.max_memory,
                 "--maxmemory-policy", "allkeys-lru"],
        "ports": [{"name": "redis", "containerPort": REDIS_PORT, "protocol": "TCP"}],
        "readinessProbe": {"exec": {"command": ["redis-cli", "ping"]}, "periodSeconds": 5, "timeoutSeconds": 2},
        "livenessProbe": {"tcpSocket": {"port": "redis"}, "periodSeconds": 10, "failureThreshold": 6},
        "resources": {"requests": {"cpu": "100m", "memory": "320Mi"}, "limits": {"memory": "320Mi"}},
        "securityContext": restricted_container_security(),
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }  # fmt: skip
    deployment_obj: Obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(kit, name, own),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector(own)},
            # A cache: losing it costs hit ratio, not data (the runtime counts the layer as down meanwhile).
            "strategy": {"type": "Recreate"},
            "template": {"metadata": {"labels": own}, "spec": {
                "automountServiceAccountToken": False,
                "securityContext": pod_security(REDIS_UID),
                "containers": [container],
                "volumes": [{"name": "data", "emptyDir": {}}],
            }},
        },
    }  # fmt: skip
    config: Obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(kit, redis_config_name(kit), own),
        "data": {"url": f"redis://{name}.{k8s.namespace}.svc:{REDIS_PORT}/0"},
    }
    return [deployment_obj, service(kit, name, own, REDIS_PORT, "redis"), config]
