"""The profiler's bottleneck report: ranking by share and by p95 against targets."""

from __future__ import annotations

from agent_runtime.profiler import Profiler


def test_ranks_by_share_and_flags_targets() -> None:
    profiler = Profiler(targets={"route": 0.002, "tool": 0.05, "execute": 1.0})
    for i in range(100):
        slow_route = 0.01 if i >= 90 else 0.001
        profiler.record(
            {"route": slow_route, "execute": 0.05, "tool:search": 0.04, "aggregate": 0.0001},
            task_seconds=0.06,
        )
    report = profiler.report()
    assert [s.stage for s in report.stages][:2] == ["execute", "tool:search"]
    route = next(s for s in report.stages if s.stage == "route")
    assert route.p95_seconds == 0.01
    assert route.p50_seconds == 0.001
    assert route.over_target
    tool = next(s for s in report.stages if s.stage == "tool:search")
    assert tool.target_seconds == 0.05 and not tool.over_target
    assert [s.stage for s in report.over_target()] == ["route"]
    assert report.tasks == 100
    data = report.to_dict()
    assert data["over_target"] == ["route"]
    assert abs(data["by_share"][0]["share_of_task_time"] - 0.05 / 0.06) < 1e-3


def test_window_forgets_old_tasks() -> None:
    profiler = Profiler(window=10)
    for _ in range(10):
        profiler.record({"plan": 1.0}, task_seconds=1.0)
    for _ in range(10):
        profiler.record({"plan": 0.001}, task_seconds=0.001)
    assert profiler.report().stages[0].p95_seconds == 0.001


def test_empty_report() -> None:
    report = Profiler().report()
    assert report.tasks == 0 and report.stages == ()
