"""Canonical call keys and the popular-calls table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent_runtime.tools.calls import CallFrequency, args_key, call_hash, canonical_args


def test_canonical_args_ignore_dict_order_but_not_values() -> None:
    assert canonical_args({"b": 1, "a": {"y": 2, "x": [1, 2]}}) == canonical_args({"a": {"x": [1, 2], "y": 2}, "b": 1})
    assert call_hash("search", {"q": "a", "n": 1}) == call_hash("search", {"n": 1, "q": "a"})
    assert call_hash("search", {"q": "a"}) != call_hash("search", {"q": "b"})
    assert call_hash("search", {"q": "a"}) != call_hash("fetch", {"q": "a"})
    assert call_hash("t", {"n": 1}) != call_hash("t", {"n": "1"})
    assert canonical_args({"s": {3, 1, 2}}) == canonical_args({"s": {2, 3, 1}}) == '{"s":[1,2,3]}'


def test_values_json_cannot_encode_still_get_a_stable_form() -> None:
    @dataclass(frozen=True)
    class Point:
        x: int
        y: int

    assert canonical_args({"p": Point(1, 2), "b": b"\x01\xff"}) == '{"b":"01ff","p":{"x":1,"y":2}}'
    assert canonical_args({"s": frozenset({"b", "a"})}) == '{"s":["a","b"]}'


def test_call_frequency_stays_bounded_and_keeps_popular_calls() -> None:
    frequency = CallFrequency(capacity=10)
    for _ in range(50):
        frequency.record("hot", "search", {"q": "hot"})
    for n in range(100):
        frequency.record(f"cold{n}", "search", {"q": n})

    assert len(frequency) <= 10
    assert frequency.top(1) == [("search", {"q": "hot"})]


def test_ties_keep_first_seen_order_and_top_is_bounded_by_n() -> None:
    frequency = CallFrequency()
    for name in ("x", "y", "z"):
        frequency.record(name, "t", {"k": name})

    assert frequency.top(2) == [("t", {"k": "x"}), ("t", {"k": "y"})]
    assert frequency.top(0) == []


def test_l0_keys_are_equal_exactly_when_the_canonical_json_is() -> None:
    samples: list[dict[str, Any]] = [
        {"q": "a"},
        {"q": 1},
        {"q": 1.0},
        {"q": True},
        {"q": "1"},
        {"q": None},
        {"q": [1, 2]},
        {"q": (1, 2)},
        {"q": ["1", 2]},
        {"q": [True, 2]},
        {"q": [1.0, 2]},
        {"q": [[1], 2]},
        {"q": []},
        {"q": ()},
        {"q": [1, 2], "n": ["a"]},
        {"n": ("a",), "q": (1, 2)},
        {"q": "a", "n": 2},
        {"n": 2, "q": "a"},
        {"q": "a", "n": 2.0},
        {"q": ["a"], "n": 2},
        {},
    ]
    for left in samples:
        for right in samples:
            assert (args_key(left) == args_key(right)) == (canonical_args(left) == canonical_args(right)), (left, right)
