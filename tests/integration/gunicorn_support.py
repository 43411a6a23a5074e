"""Running the service under real gunicorn in tests, as ``agent-runtime serve`` does.

``gunicorn(tmp_path, workers=2)`` starts ``gunicorn -c agent_runtime/serving/gunicorn_conf.py
agent_runtime.serving.wsgi:app`` on a free port with the environment of the
test (``monkeypatch`` it first: ``AGENT_RUNTIME_CONFIG``, ``OTEL_*``,
``PROMETHEUS_MULTIPROC_DIR``) and yields its base URL once ``/metrics`` answers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import requests

from agent_runtime.ops.stack.ports import free_port
from tests.support.binaries import ManagedProcess, require_binary, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
GUNICORN_CONF = REPO_ROOT / "agent_runtime" / "serving" / "gunicorn_conf.py"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


@contextmanager
def gunicorn(
    tmp_path: Path, workers: int, max_requests: int = 0, extra: Sequence[str] = ()
) -> Iterator[tuple[str, ManagedProcess]]:
    """A gunicorn server of the service; (base URL, process). Its log is printed when the block fails."""
    binary = require_binary("gunicorn")
    port = free_port()
    argv = [
        binary, "-c", str(GUNICORN_CONF), "agent_runtime.serving.wsgi:app",
        "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
        "--max-requests", str(max_requests), "--max-requests-jitter", "0", *extra,
    ]  # fmt: skip
    process = ManagedProcess(argv, tmp_path / f"gunicorn-{port}.log", cwd=REPO_ROOT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: requests.get(f"{base_url}/metrics", timeout=2).ok, 60, "gunicorn to serve /metrics")
        yield base_url, process
    except BaseException:
        print(process.log())
        raise
    finally:
        process.stop()


def scrape(base_url: str, *, openmetrics: bool = False) -> str:
    """The body of ``GET /metrics`` (OpenMetrics when asked)."""
    headers = {"Accept": OPENMETRICS} if openmetrics else {}
    response = requests.get(f"{base_url}/metrics", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    if openmetrics:
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    return response.text
