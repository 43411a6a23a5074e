"""Request-body checks that need no HTTP: tasks, invalidation and warming bodies."""

from __future__ import annotations

from typing import Any

import pytest

from agent_runtime.results import Task
from agent_runtime.service.errors import ApiError
from agent_runtime.service.settings import ServiceSettings
from agent_runtime.service.validation import json_type, parse_invalidate, parse_task, parse_warm

SETTINGS = ServiceSettings(max_task_chars=10, max_context_keys=2, max_warm_top_n=100)


def refused(call: Any, *args: Any, **kwargs: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_task_with_every_field() -> None:
    body = {"task": "cache", "context": {"url": "http://x"}, "agent": "ops"}
    assert parse_task(body, SETTINGS, agents=["ops"]) == Task("cache", {"url": "http://x"}, "ops")


def test_null_context_and_agent_are_absent() -> None:
    assert parse_task({"task": "cache", "context": None, "agent": None}, SETTINGS, agents=[]) == Task("cache")


def test_task_at_the_length_limit_passes_and_one_more_does_not() -> None:
    assert parse_task({"task": "x" * 10}, SETTINGS, agents=[]).text == "x" * 10
    error = refused(parse_task, {"task": "x" * 11}, SETTINGS, agents=[])
    assert (error.status, error.code) == (400, "task_too_long")
    assert error.message == '"task" has 11 characters, over the limit of 10; shorten it'


def test_context_key_limit() -> None:
    error = refused(parse_task, {"task": "x", "context": {"a": 1, "b": 2, "c": 3}}, SETTINGS, agents=[])
    assert error.code == "context_too_large"


def test_unknown_agent_lists_the_configured_ones() -> None:
    error = refused(parse_task, {"task": "x", "agent": "y" * 200}, SETTINGS, agents=["b", "a"])
    assert error.code == "unknown_agent"
    assert "configured agents: a, b" in error.message
    assert len(error.message) < 200  # the echoed name is cut


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"tool": "lookup"}, ("lookup", None)),
        ({"tag": "docs"}, (None, "docs")),
        ({"tool": None, "tag": "d"}, (None, "d")),
    ],
)
def test_invalidate_bodies(body: dict[str, Any], expected: tuple[str | None, str | None]) -> None:
    assert parse_invalidate(body) == expected


@pytest.mark.parametrize("body", [{}, {"tool": "a", "tag": "b"}, {"tool": " "}, {"tag": 1}, {"all": True}])
def test_bad_invalidate_bodies(body: dict[str, Any]) -> None:
    assert refused(parse_invalidate, body).status == 400


def test_warm_bodies() -> None:
    assert parse_warm({}, SETTINGS) is None
    assert parse_warm({"top_n": 100}, SETTINGS) == 100
    assert refused(parse_warm, {"top_n": 101}, SETTINGS).code == "invalid_value"
    assert refused(parse_warm, {"top_n": 1.5}, SETTINGS).code == "invalid_type"


@pytest.mark.parametrize(
    ("value", "name"),
    [({}, "object"), ([], "array"), ("", "string"), (True, "boolean"), (1, "number"), (1.5, "number"), (None, "null")],
)
def test_json_type_names(value: object, name: str) -> None:
    assert json_type(value) == name
