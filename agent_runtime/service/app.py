"""The Flask application factory of the HTTP service.

Example::

    >>> from agent_runtime.bootstrap import build_runtime
    >>> app = create_app(build_runtime())          # doctest: +SKIP
    >>> app.run(port=8000)                         # doctest: +SKIP

Under gunicorn, ``agent_runtime/serving/wsgi.py`` builds the app the same way.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import uuid
from typing import Any, Final

import orjson
from flask import Flask, Response
from flask.json.provider import DefaultJSONProvider
from werkzeug.sansio.response import Response as BaseResponse

from agent_runtime.runtime import Runtime
from agent_runtime.service import admin, introspection, metrics_endpoint, openapi, tasks
from agent_runtime.service.errors import register_error_handlers
from agent_runtime.service.faults_api import register_faults_api
from agent_runtime.service.settings import ServiceSettings
from agent_runtime.service.state import EXTENSION_KEY, ServiceState


def _json_default(value: Any) -> Any:
    """JSON for values tools may return beyond plain JSON types."""
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    # A tool returned something JSON cannot express: show it rather than fail the request.
    return repr(value)


def _orjson_default(value: Any) -> Any:
    """``_json_default`` for orjson, which (unlike ``json``) leaves float and tuple subclasses to it."""
    if isinstance(value, float):
        return float(value)  # numpy.float64 and friends: a number, as json writes them
    if isinstance(value, tuple):
        return list(value)  # named tuples: an array, as json writes them
    return _json_default(value)


# Non-str keys as json converts them (str enums, numbers); dates and dataclasses go to the default, as with json.
_ORJSON_OPTIONS: Final = (
    orjson.OPT_NON_STR_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_APPEND_NEWLINE
)


class JsonProvider(DefaultJSONProvider):
    """Keeps keys in the order the handlers wrote them and never fails on a tool's odd result type.

    Responses are encoded by orjson: a task's result costs about a third of
    what ``json`` takes (``bench/bench_http.py``). The body is UTF-8 rather than
    ASCII with escapes, and a NaN or infinite float is written as ``null`` (valid
    JSON) rather than ``NaN``, and a plain ``Enum`` as its value rather than
    its ``repr``. What orjson refuses (an integer over 64 bits, a
    string with a lone surrogate, a key that is not a str, number or enum) is
    encoded by ``json`` as before; so is every response in debug mode, indented.
    """

    sort_keys = False
    default = staticmethod(_json_default)

    def response(self, *args: Any, **kwargs: Any) -> BaseResponse:
        if self.compact is False or (self.compact is None and self._app.debug):
            return super().response(*args, **kwargs)
        obj = self._prepare_response_obj(args, kwargs)
        try:
            body = orjson.dumps(obj, default=_orjson_default, option=_ORJSON_OPTIONS)
        except orjson.JSONEncodeError:
            return super().response(*args, **kwargs)
        # Flask's Response, which this service's apps use (their response_class is left alone).
        return Response(body, mimetype=self.mimetype)


def create_app(runtime: Runtime, settings: ServiceSettings | None = None) -> Flask:
    """A Flask app serving ``runtime``.

    ``settings`` default to ``ServiceSettings.from_env()`` (admin token,
    limits and fault injection from ``AGENT_RUNTIME_*`` variables). The app does not own the
    runtime: close it yourself when the app is done.
    """
    settings = settings if settings is not None else ServiceSettings.from_env()
    # No static folder: every route of this app is an API route described in /openapi.json.
    app = Flask(__name__, static_folder=None)
    app.json = JsonProvider(app)
    # Before any route is added (rules take it when bound): /v1//tasks is the JSON 404, not an HTML redirect.
    app.url_map.merge_slashes = False
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions[EXTENSION_KEY] = ServiceState(runtime, settings)
    for module in (tasks, introspection, admin, metrics_endpoint, openapi):
        app.register_blueprint(module.blueprint)
    # Always routed, so /openapi.json is the same either way; off, the endpoints answer 404 faults_disabled.
    register_faults_api(app, runtime, settings.faults)
    register_error_handlers(app)
    return app
