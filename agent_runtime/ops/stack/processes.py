"""Start, health-check and stop the stack's processes; remember them in a pid file.

Every child runs in its own session (process group), so Ctrl-C in the
terminal reaches only the launcher, which then stops the children in order,
and ``stack down`` from another shell can stop a whole group (gunicorn's
master and its workers). The pid file records each child's start time as
well, so a pid the kernel has since reused for something else is never
signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import requests

STOP_TIMEOUT_SECONDS: Final = 10.0
LOG_TAIL_LINES: Final = 20


class StackError(Exception):
    """A process of the stack failed to start or to become healthy; the message says why."""


def start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces: count fields after its closing parenthesis.
    return int(stat.rsplit(")", 1)[1].split()[19])


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file ("" when there is none)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class Child:
    """One running process of the stack, with its log file and what started it (to start it again)."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    argv: tuple[str, ...] = ()
    env: Mapping[str, str] | None = None

    @property
    def pid(self) -> int:
        """The process id (and process group id)."""
        return self.process.pid

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process.poll() is None

    def signal_group(self, signum: int) -> None:
        """Send ``signum`` to the child's process group (SIGSTOP/SIGCONT freeze and thaw it)."""
        if self.alive():
            os.killpg(self.pid, signum)

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """SIGTERM the group, then SIGKILL it if it has not exited within ``timeout``.

        The whole group, even when its leader is gone: a crashed gunicorn master may leave workers.
        """
        stop_group(self.pid, timeout)
        self.process.wait(timeout=timeout)


def spawn(name: str, argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None) -> Child:
    """Start ``argv`` in a new session with stdout and stderr to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        try:
            process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                start_new_session=True,
            )
        except OSError as exc:
            raise StackError(f"cannot start {name} ({argv[0]}): {exc}") from None
    return Child(name, process, log_path, tuple(argv), env)


def respawn(child: Child) -> Child:
    """The same command started again (after it was killed or stopped), logging to the same file."""
    return spawn(child.name, child.argv, child.log_path, child.env)


def stop_group(pid: int, timeout: float = STOP_TIMEOUT_SECONDS) -> bool:
    """SIGTERM process group ``pid``, SIGKILL it after ``timeout``; False when nothing of it was running."""
    if not group_alive(pid):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGCONT)  # a frozen group cannot act on SIGTERM
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not group_alive(pid):
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    return True


def group_alive(pgid: int) -> bool:
    """True while a process of group ``pgid`` runs (zombies, exited but not reaped, do not count)."""
    for stat_path in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_path.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited while we looked
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def wait_healthy(child: Child, check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``check`` until true; ``StackError`` with the log tail if the child exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise StackError(
                f"{child.name} exited with code {child.process.returncode} before {what}; "
                f"the end of {child.log_path}:\n{log_tail(child.log_path)}"
            )
        try:
            if check():
                return
        except (OSError, requests.RequestException):
            pass
        time.sleep(0.1)
    raise StackError(
        f"{child.name} did not get {what} within {timeout:g}s; the end of {child.log_path}:\n{log_tail(child.log_path)}"
    )


def http_ok(url: str, timeout: float = 1.0) -> Callable[[], bool]:
    """A health check: ``GET url`` answers 2xx."""
    return lambda: requests.get(url, timeout=timeout).ok


class PidFile:
    """``{name: {pid, started}}`` of the running stack, plus its URLs, as JSON."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, children: Sequence[Child], info: Mapping[str, Any]) -> None:
        """Record ``children`` (in start order) and ``info`` (URLs, token path)."""
        entries = [{"name": c.name, "pid": c.pid, "started": start_time(c.pid)} for c in children]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        data = {"launcher": os.getpid(), "launcher_started": start_time(os.getpid()), "processes": entries,
                "info": dict(info)}  # fmt: skip
        temporary.write_text(json.dumps(data, indent=2))
        os.replace(temporary, self.path)

    def read(self) -> dict[str, Any] | None:
        """The recorded stack, or None when there is no (readable) pid file."""
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def running(self) -> list[dict[str, Any]]:
        """The recorded processes that still run (same pid, same start time)."""
        data = self.read() or {}
        return [
            p
            for p in data.get("processes", [])
            if p.get("started") is not None and start_time(int(p["pid"])) == p["started"]
        ]

    def stop_all(self, timeout: float = STOP_TIMEOUT_SECONDS) -> list[str]:
        """Stop the recorded processes still running, last started first; their names."""
        stopped = []
        for entry in reversed(self.running()):
            if stop_group(int(entry["pid"]), timeout):
                stopped.append(str(entry["name"]))
        self.path.unlink(missing_ok=True)
        return stopped
