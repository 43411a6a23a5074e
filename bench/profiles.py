"""Where the time goes: a pyinstrument profile reduced to its top functions, for the results JSON.

The benchmarks profile the workload a target is measured on, so a missed
target comes with the functions that cost the most (by own time, summed over
every call path), ready for ``bench/report.py`` to print.

Example::

    >>> top = profile_top(lambda: sum(i * i for i in range(200_000)), limit=3)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyinstrument import Profiler
from pyinstrument.frame import Frame

REPO_ROOT = Path(__file__).resolve().parent.parent


def _where(frame: Frame) -> str:
    path = frame.file_path or ""
    try:
        path = str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        # A library: its package and module are enough to name it.
        parts = Path(path).parts
        inside = "site-packages" in parts
        path = "/".join(parts[parts.index("site-packages") + 1 :]) if inside else Path(path).name
    return f"{frame.function} ({path}:{frame.line_no})"


def profile_top(work: Callable[[], Any], *, limit: int = 12, interval: float = 0.0002) -> list[dict[str, Any]]:
    """Run ``work`` under pyinstrument; the ``limit`` functions with the most own time, with their share."""
    profiler = Profiler(interval=interval)
    profiler.start()
    try:
        work()
    finally:
        profiler.stop()
    session = profiler.last_session
    root = session.root_frame() if session is not None else None
    if root is None:
        return []
    totals: dict[str, float] = {}
    stack = [root]
    while stack:
        frame = stack.pop()
        stack.extend(frame.children)
        own = frame.total_self_time
        if own > 0 and not frame.is_synthetic:
            key = _where(frame)
            totals[key] = totals.get(key, 0.0) + own
    whole = sum(totals.values()) or 1.0
    ranked = sorted(totals.items(), key=lambda item: -item[1])[:limit]
    return [{"function": name, "share": round(seconds / whole, 4)} for name, seconds in ranked]
