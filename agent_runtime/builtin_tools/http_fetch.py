"""``http_fetch``: GET a text document from an allow-listed host, safely.

The guards, in the order a request meets them:

1. only ``http`` and ``https`` URLs, without credentials in them;
2. the host must be on the allow-list (``host``, ``host:port`` or ``*.domain``
   entries); an empty list refuses everything;
3. unless ``allow_private`` is set, the host is resolved and *every* address
   it resolves to must be public: loopback, private, link-local, shared,
   multicast, reserved and unspecified addresses (also IPv4-mapped in IPv6)
   are refused, so an allowed name cannot point the tool at the metadata
   service or the cluster network;
4. redirects are not followed by ``requests`` but here, one hop at a time, and
   each hop goes through steps 1 to 3 again, so a redirect cannot leave the list;
5. the body is streamed and reading stops at ``max_response_bytes``: a larger
   response is a ``ToolError``, never a truncated success.

The addresses are checked before ``requests`` connects and resolves the name
again, so a DNS answer that changes in between (rebinding) is not caught;
the allow-list, which names hosts the operator trusts, is the primary guard.

Environment proxies, ``.netrc`` credentials and cookies are ignored: a fetch
must not carry the runtime's identity, or one call's state, to a fetched host.
429 and 5xx responses and network failures are ``RetryableToolError``; other
statuses are returned, since a 404 is an answer too.
"""

from __future__ import annotations

import codecs
import ipaddress
import socket
from collections.abc import Callable, Sequence
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit

import requests

from agent_runtime.builtin_tools._args import require_text
from agent_runtime.errors import ConfigError, RetryableToolError, ToolError

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CHUNK_BYTES = 64 * 1024
USER_AGENT = "agent-runtime-http-fetch/1"
_TEXT_SUBTYPES = frozenset({"json", "xml", "javascript", "yaml", "x-yaml", "csv", "markdown", "x-ndjson"})

