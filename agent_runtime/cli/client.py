"""A small HTTP client for a running agent-runtime service, with one-line errors.

Every failure (service not running, timeout, 401, a 4xx with the service's
JSON error) becomes a ``CliError`` whose message names the URL and says what
to do, so commands never print a traceback for them.

Example::

    >>> client = ServiceClient("http://127.0.0.1:8000", token=None)
    >>> client.endpoint("/v1/breakers")
    'http://127.0.0.1:8000/v1/breakers'
"""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import urlsplit

import requests

from agent_runtime.cli.common import TOKEN_ENV, URL_ENV, CliError


class ServiceClient:
    """JSON requests to one service base URL, with an optional admin bearer token."""

    def __init__(self, url: str, *, token: str | None, timeout: float = 30.0) -> None:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - parsing the port is part of the check
        except ValueError as exc:
            raise CliError(f"--url is not a valid URL ({exc}), got {url!r}; e.g. http://127.0.0.1:8000") from None
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CliError(f"--url must be an http:// or https:// URL, got {url!r}")
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._session = requests.Session()

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ServiceClient:
        """A client for the ``--url``/``--token``/``--timeout`` options."""
        return cls(args.url, token=args.token, timeout=args.timeout)

    def endpoint(self, path: str) -> str:
        """The absolute URL of ``path``."""
        return f"{self.url}{path}"

    def get(self, path: str) -> Any:
        """GET ``path``; the decoded JSON body."""
        return self._request("GET", path)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """POST ``body`` as JSON to ``path``; the decoded JSON body."""
        return self._request("POST", path, body)

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = self.endpoint(path)
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = self._session.request(method, url, json=body, headers=headers, timeout=self.timeout)
        except requests.Timeout:
            raise CliError(f"the service at {self.url} did not answer within {self.timeout:g}s") from None
        except requests.ConnectionError:
            raise CliError(
                f"cannot reach the agent-runtime service at {self.url}; start it with "
                f"`agent-runtime serve`, or point --url (or ${URL_ENV}) at a running one"
            ) from None
        except requests.RequestException as exc:
            raise CliError(f"request to {url} failed: {exc}") from None
        if response.status_code >= 400:
            raise CliError(self._describe_error(method, path, response))
        try:
            return response.json()
        except ValueError:
            raise CliError(f"{method} {url} answered {response.status_code} without a JSON body") from None

    def _describe_error(self, method: str, path: str, response: requests.Response) -> str:
        message = _error_message(response)
        where = f"{method} {self.endpoint(path)}"
        if response.status_code == 401:
            hint = "check --token" if self.token else f"pass --token or set ${TOKEN_ENV}"
            return f"{where}: 401 unauthorized: {message} ({hint})"
        return f"{where}: {response.status_code}: {message}"


def _error_message(response: requests.Response) -> str:
    """The service's JSON error message, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200] or response.reason
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    return str(body)[:200]
