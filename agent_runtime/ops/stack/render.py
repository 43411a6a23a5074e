"""Render the repository's Prometheus and Alertmanager configs for a local, loopback stack.

The files under ``prometheus/`` and ``alertmanager/`` are written for docker
compose (service names such as ``runtime:8000``, ``alert-receiver:9095``).
The stack runs the same configuration on 127.0.0.1, so this module rewrites
only what is about *where* and *how fast*, never *what*:

- Prometheus: scrape targets of the runtime (one target per replica, in one
  job), Prometheus and Alertmanager jobs point at the local ports (jobs for components the stack does not run, such
  as the OTel Collector, are left out and reported); when the stack runs the
  local model server (``Ports.llama``) a ``llama`` job scrapes its
  ``/metrics`` (the repository's own ``llama`` job, if it has one, is pointed
  there, else one is added); the Alertmanager target
  is the local one; ``rule_files`` are the repository's rules, or a copy
  rendered by ``python -m observability`` with every window and ``for:``
  divided by ``time_scale``; the scrape and evaluation intervals are
  ``interval_seconds``.
- Alertmanager: webhook URLs keep their path but go to the local receiver;
  ``group_wait``, ``group_interval`` and ``repeat_interval`` are divided by
  ``time_scale`` (with floors), so a scaled alert is also delivered fast;
  template paths are made absolute.
"""

from __future__ import annotations

import copy
import math
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import yaml

from agent_runtime import durations

RUNTIME_JOB: Final = "agent-runtime"
# The job of llama.cpp's llama-server (what observability's ModelConfig.server_job expects).
LLAMA_JOB: Final = "llama"
# Floors for scaled Alertmanager timings: below them notifications would only churn.
MIN_GROUP_SECONDS: Final = 1.0
MIN_REPEAT_SECONDS: Final = 10.0
_TIMINGS: Final = {"group_wait": MIN_GROUP_SECONDS, "group_interval": MIN_GROUP_SECONDS,
                   "repeat_interval": MIN_REPEAT_SECONDS}  # fmt: skip
_AM_DEFAULTS: Final = {"group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h"}


class RenderError(Exception):
    """A repository config is missing or not what the stack can run; the message says which."""


@dataclass(frozen=True)
class Ports:
    """Loopback ports of the stack's components.

    ``runtime`` is the first runtime replica, ``more_runtimes`` the others
    (every replica is a target of the one runtime scrape job); ``llama`` None
    when no local model server runs, ``redis`` None when no Redis runs.
    """

    runtime: int
    prometheus: int
    alertmanager: int
    receiver: int
    llama: int | None = None
    more_runtimes: tuple[int, ...] = ()
    redis: int | None = None

    @property
    def runtimes(self) -> tuple[int, ...]:
        """Every runtime replica's port, the first one first."""
        return (self.runtime, *self.more_runtimes)


