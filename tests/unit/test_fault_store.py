"""Fault records: a request's checks, and a fault's round trip through JSON."""

from __future__ import annotations

from typing import Any

import pytest

from agent_runtime.ops.fault_store import Fault, FaultError, FaultRequest


@pytest.mark.parametrize(
    ("request_fields", "message"),
    [
        ({"kind": "explode"}, "unknown fault kind"),
        ({"kind": "latency", "seconds": 0}, "0 < seconds"),
        ({"kind": "error", "rate": 1.5}, "rate must be between 0 and 1"),
        ({"kind": "dependency_down"}, 'needs "dependency"'),
        ({"kind": "cache_flush", "every_seconds": 0.001}, "every_seconds must be >="),
        ({"kind": "error", "duration_seconds": -1}, "duration_seconds must be > 0"),
    ],
)
def test_invalid_requests_say_what_is_wrong(request_fields: dict[str, Any], message: str) -> None:
    with pytest.raises(FaultError, match=message):
        FaultRequest(**request_fields)


def test_fault_round_trips_through_json() -> None:
    fault = Fault(id="hang-1", kind="hang", tools=("a", "b"), started_at=1.0, expires_at=5.0)
    assert Fault.from_dict(fault.to_dict(now=2.0)) == fault
    assert fault.to_dict(now=2.0)["remaining_seconds"] == 3.0
