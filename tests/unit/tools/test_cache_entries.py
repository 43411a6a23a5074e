"""The tool cache's entry format: plain JSON values round-trip, anything else is refused or decodes as a miss."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from agent_runtime.tools.cache_entries import CacheEntry, NotJsonError, decode_entry, encode_entry


def entry(value: Any, tool: str = "search") -> CacheEntry:
    return CacheEntry(tool, value, 0.25, 2e9, 0.001)


@pytest.mark.parametrize(
    "value",
    [None, True, 0, -3, 2.5, "text", "ünïcode", [], {}, [1, "a", None], {"hits": [{"path": "a.md", "score": 0.5}]}],
)
def test_json_values_round_trip(value: Any) -> None:
    assert decode_entry(encode_entry(entry(value))) == entry(value)


def test_tuples_are_stored_as_arrays() -> None:
    decoded = decode_entry(encode_entry(entry({"pair": (1, 2)})))
    assert decoded is not None and decoded.value == {"pair": [1, 2]}


@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), {1: "int key"}, {("a",): 1}, {1, 2}, b"bytes", object(), lambda: None, [{"x": {2}}]],
)
def test_values_that_are_not_plain_json_are_refused(value: Any) -> None:
    with pytest.raises(NotJsonError):
        encode_entry(entry(value))


@pytest.mark.parametrize(
    "data",
    [
        None,
        b"",
        b"not json",
        b"[]",
        b'{"v": 2, "tool": "search", "value": 1, "seconds": 0, "expires_at": 0, "dollars": 0}',
        b'{"v": 1, "value": 1, "seconds": 0, "expires_at": 0, "dollars": 0}',
        b'{"v": 1, "tool": "search", "seconds": 0, "expires_at": 0, "dollars": 0}',
        b'{"v": 1, "tool": "search", "value": 1, "seconds": "0", "expires_at": 0, "dollars": 0}',
        b'{"v": 1, "tool": "search", "value": 1, "seconds": true, "expires_at": 0, "dollars": 0}',
        pickle.dumps(CacheEntry("search", 1, 0.0, 2e9)),
    ],
)
def test_anything_else_decodes_as_a_miss(data: bytes | None) -> None:
    assert decode_entry(data) is None
