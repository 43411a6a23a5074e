"""Find and start the real binaries tests run against.

On a developer's laptop a missing binary skips the test with the install
command; under ``CI=true`` it fails, because ``.ci/run`` installs them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

# Debian package that provides each binary.
PACKAGES = {
    "prometheus": "prometheus",
    "promtool": "prometheus",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "amtool": "prometheus-alertmanager",
    "redis-server": "redis-server",
    "gunicorn": "gunicorn (pip install -e '.[test]')",
    "kubectl": "kubernetes-client",
}


def in_ci() -> bool:
    """True when running under CI, where missing binaries are failures."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_binary(name: str) -> str:
    """The path of ``name``; skips (or fails under CI) when it is not installed."""
    path = shutil.which(name)
    if path is None:
        package = PACKAGES.get(name, name)
        message = f"{name} is not installed: apt-get install -y {package}"
        if in_ci():
            pytest.fail(f"CI=true but {message}")
        pytest.skip(message)
    return path


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll ``predicate`` until true; fail the test naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:
            pass
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


class ManagedProcess:
    """A child process that is stopped (and its log shown on failure) at teardown."""

    def __init__(self, argv: Sequence[str], log_path: Path, cwd: Path | None = None) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(self.argv, stdout=self._log, stderr=subprocess.STDOUT, cwd=cwd)

    def log(self) -> str:
        """The process output so far."""
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Terminate, then kill if it does not exit within five seconds."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()