Resolver = Callable[..., Sequence[tuple[Any, ...]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_refused_address(address: IPAddress) -> bool:
    """True for any address that is not public unicast (checked through IPv4-mapped IPv6)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def is_text_type(content_type: str) -> bool:
    """True for a media type worth decoding as text (missing means text)."""
    mime = content_type.split(";", 1)[0].strip().lower()
    if not mime:
        return True
    main, _, sub = mime.partition("/")
    return main == "text" or sub in _TEXT_SUBTYPES or sub.endswith(("+json", "+xml"))


def charset_of(content_type: str) -> str:
    """The ``charset`` parameter if it names a known codec, else UTF-8."""
    for parameter in content_type.split(";")[1:]:
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "charset":
            name = value.strip().strip("\"'")
            try:
                return codecs.lookup(name).name
            except LookupError:
                break
    return "utf-8"


class HttpFetcher:
    """The ``http_fetch`` tool: one pooled session and the guards above."""

    def __init__(
        self,
        allowed_hosts: Sequence[str],
        *,
        allow_private: bool = False,
        max_response_bytes: int = 1_000_000,
        max_redirects: int = 5,
        connect_timeout_seconds: float = 3.0,
        read_timeout_seconds: float = 10.0,
        resolver: Resolver = socket.getaddrinfo,
    ) -> None:
        self.allowed_hosts = tuple(_parse_allow_entry(entry) for entry in allowed_hosts)
        self.allow_private = allow_private
        self.max_response_bytes = max_response_bytes
        self.max_redirects = max_redirects
        self.timeout = (connect_timeout_seconds, read_timeout_seconds)
        self._resolve = resolver
        self._session = requests.Session()
        self._session.trust_env = False
        self._session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        self._session.headers.update({"User-Agent": USER_AGENT, "Accept": "text/*, application/json;q=0.9"})

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()

    def __call__(self, url: str) -> dict[str, Any]:
        """Fetch ``url``; ``{"url", "status", "content_type", "text", "bytes", "redirects"}``.

        ``url`` is the final URL after redirects, ``text`` the decoded body
        (charset from the response, else UTF-8, undecodable bytes replaced),
        ``bytes`` its size before decoding.
        """
        current = require_text("url", url).strip()
        for redirects in range(self.max_redirects + 1):
            self.check_url(current)
            response = self._get(current)
            with response:
                location = response.headers.get("Location")
                if response.status_code in REDIRECT_STATUSES and location:
                    current = urljoin(current, location)
                    continue
                if response.status_code == 429 or response.status_code >= 500:
                    raise RetryableToolError(f"HTTP {response.status_code} from {_origin(current)}")
                content_type = response.headers.get("Content-Type", "")
                if not is_text_type(content_type):
                    raise ToolError(f"{_origin(current)} returned {content_type}, not text")
                body = self._read_capped(response)
            return {
                "url": current,
                "status": response.status_code,
                "content_type": content_type,
                "text": body.decode(charset_of(content_type), errors="replace"),
                "bytes": len(body),
                "redirects": redirects,
            }
        raise ToolError(f"more than {self.max_redirects} redirects starting from {_origin(url)}")

    def check_url(self, url: str) -> None:
        """Raise ``ToolError`` unless ``url`` passes the scheme, allow-list and address guards."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise ToolError(f"invalid URL {url!r}: {exc}") from None
        if parts.scheme not in ("http", "https"):
            raise ToolError(f"only http and https URLs can be fetched, got {parts.scheme or 'no'} scheme")
        host = (parts.hostname or "").rstrip(".")
        if not host:
            raise ToolError(f"URL {url!r} has no host")
        if parts.username is not None or parts.password is not None:
            raise ToolError("URLs with credentials are not fetched")
        effective_port = port or (443 if parts.scheme == "https" else 80)
        if not self._host_allowed(host, effective_port):
            if not self.allowed_hosts:
                raise ToolError("http_fetch allows no hosts: set AGENT_RUNTIME_HTTP_ALLOWED_HOSTS")
            raise ToolError(f"host {host!r} is not on the http_fetch allow-list")
        if not self.allow_private:
            self._check_addresses(host, effective_port)

    def _host_allowed(self, host: str, port: int) -> bool:
        for pattern, allowed_port in self.allowed_hosts:
            if allowed_port is not None and allowed_port != port:
                continue
            if pattern.startswith("*."):
                if host.endswith(pattern[1:]):
                    return True
            elif host == pattern:
                return True
        return False

    def _check_addresses(self, host: str, port: int) -> None:
        try:
            infos = self._resolve(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)):
                raise ToolError(f"host {host!r} does not resolve") from None
            raise RetryableToolError(f"resolving {host!r} failed: {exc.strerror}") from None
        if not infos:
            raise ToolError(f"host {host!r} does not resolve")
        for info in infos:
            # IPv6 socket addresses may carry a zone ("fe80::1%eth0"), which ipaddress rejects.
            address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if is_refused_address(address):
                raise ToolError(
                    f"host {host!r} resolves to non-public address {address}; refused (allow_private is off)"
                )

    def _get(self, url: str) -> requests.Response:
        try:
            return self._session.get(url, stream=True, allow_redirects=False, timeout=self.timeout)
        except requests.Timeout:
            raise RetryableToolError(f"timed out fetching {_origin(url)}") from None
        except requests.ConnectionError as exc:
            raise RetryableToolError(f"cannot connect to {_origin(url)}: {type(exc).__name__}") from None
        except requests.RequestException as exc:
            raise ToolError(f"cannot fetch {_origin(url)}: {type(exc).__name__}") from None

    def _read_capped(self, response: requests.Response) -> bytes:
        cap = self.max_response_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > cap:
            raise ToolError(f"response of {declared} bytes exceeds the {cap}-byte limit")
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(CHUNK_BYTES):
                size += len(chunk)
                if size > cap:
                    raise ToolError(f"response exceeds the {cap}-byte limit")
                chunks.append(chunk)
        except requests.exceptions.ContentDecodingError:
            raise ToolError(f"undecodable response body from {_origin(response.url)}") from None
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, requests.Timeout):
            raise RetryableToolError(f"connection lost reading {_origin(response.url)}") from None
        return b"".join(chunks)


def _parse_allow_entry(entry: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]:port`` or ``*.domain`` → (lower-case host pattern, port or None)."""
    host, port = "", None
    # A URL ("https://host/") is a common mistake here; it would otherwise parse as the host "https".
    if not any(c in entry for c in "/@?#"):
        try:
            parts: SplitResult = urlsplit("//" + entry.strip())
            host, port = (parts.hostname or "").rstrip("."), parts.port
        except ValueError:
            host = ""
    if not host:
        raise ConfigError("builtin_tools.http_allowed_hosts", f"invalid entry {entry!r}")
    return host, port


def _origin(url: str) -> str:
    """``scheme://host:port`` of ``url``: enough to say where, without paths or query strings."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.scheme}://{parts.hostname}" + (f":{port}" if port else "")
