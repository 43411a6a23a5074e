"""Start a real Prometheus for tests: a generated config, a temp TSDB, a free loopback port.

Example (in a test or fixture)::

    server = PrometheusServer(tmp_path, scrape_jobs=[ScrapeJob("runtime", [f"127.0.0.1:{port}"])],
                              rule_files=[rules_path], alertmanager_url=am_url)
    with server:                      # starts, waits for /-/ready; stops on exit
        server.wait_for("up{job='runtime'} == 1")
        server.query("sum(up)")

The config is written as JSON, which is valid YAML, so no YAML library is
needed. Prometheus scrapes itself by default (job ``prometheus``), so ``up``
has a sample within one scrape interval of starting.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from agent_runtime.ops.stack.ports import free_port
from tests.support.binaries import ManagedProcess, require_binary, wait_until


@dataclass(frozen=True)
class ScrapeJob:
    """One scrape job: a name, ``host:port`` targets and optional overrides."""

    name: str
    targets: Sequence[str]
    metrics_path: str = "/metrics"
    scrape_interval: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    def config(self) -> dict[str, Any]:
        """This job as a ``scrape_configs`` entry."""
        job: dict[str, Any] = {
            "job_name": self.name,
            "metrics_path": self.metrics_path,
            "static_configs": [{"targets": list(self.targets), "labels": dict(self.labels)}],
        }
        if self.scrape_interval is not None:
            job["scrape_interval"] = self.scrape_interval
        return job


class PrometheusServer:
    """A Prometheus process with a config written to ``workdir``.

    ``rule_files`` are paths (or globs) Prometheus loads; ``alertmanager_url``
    (``http://127.0.0.1:9093`` or with a path prefix) receives alerts;
    ``scrape_self`` adds the ``prometheus`` job scraping this server. The
    lifecycle API is enabled so tests can ``reload()`` changed rules.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        scrape_jobs: Sequence[ScrapeJob] = (),
        scrape_self: bool = True,
        rule_files: Sequence[str | Path] = (),
        alertmanager_url: str | None = None,
        scrape_interval: str = "1s",
        evaluation_interval: str = "1s",
        external_labels: dict[str, str] | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = workdir / "prometheus.yml"
        self._jobs = list(scrape_jobs)
        if scrape_self:
            self._jobs.insert(0, ScrapeJob("prometheus", [f"127.0.0.1:{self.port}"]))
        self._rule_files = [str(p) for p in rule_files]
        self._alertmanager_url = alertmanager_url
        self._scrape_interval = scrape_interval
        self._evaluation_interval = evaluation_interval
        self._external_labels = external_labels or {}
        self._extra_args = list(extra_args)
        self._process: ManagedProcess | None = None
        self._session = requests.Session()

    def config(self) -> dict[str, Any]:
        """The configuration this server runs with."""
        config: dict[str, Any] = {
            "global": {
                "scrape_interval": self._scrape_interval,
                "scrape_timeout": self._scrape_interval,
                "evaluation_interval": self._evaluation_interval,
                "external_labels": self._external_labels,
            },
            "rule_files": self._rule_files,
            "scrape_configs": [job.config() for job in self._jobs],
        }
        if self._alertmanager_url:
            target = urlsplit(self._alertmanager_url)
            config["alerting"] = {
                "alertmanagers": [
                    {
                        "scheme": target.scheme or "http",
                        "path_prefix": target.path or "/",
                        "static_configs": [{"targets": [target.netloc]}],
                    }
                ]
            }
        return config

    def start(self, timeout: float = 30.0) -> PrometheusServer:
        """Write the config, start Prometheus and wait until it is ready; skips if not installed."""
        binary = require_binary("prometheus")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(json.dumps(self.config(), indent=2))
        self._process = ManagedProcess(
            [
                binary,
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
                *self._extra_args,
            ],
            self.workdir / "prometheus.log",
        )
        try:
            wait_until(self._ready, timeout, f"Prometheus to be ready on port {self.port}")
        except BaseException:
            self._report_and_stop()
            raise
        return self

    def _ready(self) -> bool:
        assert self._process is not None
        if self._process.proc.poll() is not None:
            pytest.fail(f"Prometheus exited with {self._process.proc.returncode}:\n{self._process.log()}")
        return self._session.get(f"{self.url}/-/ready", timeout=1).status_code == 200

    def _report_and_stop(self) -> None:
        if self._process is not None:
            print(f"--- Prometheus log ({self._process.log_path}) ---\n{self._process.log()}")
        self.stop()

    def stop(self) -> None:
        """Stop the process (idempotent) and close the HTTP session."""
        if self._process is not None:
            self._process.stop()
            self._process = None
        self._session.close()

    def log(self) -> str:
        """Prometheus's output so far."""
        return self._process.log() if self._process is not None else ""

    def reload(self) -> None:
        """Ask Prometheus to re-read its config and rule files."""
        self._session.post(f"{self.url}/-/reload", timeout=5).raise_for_status()

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The raw ``data.result`` of an instant query; fails the test on a Prometheus error."""
        response = self._session.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=5)
        body = response.json()
        if body.get("status") != "success":
            pytest.fail(f"query {promql!r} failed: {body.get('errorType')}: {body.get('error')}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def wait_for(self, promql: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Wait until ``promql`` returns a non-empty result; that result."""
        found: list[list[dict[str, Any]]] = []

        def has_result() -> bool:
            result = self.query(promql)
            if result:
                found.append(result)
            return bool(result)

        wait_until(has_result, timeout, f"Prometheus query {promql!r} to return data", interval=0.2)
        return found[-1]

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
