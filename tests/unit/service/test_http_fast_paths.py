"""The request path's shortcuts answer exactly what the general code answered.

Responses are encoded by orjson (``JsonProvider.response``) with ``json`` as
the fallback; the header limits are counted from the WSGI environ; the body
is decoded by one prebuilt decoder; agent names are kept per configuration.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal
import json
import uuid
from typing import Any

import numpy as np
import pytest
from flask import Flask, jsonify, request

from agent_runtime.service.app import JsonProvider
from agent_runtime.service.errors import (
    MAX_HEADER_FIELD_BYTES,
    MAX_HEADER_FIELDS,
    ApiError,
    check_request_limits,
)
from agent_runtime.service.settings import ServiceSettings
from agent_runtime.service.state import ServiceState
from agent_runtime.service.validation import json_object
from agent_runtime.vocabulary import Stage


@dataclasses.dataclass
class _Point:
    x: int
    y: int


_Pair = collections.namedtuple("_Pair", "left right")


def _app(*, debug: bool = False) -> Flask:
    app = Flask(__name__)
    app.json = JsonProvider(app)
    app.debug = debug
    return app


def _stdlib(value: Any) -> Any:
    """What ``json`` with the provider's default makes of ``value``, read back."""
    return json.loads(json.dumps(value, default=JsonProvider.default))


@pytest.mark.parametrize(
    "value",
    [
        {"task": "why is p95 up?", "confidence": 0.6214, "turns": [], "error": None, "gated": False},
        {"accents": "café ☕", "tiny": 1.5e-5, "huge": 1e16, "negative_zero": -0.0},
        {Stage.ROUTE: 0.000261, "tool:echo": 0.000112, 3: "three", None: "null key", True: "true key"},
        {"when": datetime.datetime(2026, 1, 2, 3, 4, 5, 6), "day": datetime.date(2026, 1, 2)},
        {"time": datetime.time(1, 2), "price": decimal.Decimal("1.10"), "id": uuid.UUID(int=5)},
        {"point": _Point(1, 2), "pair": _Pair(1, 2), "tags": {"b", "a"}, "raw": b"bytes"},
        {"float64": np.float64(0.5), "int64": np.int64(3), "array": np.array([1, 2])},
        {"big": 2**70, "surrogate": "\ud800"},
    ],
)
def test_orjson_responses_read_back_as_json_wrote_them(value: Any) -> None:
    app = _app()
    with app.app_context():
        response = jsonify(value)
    assert response.mimetype == "application/json"
    body = response.get_data()
    assert body.endswith(b"\n")
    assert json.loads(body) == _stdlib(value)


def test_what_orjson_refuses_is_written_by_json() -> None:
    app = _app()
    with app.app_context():
        body = jsonify({"surrogate": "\ud800", "big": 2**70}).get_data()
    assert body == b'{"surrogate":"\\ud800","big":1180591620717411303424}\n'


def test_a_key_json_refuses_still_fails_as_before() -> None:
    app = _app()
    with app.app_context(), pytest.raises(TypeError):
        jsonify({(1, 2): "tuple key"})


def test_nan_is_null_in_a_response() -> None:
    app = _app()
    with app.app_context():
        assert jsonify({"score": float("nan")}).get_data() == b'{"score":null}\n'


def test_debug_responses_are_indented_by_json() -> None:
    app = _app(debug=True)
    with app.app_context():
        assert jsonify({"a": 1}).get_data() == b'{\n  "a": 1\n}\n'


def _limits(headers: dict[str, str]) -> ApiError | None:
    app = Flask(__name__)
    with app.test_request_context("/v1/tasks", headers=headers):
        try:
            check_request_limits()
        except ApiError as error:
            return error
    return None


def test_header_count_is_werkzeugs() -> None:
    app = Flask(__name__)
    # The test client adds Host; with it the request has exactly the limit.
    headers = {f"X-H{index}": "v" for index in range(MAX_HEADER_FIELDS - 1)}
    with app.test_request_context("/v1/tasks", headers=headers):
        assert len(list(request.headers.items())) == MAX_HEADER_FIELDS
    assert _limits(headers) is None
    error = _limits({**headers, "X-One-More": "v"})
    assert error is not None
    assert (error.status, error.code) == (431, "too_many_header_fields")
    assert str(MAX_HEADER_FIELDS + 1) in error.message


def test_header_size_counts_name_colon_space_value() -> None:
    name = "X-Big"
    at_limit = "v" * (MAX_HEADER_FIELD_BYTES - len(name) - 2)
    assert _limits({name: at_limit}) is None
    error = _limits({name: at_limit + "v"})
    assert error is not None
    assert (error.status, error.code) == (431, "header_field_too_large")
    assert error.message.startswith(f"the header 'X-Big' is {MAX_HEADER_FIELD_BYTES + 1} bytes")


def test_content_type_counts_like_any_header() -> None:
    value = "application/json;" + "p" * (MAX_HEADER_FIELD_BYTES - len("Content-Type: application/json;") + 1)
    error = _limits({"Content-Type": value})
    assert error is not None
    assert error.message.startswith("the header 'Content-Type' is")


def _body(data: bytes, content_type: str) -> dict[str, Any] | ApiError:
    app = Flask(__name__)
    with app.test_request_context("/v1/tasks", method="POST", data=data, content_type=content_type):
        try:
            return json_object(required=True)
        except ApiError as error:
            return error


def test_a_byte_order_mark_is_refused_as_json_loads_refuses_it() -> None:
    error = _body(b'\xef\xbb\xbf{"task": "x"}', "application/json")
    assert isinstance(error, ApiError)
    assert error.message == (
        "the body is not valid JSON: Unexpected UTF-8 BOM (decode using utf-8-sig) at line 1 column 1"
    )


@pytest.mark.parametrize("content_type", ["application/json", "Application/JSON; charset=utf-8", "application/x+json"])
def test_json_content_types_are_accepted(content_type: str) -> None:
    assert _body(b'{"task": "x"}', content_type) == {"task": "x"}


def test_other_content_types_are_refused() -> None:
    error = _body(b'{"task": "x"}', "text/plain")
    assert isinstance(error, ApiError)
    assert (error.status, error.code) == (415, "unsupported_media_type")


class _Reloadable:
    def __init__(self, config: Any) -> None:
        self.config = config


@dataclasses.dataclass(frozen=True)
class _Agent:
    name: str


@dataclasses.dataclass(frozen=True)
class _Config:
    agents: tuple[_Agent, ...]


def test_agent_names_follow_a_reload() -> None:
    runtime = _Reloadable(_Config((_Agent("a"),)))
    state = ServiceState(runtime, ServiceSettings())  # type: ignore[arg-type]
    assert state.agent_names() == {"a"}
    assert state.agent_names() is state.agent_names()
    runtime.config = _Config((_Agent("a"), _Agent("b")))
    assert state.agent_names() == {"a", "b"}
