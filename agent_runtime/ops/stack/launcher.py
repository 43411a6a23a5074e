"""The local stack: runtime (gunicorn), Prometheus, Alertmanager, receiver and workload, on loopback.

``Stack(options).up()`` starts, in order, the receiver, Redis when
``options.shared_cache`` is set and ``redis-server`` is installed (the L2
tool cache every replica shares), the local model server when
``options.local_llm`` is set and the ``local-llm`` extra is installed
(llama.cpp's ``llama-server --metrics`` with Gemma 3 270M,
``agent_runtime.ops.local_model``), ``options.replicas`` runtime replicas
(each a gunicorn master with ``options.workers`` workers, fault injection on,
an admin token, ``AGENT_RUNTIME_LLM_*`` pointing at that server and, with
``shared_cache``, an L1 cache directory of its own and the shared Redis),
Prometheus and Alertmanager with the repository's own configuration rendered
for local ports (``agent_runtime.ops.stack.render``: every replica a target
of the runtime job, plus a ``llama`` scrape job), and a background workload
(``agent-runtime loadgen``, spread over the replicas); it waits for each to
be healthy and records them in ``<state_dir>/stack.json``. ``down()`` stops
them, last started first; ``restart(name)`` starts one again (a drill that
killed the model server or Redis). Missing Prometheus or Alertmanager
binaries are reported in ``StackInfo.missing`` and the rest runs without
them; a model server or Redis that is not started (the extra or the binary
is not installed, or the runtime already has an ``AGENT_RUNTIME_LLM_BASE_URL``)
is a note in ``StackInfo.notes``, and the runtime then runs without it.

Replicas share the fault state (``faults.json``): a fault injected through
any of them reaches all, as a failing dependency would.

Everything the stack writes lives in ``state_dir`` (``.stack/`` by default):
the token, rendered configs, data directories, logs, the fault state, the
cache directories and the JSONL of received alerts. It is emptied on every
``up``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Final

import requests
import yaml

from agent_runtime.ops import local_model
from agent_runtime.ops.stack.options import (
    LLAMA_CTX_SIZE,
    LLAMA_PARALLEL,
    StackInfo,
    StackOptions,
    choose_ports,
    replica_names,
)
from agent_runtime.ops.stack.ports import free_port, port_in_use
from agent_runtime.ops.stack.processes import (
    Child,
    PidFile,
    StackError,
    http_ok,
    respawn,
    spawn,
    start_time,
    wait_healthy,
)
from agent_runtime.ops.stack.render import Ports, RenderError, format_duration, render_all

INSTALL_HINT: Final = "apt-get install -y prometheus prometheus-alertmanager"
REDIS_INSTALL_HINT: Final = "apt-get install -y redis-server"
HEALTH_TIMEOUT_SECONDS: Final = 60.0
WARMUP_TIMEOUT_SECONDS: Final = 120.0
LLM_BASE_URL_ENV: Final = "AGENT_RUNTIME_LLM_BASE_URL"
# The workload runs as long as the stack; without --duration that is "until stopped", bounded to a week.
UNBOUNDED_WORKLOAD_SECONDS: Final = 7 * 86_400.0
_PYTHON_CLI: Final = "from agent_runtime.cli.main import main; raise SystemExit(main())"
_STATE_ENTRIES: Final = ("prometheus-data", "alertmanager-data", "metrics", "logs", "rules", "alerts.jsonl",
                         "faults.json", "faults.lock", "token", "prometheus.yml", "alertmanager.yml", "cache",
                         "redis")  # fmt: skip
# Components whose exit does not end the stack (``Stack.wait``): the workload, and dependencies the
# runtime degrades without.
_MAY_EXIT: Final = frozenset({"loadgen", "redis", "llama-server"})


def find_binary(*names: str) -> str | None:
    """The first of ``names`` on PATH."""
    return next((path for path in map(shutil.which, names) if path is not None), None)


class Stack:
    """One local stack; use as a context manager or call ``up`` and ``down``."""

    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.children: list[Child] = []
        self.info: StackInfo | None = None
        self._pidfile = PidFile(options.state_dir / "stack.json")
        # How to tell each component is healthy again after ``restart``.
        self._health: dict[str, tuple[Callable[[], bool], str]] = {}

    def __enter__(self) -> Stack:
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    def child(self, name: str) -> Child:
        """The running process called ``name`` (receiver, redis, llama-server, runtime or runtime-N,
        prometheus, alertmanager, loadgen)."""
        for child in self.children:
            if child.name == name:
                return child
        raise KeyError(f"no {name} in this stack; running: {', '.join(c.name for c in self.children)}")

    def runtimes(self) -> list[Child]:
        """The runtime replicas' gunicorn masters, in replica order."""
        names = replica_names(self.options.replicas)
        return [c for name in names for c in self.children if c.name == name]

    def up(self) -> StackInfo:
        """Start every component and wait until each is healthy; stops what started on failure."""
        if self._pidfile.running():
            raise StackError(
                f"a stack is already running from {self.options.state_dir}; stop it with `agent-runtime stack down`"
            )
        try:
            return self._up()
        except BaseException:
            self.down()
            raise

    def _up(self) -> StackInfo:
        opts = self.options
        state = opts.state_dir.resolve()
        _reset_state(state)
        ports = opts.ports or choose_ports(opts.replicas)
        if len(ports.runtimes) < opts.replicas:
            ports = replace(ports, more_runtimes=(*ports.more_runtimes,
                                                  *(free_port() for _ in range(opts.replicas - len(ports.runtimes)))))
        ports = replace(ports, more_runtimes=ports.more_runtimes[: opts.replicas - 1])  # fmt: skip
        llama_note = self._llama_not_started()
        ports = replace(ports, llama=(ports.llama or free_port()) if llama_note is None else None)
        redis_binary = find_binary("redis-server") if opts.shared_cache else None
        ports = replace(ports, redis=(ports.redis or free_port()) if redis_binary else None)
        token = secrets.token_urlsafe(24)
        token_path = state / "token"
        token_path.write_text(token + "\n")
        token_path.chmod(0o600)
        urls = [f"http://127.0.0.1:{port}" for port in ports.runtimes]
        info = StackInfo(state, ports, token, urls[0], f"http://127.0.0.1:{ports.receiver}", runtime_urls=urls)
        self.info = info
        logs = state / "logs"
        if llama_note:
            info.llm_note = llama_note
            info.notes.append(llama_note)
        if opts.shared_cache and redis_binary is None:
            info.notes.append(f"redis-server is not installed, the replicas share no L2 cache: {REDIS_INSTALL_HINT}")

        proxy = ["--model-upstream", f"http://127.0.0.1:{ports.llama}"] if opts.model_proxy and ports.llama else []
        receiver = self._start("receiver", [sys.executable, "-m", "agent_runtime.ops.stack.receiver",
                                            "--port", str(ports.receiver), "--log", str(state / "alerts.jsonl"),
                                            *proxy],
                               logs, health=(http_ok(f"{info.receiver_url}/healthz"), "healthy"))  # fmt: skip
        if proxy:
            info.llm_proxy_url = f"{info.receiver_url}/model/v1"
        self._wait(receiver)

        if redis_binary is not None and ports.redis is not None:
            info.redis_url = self._start_redis(redis_binary, ports.redis, state)

        if ports.llama is not None:
            # Before the runtime, so its first model call finds the model loaded.
            try:
                argv = local_model.server_command(ports.llama, parallel=LLAMA_PARALLEL, ctx_size=LLAMA_CTX_SIZE,
                                                  n_predict=opts.llm_max_tokens)  # fmt: skip
            except local_model.LocalModelUnavailableError as exc:
                raise StackError(f"cannot start llama-server: {exc}") from None
            llama = self._start("llama-server", argv, logs,
                                health=(http_ok(f"http://127.0.0.1:{ports.llama}/health"), "healthy"))
            self._wait(llama)
            info.llm_url, info.llm_model = local_model.base_url(ports.llama), local_model.MODEL_ALIAS

        # Every replica starts at once, then each is waited for.
        replicas = [
            self._start(name, [sys.executable, "-c", _PYTHON_CLI, "serve", "--workers", str(opts.workers),
                               "--bind", f"127.0.0.1:{port}"], logs,
                        env=self._runtime_env(state, ports, token, replica=name, redis_url=info.redis_url,
                                               llm_url=info.llm_proxy_url),
                        health=(http_ok(f"{url}/healthz"), "healthy"))
            for name, port, url in zip(replica_names(opts.replicas), ports.runtimes, urls, strict=True)
        ]  # fmt: skip
        for replica in replicas:
            self._wait(replica)
        self._warm_up(info)

        self._start_monitoring(state, ports, info, logs)

        if opts.rate > 0:
            mix = ",".join(f"{family}={weight:g}" for family, weight in opts.mix.items()) if opts.mix else None
            self._start("loadgen", [sys.executable, "-m", "agent_runtime.cli.loadgen_cmd", "--url", ",".join(urls),
                                    "--rate", f"{opts.rate:g}", "--duration", f"{UNBOUNDED_WORKLOAD_SECONDS:g}",
                                    "--concurrency", str(opts.concurrency), "--json",
                                    "--fetch-base", f"{info.receiver_url}/pages",
                                    *(["--mix", mix] if mix else []),
                                    *(["--seed", str(opts.seed)] if opts.seed is not None else [])], logs)  # fmt: skip
        self._pidfile.write(self.children, info.to_dict())
        return info

    def _start_redis(self, binary: str, port: int, state: Path) -> str:
        redis_dir = state / "redis"
        redis_dir.mkdir()
        # No persistence: a killed and restarted Redis comes back empty, like a fresh cache.
        redis = self._start("redis", [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(redis_dir)],
                            state / "logs", health=(lambda: port_in_use(port), "listening"))  # fmt: skip
        self._wait(redis)
        return f"redis://127.0.0.1:{port}/0"

    def _warm_up(self, info: StackInfo) -> None:
        """Send the warm-up tasks, the i-th to replica i mod replicas, one after the other."""
        for index, task in enumerate(self.options.warmup):
            url = info.runtime_urls[index % len(info.runtime_urls)]
            try:
                requests.post(f"{url}/v1/tasks", json=task, timeout=WARMUP_TIMEOUT_SECONDS).raise_for_status()
            except requests.RequestException as exc:
                info.notes.append(f"warm-up task {index} to {url} failed: {exc}")

    def _start(self, name: str, argv: list[str], logs: Path, env: dict[str, str] | None = None,
               health: tuple[Callable[[], bool], str] | None = None) -> Child:  # fmt: skip
        child = spawn(name, argv, logs / f"{name}.log", env=env or {**os.environ, **self.options.extra_env})
        self.children.append(child)
        if health is not None:
            self._health[name] = health
        return child

    def _wait(self, child: Child) -> None:
        check, what = self._health[child.name]
        wait_healthy(child, check, HEALTH_TIMEOUT_SECONDS, what)

    def restart(self, name: str) -> Child:
        """Start component ``name`` again with the same command (it was killed, or is stopped first) and
        wait until it is healthy; the new process replaces the old one in ``children`` and the pid file."""
        old = self.child(name)
        if old.alive():
            old.stop()
        new = respawn(old)
        self.children[self.children.index(old)] = new
        if self.info is not None:
            self._pidfile.write(self.children, self.info.to_dict())
        if name in self._health:
            self._wait(new)
        return new

    def _llama_not_started(self) -> str | None:
        """None when the stack starts llama-server, else why not (a note; "" when it is turned off)."""
        opts = self.options
        if not opts.local_llm:
            return ""
        configured = {**os.environ, **opts.extra_env}.get(LLM_BASE_URL_ENV, "").strip()
        if configured:
            return f"llama-server is not started: the runtime uses {LLM_BASE_URL_ENV}={configured}"
        reason = local_model.unavailable_reason()
        return None if reason is None else f"llama-server is not started, the runtime runs without a model: {reason}"

    def _runtime_env(self, state: Path, ports: Ports, token: str, *, replica: str = "runtime",
                     redis_url: str | None = None, llm_url: str | None = None) -> dict[str, str]:  # fmt: skip
        opts = self.options
        llm = {} if ports.llama is None else {
            LLM_BASE_URL_ENV: llm_url or local_model.base_url(ports.llama),
            "AGENT_RUNTIME_LLM_MODEL": local_model.MODEL_ALIAS,
            "AGENT_RUNTIME_LLM_PROVIDER": local_model.PROVIDER,
        }  # fmt: skip
        # L1 is per host: each replica (a host of its own in production) gets its own directory.
        cache = {} if not opts.shared_cache else {
            "AGENT_RUNTIME_CACHE_DIR": str(state / "cache" / replica),
            **({"AGENT_RUNTIME_REDIS_URL": redis_url} if redis_url else {}),
        }  # fmt: skip
        env = {
            **os.environ,
            "AGENT_RUNTIME_ADMIN_TOKEN": token,
            "AGENT_RUNTIME_FAULTS": "1",
            # One fault state for every replica: a fault injected through any of them reaches all.
            "AGENT_RUNTIME_FAULTS_STATE": str(state / "faults.json"),
            "PROMETHEUS_MULTIPROC_DIR": str(state / "metrics" / replica),
            "AGENT_RUNTIME_PROMETHEUS_URL": f"http://127.0.0.1:{ports.prometheus}",
            "AGENT_RUNTIME_HTTP_ALLOWED_HOSTS": f"127.0.0.1:{ports.receiver}",
            "AGENT_RUNTIME_HTTP_ALLOW_PRIVATE": "1",
            # One search index per replica, as each host of a deployment has: a replica frozen while it
            # holds the index's write lock must not stall the others' searches.
            "AGENT_RUNTIME_CORPUS_INDEX": str(state / f"corpus-{replica}.sqlite"),
            # Spans go to the receiver's OTLP sink, through a small queue, so a "collector down"
            # drill drops spans within seconds.
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{ports.receiver}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_SERVICE_NAME": "agent-runtime",
            "OTEL_BSP_MAX_QUEUE_SIZE": "256",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_BSP_EXPORT_TIMEOUT": "2000",
            **llm,
            **cache,
            **opts.extra_env,
        }
        if opts.config_path:
            env["AGENT_RUNTIME_CONFIG"] = str(Path(opts.config_path).resolve())
        return env

    def _start_monitoring(self, state: Path, ports: Ports, info: StackInfo, logs: Path) -> None:
        opts = self.options
        prometheus = find_binary("prometheus")
        alertmanager = find_binary("prometheus-alertmanager", "alertmanager")
        for name, path in (("prometheus", prometheus), ("prometheus-alertmanager", alertmanager)):
            if path is None:
                info.missing.append(f"{name} is not installed: {INSTALL_HINT}")
        if prometheus is None:
            return
        try:
            rendered = render_all(opts.root, state, ports, time_scale=opts.time_scale,
                                  interval_seconds=opts.interval_seconds)  # fmt: skip
        except RenderError as exc:
            info.missing.append(f"Prometheus and Alertmanager are not started: {exc}")
            return
        info.notes.extend(rendered.notes)
        if alertmanager is not None and rendered.alertmanager_config is not None:
            child = self._start("alertmanager", [
                alertmanager, f"--config.file={rendered.alertmanager_config}",
                f"--storage.path={state / 'alertmanager-data'}",
                f"--web.listen-address=127.0.0.1:{ports.alertmanager}", "--cluster.listen-address=",
                "--log.level=warn"], logs)  # fmt: skip
            info.alertmanager_url = f"http://127.0.0.1:{ports.alertmanager}"
            wait_healthy(child, http_ok(f"{info.alertmanager_url}/-/ready"), HEALTH_TIMEOUT_SECONDS, "ready")
        # Prometheus starts without its rules and gets them once every target has been scraped: it applies its
        # scrape targets seconds after it is ready, and until then absent() is true, which a time-scaled
        # AgentRuntimeTargetMissing (`for: 3m`, 3 s at scale 60) would page for.
        config = yaml.safe_load(rendered.prometheus_config.read_text())
        targets = sum(len(sc.get("targets", [])) for job in config["scrape_configs"] for sc in job["static_configs"])
        rendered.prometheus_config.write_text(yaml.safe_dump({**config, "rule_files": []}, sort_keys=False))
        child = self._start("prometheus", [
            prometheus, f"--config.file={rendered.prometheus_config}",
            f"--storage.tsdb.path={state / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{ports.prometheus}",
            # Firing alerts are re-sent every minute by default: scaled, so a notification
            # lost while Alertmanager was starting is not a minute late.
            f"--rules.alert.resend-delay={max(1, 60 // opts.time_scale)}s",
            # A series of a target that is gone stays visible for the lookback delta (5m): scaled too,
            # or absent() (the TargetMissing alert) would take five real minutes to notice.
            *([f"--query.lookback-delta={format_duration(max(300 / opts.time_scale, 4 * rendered.interval_seconds))}"]
              if opts.time_scale > 1 else []),
            "--storage.tsdb.retention.time=2d", "--log.level=warn"], logs)  # fmt: skip
        info.prometheus_url = f"http://127.0.0.1:{ports.prometheus}"
        wait_healthy(child, http_ok(f"{info.prometheus_url}/-/ready"), HEALTH_TIMEOUT_SECONDS, "ready")
        api = f"{info.prometheus_url}/api/v1"
        runtime_up = f'count(up{{job="{rendered.runtime_job}"}} == 1) >= {len(ports.runtimes)}'
        scraped = f"{runtime_up} and on () count(up) >= {targets}"
        wait_healthy(child, lambda: bool(requests.get(f"{api}/query", params={"query": scraped},
                                                      timeout=2).json()["data"]["result"]),
                     HEALTH_TIMEOUT_SECONDS, "every target scraped")  # fmt: skip
        rendered.prometheus_config.write_text(yaml.safe_dump(config, sort_keys=False))
        child.process.send_signal(signal.SIGHUP)
        wait_healthy(child, lambda: bool(requests.get(f"{api}/rules", timeout=2).json()["data"]["groups"]),
                     HEALTH_TIMEOUT_SECONDS, "its rules loaded")  # fmt: skip
        # Two rule evaluations later, alerts pending only because a window was not full yet have cleared
        # (bounded: at production intervals they could never fire anyway).
        time.sleep(min(2 * rendered.interval_seconds, 3.0))

    def wait(self, duration_seconds: float | None = None, stop: threading.Event | None = None) -> str:
        """Block until ``duration_seconds`` pass, ``stop`` is set or a component exits; says which."""
        stop = stop or threading.Event()
        deadline = None if duration_seconds is None else time.monotonic() + duration_seconds
        while not stop.wait(0.5):
            if deadline is not None and time.monotonic() >= deadline:
                return f"ran for {duration_seconds:g}s"
            for child in self.children:
                # The workload ending on its own is not a failure of the stack, nor is a dependency the
                # runtime degrades without (Redis, the model server) going away: drills kill those.
                if not child.alive() and child.name not in _MAY_EXIT:
                    return f"{child.name} exited with code {child.process.returncode} (see {child.log_path})"
        return "stopped"

    def down(self) -> None:
        """Stop every component, last started first (a no-op when nothing runs)."""
        for child in reversed(self.children):
            try:
                child.stop()
            except (OSError, TimeoutError) as exc:
                print(f"stopping {child.name} failed: {exc}", file=sys.stderr)
        self.children.clear()
        self._pidfile.path.unlink(missing_ok=True)

    def clear_faults(self) -> None:
        """Clear every injected fault (through the runtime's admin API)."""
        info = self._require_info()
        requests.delete(f"{info.runtime_url}/v1/faults", headers=self.auth(), timeout=5).raise_for_status()

    def auth(self) -> dict[str, str]:
        """The admin ``Authorization`` header."""
        return {"Authorization": f"Bearer {self._require_info().token}"}

    def _require_info(self) -> StackInfo:
        if self.info is None:
            raise StackError("the stack is not up")
        return self.info


def _reset_state(state: Path) -> None:
    """Empty what a previous run left (data, logs, alerts); keep anything else in the directory."""
    state.mkdir(parents=True, exist_ok=True)
    for name in _STATE_ENTRIES:
        path = state / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    (state / "logs").mkdir()


def stop_recorded(state_dir: Path, timeout: float = 15.0) -> list[str]:
    """``stack down`` from another shell: ask the launcher to stop, else stop its processes directly."""
    pidfile = PidFile(state_dir / "stack.json")
    data = pidfile.read()
    if data is None:
        return []
    launcher = data.get("launcher")
    names = [str(p["name"]) for p in pidfile.running()]
    # Signal the launcher only if it is the same process (pids are reused).
    if isinstance(launcher, int) and launcher != os.getpid() and start_time(launcher) == data.get("launcher_started"):
        try:
            os.kill(launcher, signal.SIGTERM)
        except ProcessLookupError:
            pass
        else:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and pidfile.path.exists():
                time.sleep(0.1)
    # Whatever the launcher did not stop (it was killed, or hung): stop directly.
    pidfile.stop_all()
    return names