@dataclass(frozen=True)
class Rendered:
    """Where the rendered files are, and what was left out of them (``notes``)."""

    prometheus_config: Path
    alertmanager_config: Path | None
    rules_dir: Path
    runtime_job: str = RUNTIME_JOB
    interval_seconds: float = 15.0
    notes: tuple[str, ...] = field(default=())


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration (``90s``, ``1h30m``); ``RenderError`` when it is not one."""
    try:
        return durations.parse_duration(text)
    except ValueError:
        raise RenderError(f"invalid duration {text!r}") from None


def format_duration(seconds: float) -> str:
    """A whole-millisecond Prometheus duration: ``1s``, ``1500ms``, ``2m``."""
    millis = max(1, math.ceil(seconds * 1000))
    if millis % 60_000 == 0:
        return f"{millis // 60_000}m"
    if millis % 1000 == 0:
        return f"{millis // 1000}s"
    return f"{millis}ms"


def _load(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise RenderError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise RenderError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise RenderError(f"{path} must be a YAML mapping")
    return data


def _job_role(job: Mapping[str, Any]) -> str | None:
    """Which local component a scrape job scrapes (runtime, prometheus, alertmanager, llama), if any."""
    name = str(job.get("job_name", ""))
    hosts = " ".join(str(t) for sc in job.get("static_configs", []) for t in sc.get("targets", []))
    for role in ("alertmanager", "prometheus", "runtime", "llama"):
        if role in name or role in hosts:
            return role
    return "runtime" if name == RUNTIME_JOB else None


def render_prometheus_config(
    source: Mapping[str, Any], *, ports: Ports, rule_files: list[str], interval_seconds: float
) -> tuple[dict[str, Any], list[str]]:
    """The local Prometheus config (every job scraped and rules evaluated each ``interval_seconds``)
    and notes on what was left out."""
    interval = format_duration(interval_seconds)
    notes: list[str] = []
    targets: dict[str, tuple[int, ...]] = {"runtime": ports.runtimes, "prometheus": (ports.prometheus,),
                                            "alertmanager": (ports.alertmanager,)}  # fmt: skip
    if ports.llama is not None:
        targets["llama"] = (ports.llama,)
    jobs = []
    for job in source.get("scrape_configs") or []:
        role = _job_role(job)
        if role is None or role not in targets:
            notes.append(f"scrape job {job.get('job_name')!r} left out: the local stack does not run it")
            continue
        local = {k: v for k, v in job.items() if k not in ("scrape_interval", "scrape_timeout", "static_configs")}
        labels = next((sc.get("labels") for sc in job.get("static_configs", []) if sc.get("labels")), None)
        static: dict[str, Any] = {"targets": [f"127.0.0.1:{port}" for port in targets[role]]}
        if labels:
            static["labels"] = labels
        local["static_configs"] = [static]
        local.pop("scheme", None)  # loopback is plain HTTP
        jobs.append(local)
    if not any(_job_role(j) == "runtime" for j in jobs):
        raise RenderError("prometheus.yml has no scrape job for the agent runtime")
    if ports.llama is not None and not any(_job_role(j) == "llama" for j in jobs):
        jobs.append({"job_name": LLAMA_JOB, "metrics_path": "/metrics",
                     "static_configs": [{"targets": [f"127.0.0.1:{ports.llama}"]}]})  # fmt: skip
    left_out = sorted(set(source) - {"global", "rule_files", "alerting", "scrape_configs"})
    notes.extend(f"prometheus.yml section {key!r} left out locally" for key in left_out)
    global_section = {**(source.get("global") or {}), "scrape_interval": interval,
                      "scrape_timeout": interval, "evaluation_interval": interval}  # fmt: skip
    config = {
        "global": global_section,
        "rule_files": rule_files,
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{ports.alertmanager}"]}]}]},
        "scrape_configs": jobs,
    }
    return config, notes


def _routes(route: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield route
    for child in route.get("routes") or []:
        yield from _routes(child)


def render_alertmanager_config(
    source: Mapping[str, Any], *, receiver_port: int, time_scale: float, templates_dir: Path
) -> dict[str, Any]:
    """The local Alertmanager config: webhooks to the local receiver, timings scaled."""
    config: dict[str, Any] = copy.deepcopy(dict(source))
    for receiver in config.get("receivers") or []:
        for hook in receiver.get("webhook_configs") or []:
            parts = urlsplit(str(hook.get("url", "")))
            hook["url"] = urlunsplit(("http", f"127.0.0.1:{receiver_port}", parts.path or "/", parts.query, ""))
    root = config.get("route")
    if not isinstance(root, dict):
        raise RenderError("alertmanager.yml has no route")
    for route in _routes(root):
        for key, floor in _TIMINGS.items():
            if key in route or route is root:
                seconds = parse_duration(str(route.get(key, _AM_DEFAULTS[key]))) / time_scale
                route[key] = format_duration(max(floor, seconds))
    # Paths in the file are the container's (/etc/alertmanager/templates/*.tmpl): keep the file pattern only.
    config["templates"] = [str(templates_dir / Path(t).name) for t in config.get("templates") or []]
    return config


def render_rules(root: Path, out_dir: Path, time_scale: int) -> Path:
    """The directory of rule files to load: a time-scaled copy when ``time_scale`` > 1."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.yml"):
        old.unlink()
    if time_scale == 1:
        for rule_file in sorted((root / "prometheus" / "rules").glob("*.yml")):
            shutil.copy(rule_file, out_dir / rule_file.name)
    else:
        command = [sys.executable, "-m", "observability", "generate", "--time-scale", str(time_scale),
                   "--output-dir", str(out_dir)]  # fmt: skip
        done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RenderError(f"rendering time-scaled rules failed ({' '.join(command[1:])}):\n{done.stderr[-2000:]}")
    if not any(out_dir.glob("*.yml")):
        raise RenderError(f"no rule files in {out_dir}; run `python -m observability generate` in {root}")
    return out_dir


def render_all(
    root: Path, state_dir: Path, ports: Ports, *, time_scale: int = 1, interval_seconds: float | None = None
) -> Rendered:
    """Render everything the stack's Prometheus and Alertmanager need into ``state_dir``.

    ``interval_seconds`` None: the repository's scrape interval divided by
    ``time_scale``, at least one second.
    """
    root = root.resolve()
    rules_dir = render_rules(root, state_dir / "rules", time_scale)
    prometheus_source = _load(root / "prometheus" / "prometheus.yml")
    if interval_seconds is None:
        configured = str((prometheus_source.get("global") or {}).get("scrape_interval", "1m"))
        interval_seconds = max(1.0, parse_duration(configured) / time_scale)
    prometheus, notes = render_prometheus_config(
        prometheus_source,
        ports=ports,
        rule_files=[str(rules_dir / "*.yml")],
        interval_seconds=interval_seconds,
    )
    prometheus_path = state_dir / "prometheus.yml"
    prometheus_path.write_text(yaml.safe_dump(prometheus, sort_keys=False))
    alertmanager_path: Path | None = None
    source = root / "alertmanager" / "alertmanager.yml"
    if source.is_file():
        alertmanager = render_alertmanager_config(
            _load(source), receiver_port=ports.receiver, time_scale=time_scale,
            templates_dir=root / "alertmanager" / "templates",
        )  # fmt: skip
        alertmanager_path = state_dir / "alertmanager.yml"
        alertmanager_path.write_text(yaml.safe_dump(alertmanager, sort_keys=False))
    else:
        notes.append(f"{source} is missing: Alertmanager is not started")
    runtime_job = next(str(j["job_name"]) for j in prometheus["scrape_configs"] if _job_role(j) == "runtime")
    return Rendered(prometheus_path, alertmanager_path, rules_dir, runtime_job, interval_seconds, tuple(notes))
