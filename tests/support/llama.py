"""Start a real llama.cpp ``llama-server`` with Gemma 3 270M for tests.

Binary and weights come from the optional ``local-llm`` extra, found by
``agent_runtime.ops.local_model`` (the same code the local stack uses). When
the extra is missing the test skips with the pip command; under ``CI=true``
it fails, because ``.ci/run`` installs it.

Example (in a fixture)::

    with LlamaServer(tmp_path) as server:           # starts, waits for /health 200; stops on exit
        client = openai.OpenAI(base_url=server.base_url, api_key="none")
        client.chat.completions.create(model=server.model, messages=[...], max_tokens=16)
        requests.get(server.metrics_url).text       # llamacpp:* series
"""

from __future__ import annotations

import time
from pathlib import Path
from types import TracebackType

import pytest
import requests

from agent_runtime.ops.local_model import (
    DEFAULT_CTX_SIZE,
    DEFAULT_PARALLEL,
    DEFAULT_THREADS,
    MODEL_ALIAS,
    LocalModelUnavailableError,
    base_url,
    find_model_file,
    find_server_binary,
    server_command,
)
from agent_runtime.ops.stack.ports import free_port
from tests.support.binaries import ManagedProcess, in_ci, wait_until

# Loading 250 MB of weights takes about a second on a 2-core machine; generous for a loaded CI host.
STARTUP_TIMEOUT_SECONDS = 120.0


def require_local_model() -> tuple[Path, Path]:
    """``(llama-server, model.gguf)``; skips (or fails under CI) when the local-llm extra is missing."""
    try:
        return find_server_binary(), find_model_file()
    except LocalModelUnavailableError as exc:
        if in_ci():
            pytest.fail(f"CI=true but {exc}")
        pytest.skip(str(exc))


class LlamaServer:
    """``llama-server --metrics`` serving Gemma 3 270M as ``model`` on a free loopback port.

    ``base_url`` is the OpenAI-compatible root (``http://127.0.0.1:PORT/v1``),
    ``metrics_url`` the Prometheus endpoint, ``cold_start_seconds`` the time
    from spawn to the first ``/health`` 200.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        alias: str = MODEL_ALIAS,
        threads: int = DEFAULT_THREADS,
        ctx_size: int = DEFAULT_CTX_SIZE,
        parallel: int = DEFAULT_PARALLEL,
    ) -> None:
        self.workdir = workdir
        self.model = alias
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.base_url = base_url(self.port)
        self.metrics_url = f"{self.url}/metrics"
        self.health_url = f"{self.url}/health"
        binary, model_file = require_local_model()
        self.argv = server_command(self.port, alias=alias, threads=threads, ctx_size=ctx_size, parallel=parallel,
                                   binary=binary, model=model_file)  # fmt: skip
        self.cold_start_seconds: float | None = None
        self._process: ManagedProcess | None = None

    @property
    def pid(self) -> int:
        """The server's process id."""
        if self._process is None:
            raise RuntimeError("llama-server is not started")
        return self._process.proc.pid

    def start(self) -> None:
        """Spawn the server and wait until ``/health`` answers 200 (the model is loaded)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        self._process = ManagedProcess(self.argv, self.workdir / "llama-server.log", cwd=self.workdir)
        try:
            wait_until(self._healthy, STARTUP_TIMEOUT_SECONDS, f"llama-server /health on port {self.port}",
                       interval=0.1)  # fmt: skip
        except BaseException:
            log = self.log()
            self.stop()
            print(f"llama-server log:\n{log[-4000:]}")
            raise
        self.cold_start_seconds = time.monotonic() - started

    def _healthy(self) -> bool:
        process = self._process
        if process is not None and process.proc.poll() is not None:
            pytest.fail(f"llama-server exited with code {process.proc.returncode}:\n{process.log()[-4000:]}")
        return requests.get(self.health_url, timeout=1).status_code == 200

    def log(self) -> str:
        """The server's output so far."""
        return self._process.log() if self._process is not None else ""

    def stop(self) -> None:
        """Terminate the server (kill after five seconds); idempotent."""
        if self._process is not None:
            self._process.stop()
            self._process = None

    def __enter__(self) -> LlamaServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
