"""``http_fetch``: GET a text document from an allow-listed host, safely.

The guards, in the order a request meets them:

1. the URL is parsed once, by the HTTP client's own parser
   (``urllib3.util.parse_url``), and what that parse found is what is checked
   and what is connected to, so no second parser can read another host out of
   the same string. Before parsing, a URL with a backslash, whitespace or a
   control character anywhere is refused (parsers disagree about all of them:
   WHATWG ends the authority at ``\\``, ``urlsplit`` drops tabs and newlines);
2. only ``http://`` and ``https://`` URLs, with no userinfo (no ``@`` in the
   authority at all), and a host that is a DNS name (letters, digits, ``-``,
   ``_``, non-empty labels; IDNA names in their ``xn--`` form), an IPv4
   address or a bracketed IPv6 address without a zone: percent-encoding,
   ``@`` and other characters that cannot appear in a host are refused;
3. the host must be on the allow-list (``host``, ``host:port`` or ``*.domain``
   entries, IDNA names in either form); an empty list refuses everything;
4. the host is resolved once, and unless ``allow_private`` is set *every*
   address it resolves to must be public: loopback, private, link-local,
   site-local, shared, multicast, reserved and unspecified addresses are
   refused, also when an IPv6 address embeds or maps such an IPv4 address
   (IPv4-mapped, IPv4-compatible, IPv4-translated, 6to4, Teredo, NAT64);
5. the connection goes to an address that was checked (pinned: no second DNS
   look-up that could answer differently), with the ``Host`` header, the TLS
   SNI name and the certificate check all using the name from the URL;
6. redirects are not followed by ``requests`` but here, one hop at a time, and
   each hop goes through steps 1 to 5 again, so a redirect cannot leave the list;
7. the body is streamed and reading stops at ``max_response_bytes``: a larger
   response is a ``ToolError``, never a truncated success.

Environment proxies, ``.netrc`` credentials and cookies are ignored: a fetch
must not carry the runtime's identity, or one call's state, to a fetched host.
429 and 5xx responses and network failures are ``RetryableToolError``; other
statuses are returned, since a 404 is an answer too.
"""

from __future__ import annotations

import codecs
import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import LocationParseError
from urllib3.util import Url, parse_url

from agent_runtime.builtin_tools._args import require_text
from agent_runtime.errors import ConfigError, RetryableToolError, ToolError, shorten

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CHUNK_BYTES = 64 * 1024
USER_AGENT = "agent-runtime-http-fetch/1"
_TEXT_SUBTYPES = frozenset({"json", "xml", "javascript", "yaml", "x-yaml", "csv", "markdown", "x-ndjson"})
# Checked addresses tried in turn when connecting fails (as a resolver-driven client would).
MAX_ADDRESSES_TRIED: Final = 3

Resolver = Callable[..., Sequence[tuple[Any, ...]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
# Anything at or below space, DEL, and the C1 controls and Unicode spaces that some parsers strip.
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f-\xa0\u1680\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\ufeff]")
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")
_SITE_LOCAL = ipaddress.IPv6Network("fec0::/10")
_PIN_ATTRIBUTE: Final = "_agent_runtime_http_fetch_pin"


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address maps, embeds or translates to (connecting may reach them)."""
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address in _IPV4_COMPATIBLE or address in _IPV4_TRANSLATED or address in _NAT64_WELL_KNOWN:
        found.append(low32)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    return found


def is_refused_address(address: IPAddress) -> bool:
    """True for any address that is not public unicast.

    IPv6 addresses are refused when they are site-local (``fec0::/10``) or in
    NAT64's local-use prefix, and when any IPv4 address they map, embed or
    translate to (IPv4-mapped, IPv4-compatible, IPv4-translated, 6to4,
    Teredo, NAT64 ``64:ff9b::/96``) would be refused.
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address in _SITE_LOCAL or address in _NAT64_LOCAL or address.scope_id:
            return True
        embedded = _embedded_ipv4(address)
        if any(is_refused_address(inner) for inner in embedded):
            return True
        if address.ipv4_mapped is not None:
            return False  # Python's own verdict on ::ffff:a.b.c.d is "private" whatever a.b.c.d is
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


@dataclass(frozen=True)
class Target:
    """A URL that passed the guards: what is requested, from whom, at which checked addresses.

    ``url`` is rebuilt from the one parse (scheme, host, port, path, query;
    no fragment), ``host`` the normalised name (lower case, IDNA ``xn--``
    form, no trailing dot; IPv6 without brackets), ``addresses`` the
    resolved addresses that were checked, in resolver order.
    """

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]

    @property
    def host_header(self) -> str:
        """The ``Host`` header: the name, and the port when it is not the scheme's default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def origin(self) -> str:
        """``scheme://host:port``: enough to say where, without paths or query strings."""
        return f"{self.scheme}://{self.host_header}"


@dataclass(frozen=True)
class _Pin:
    """The address a prepared request must connect to, and the name TLS must check."""

    address: str
    host: str
    port: int


class _PinnedAdapter(HTTPAdapter):
    """A transport that connects only to the address pinned on the request.

    The pool is keyed by the pinned IP and port, and for HTTPS by the name
    too: SNI (``server_hostname``) and certificate verification
    (``assert_hostname``) use the name, not the IP. A request without a pin
    is refused, so nothing reaches the network on a name the guards did not
    resolve.
    """

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> Any:
        base_host, base_pool = super().build_connection_pool_key_attributes(request, verify, cert)
        pin = getattr(request, _PIN_ATTRIBUTE, None)
        if not isinstance(pin, _Pin):
            raise ValueError("http_fetch connects only to addresses its guards checked")
        host_params: dict[str, Any] = {**base_host, "host": pin.address, "port": pin.port}
        pool_kwargs: dict[str, Any] = dict(base_pool)
        if host_params.get("scheme") == "https":
            pool_kwargs.update(server_hostname=pin.host, assert_hostname=pin.host)
        return host_params, pool_kwargs

    def get_connection(self, url: Any, proxies: Any = None) -> Any:
        # requests < 2.32.2 calls this instead, without the request: refuse rather than connect unpinned.
        raise requests.exceptions.InvalidURL("http_fetch needs requests >= 2.32.2 to pin its connections")


class HttpFetcher:
    """The ``http_fetch`` tool: one pooled session, pinned connections and the guards above.

    ``ca_bundle`` is a CA file to verify HTTPS against instead of the default
    bundle; ``resolver`` is ``socket.getaddrinfo``'s signature (tests inject one).
    """

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
        ca_bundle: str | None = None,
    ) -> None:
        self.allowed_hosts = tuple(_parse_allow_entry(entry) for entry in allowed_hosts)
        self.allow_private = allow_private
        self.max_response_bytes = max_response_bytes
        self.max_redirects = max_redirects
        self.timeout = (connect_timeout_seconds, read_timeout_seconds)
        self._resolve = resolver
        self._session = requests.Session()
        self._session.trust_env = False
        if ca_bundle is not None:
            self._session.verify = ca_bundle
        self._session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        self._session.headers.update({"User-Agent": USER_AGENT, "Accept": "text/*, application/json;q=0.9"})
        adapter = _PinnedAdapter(max_retries=0)
        for prefix in ("http://", "https://"):
            self._session.mount(prefix, adapter)

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()

    def __call__(self, url: str) -> dict[str, Any]:
        """Fetch ``url``; ``{"url", "status", "content_type", "text", "bytes", "redirects"}``.

        ``url`` is the final URL after redirects (as parsed and normalised),
        ``text`` the decoded body (charset from the response, else UTF-8,
        undecodable bytes replaced), ``bytes`` its size before decoding.
        """
        current = require_text("url", url).strip()
        for redirects in range(self.max_redirects + 1):
            target = self.check_url(current)
            response = self._get(target)
            with response:
                location = response.headers.get("Location")
                if response.status_code in REDIRECT_STATUSES and location:
                    current = urljoin(target.url, location)
                    continue
                if response.status_code == 429 or response.status_code >= 500:
                    raise RetryableToolError(f"HTTP {response.status_code} from {target.origin}")
                content_type = response.headers.get("Content-Type", "")
                if not is_text_type(content_type):
                    raise ToolError(f"{target.origin} returned {content_type}, not text")
                body = self._read_capped(response, target)
            return {
                "url": target.url,
                "status": response.status_code,
                "content_type": content_type,
                "text": body.decode(charset_of(content_type), errors="replace"),
                "bytes": len(body),
                "redirects": redirects,
            }
        raise ToolError(f"more than {self.max_redirects} redirects starting from {_origin(url)}")

    def check_url(self, url: str) -> Target:
        """The ``Target`` of ``url``, or ``ToolError`` unless it passes the URL, allow-list and address guards."""
        target = parse_target(url)
        if not self._host_allowed(target.host, target.port):
            if not self.allowed_hosts:
                raise ToolError("http_fetch allows no hosts: set AGENT_RUNTIME_HTTP_ALLOWED_HOSTS")
            raise ToolError(f"host {target.host!r} is not on the http_fetch allow-list")
        addresses = self._addresses(target.host, target.port)
        if not self.allow_private:
            for address in addresses:
                if is_refused_address(ipaddress.ip_address(address)):
                    raise ToolError(
                        f"host {target.host!r} resolves to non-public address {address}; refused (allow_private is off)"
                    )
        return Target(target.url, target.scheme, target.host, target.port, addresses)

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

    def _addresses(self, host: str, port: int) -> tuple[str, ...]:
        """Every address ``host`` resolves to (one look-up; zones dropped), in resolver order."""
        try:
            infos = self._resolve(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)):
                raise ToolError(f"host {host!r} does not resolve") from None
            raise RetryableToolError(f"resolving {host!r} failed: {exc.strerror}") from None
        addresses: list[str] = []
        for info in infos:
            # IPv6 socket addresses may carry a zone ("fe80::1%eth0"), which ipaddress rejects.
            address = str(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]))
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise ToolError(f"host {host!r} does not resolve")
        return tuple(addresses)

    def _get(self, target: Target) -> requests.Response:
        """GET ``target`` from its checked addresses in turn (the next one only when connecting failed)."""
        failure: requests.RequestException | None = None
        for address in target.addresses[:MAX_ADDRESSES_TRIED]:
            prepared = self._session.prepare_request(
                requests.Request("GET", target.url, headers={"Host": target.host_header})
            )
            setattr(prepared, _PIN_ATTRIBUTE, _Pin(address, target.host, target.port))
            try:
                return self._session.send(prepared, stream=True, allow_redirects=False, timeout=self.timeout)
            except requests.ConnectionError as exc:
                if isinstance(exc, requests.exceptions.SSLError):
                    raise ToolError(f"cannot fetch {target.origin}: TLS failed: {_reason(exc)}") from None
                failure = exc
                if isinstance(exc, requests.exceptions.ConnectTimeout | requests.exceptions.ProxyError):
                    continue
                if _connect_failed(exc):
                    continue
                break
            except requests.Timeout:
                raise RetryableToolError(f"timed out fetching {target.origin}") from None
            except requests.RequestException as exc:
                raise ToolError(f"cannot fetch {target.origin}: {type(exc).__name__}") from None
        if isinstance(failure, requests.exceptions.ConnectTimeout):
            raise RetryableToolError(f"timed out connecting to {target.origin}") from None
        name = type(failure).__name__ if failure is not None else "no address"
        raise RetryableToolError(f"cannot connect to {target.origin}: {name}") from None

    def _read_capped(self, response: requests.Response, target: Target) -> bytes:
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
            raise ToolError(f"undecodable response body from {target.origin}") from None
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, requests.Timeout):
            raise RetryableToolError(f"connection lost reading {target.origin}") from None
        return b"".join(chunks)


def parse_target(url: str) -> Target:
    """Parse ``url`` once, with urllib3's parser, into a ``Target`` without addresses; ``ToolError`` if unsafe.

    Refused: schemes other than http and https, URLs without ``//``,
    backslashes, whitespace and control characters anywhere, userinfo, and
    hosts that are not a DNS name, an IPv4 address or a bracketed IPv6
    address (percent-encoding, zones, empty labels, ``@`` ...).
    """
    scheme_match = _SCHEME.match(url)
    scheme = scheme_match.group(1).lower() if scheme_match else ""
    if scheme not in ("http", "https"):
        raise ToolError(f"only http and https URLs can be fetched, got {scheme or 'no'} scheme")
    if "\\" in url:
        raise ToolError("URLs with a backslash are not fetched: parsers disagree about them; percent-encode it")
    if _FORBIDDEN.search(url):
        raise ToolError("URLs with whitespace or control characters are not fetched; percent-encode them")
    rest = url[len(scheme) + 1 :]
    if not rest.startswith("//") or rest.startswith("///"):
        raise ToolError(f"invalid URL {_shown(url)}: an http(s) URL starts with {scheme}://host")
    authority = re.split(r"[/?#]", rest[2:], maxsplit=1)[0]
    if "@" in authority:
        raise ToolError("URLs with credentials (userinfo before '@') are not fetched")
    if "%" in authority:
        raise ToolError(f"invalid URL {_shown(url)}: percent-encoded characters are not allowed in the host")
    try:
        parts = parse_url(url)
    except LocationParseError as exc:
        raise ToolError(f"invalid URL {_shown(url)}: {exc}") from None
    if parts.auth is not None:
        raise ToolError("URLs with credentials (userinfo before '@') are not fetched")
    host = _normalise_host(parts.host or "", url)
    port = parts.port if parts.port is not None else (443 if scheme == "https" else 80)
    if not 0 < port < 65536:
        raise ToolError(f"invalid URL {_shown(url)}: port {port} is out of range")
    shown_host = f"[{host}]" if ":" in host else host
    rebuilt = Url(scheme=scheme, host=shown_host, port=parts.port, path=parts.path or "/", query=parts.query).url
    return Target(rebuilt, scheme, host, port, ())


def _normalise_host(host: str, url: str) -> str:
    """The host as matched and sent: lower case, one trailing dot dropped, IPv6 unbracketed; ``ToolError`` if odd."""
    if not host:
        raise ToolError(f"URL {_shown(url)} has no host")
    if host.startswith("["):
        try:
            address = ipaddress.IPv6Address(host[1:-1] if host.endswith("]") else "")
        except ValueError:
            raise ToolError(f"invalid URL {_shown(url)}: {_shown(host)} is not a valid IPv6 address") from None
        return str(address)
    name = host.lower()
    name = name[:-1] if name.endswith(".") else name
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ToolError(f"invalid URL {_shown(url)}: {_shown(host)} is not a valid host name")
    return name


def _connect_failed(exc: requests.ConnectionError) -> bool:
    """True when the error happened while connecting (so nothing was sent and another address may be tried)."""
    from urllib3.exceptions import MaxRetryError, NewConnectionError

    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, NewConnectionError)


def _reason(exc: BaseException) -> str:
    return shorten(str(exc.args[0] if exc.args else exc), 200)


def _shown(value: str) -> str:
    """``repr`` of a URL or host, cut short."""
    return repr(shorten(value, 120))


def _parse_allow_entry(entry: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]:port`` or ``*.domain`` → (host pattern as URLs are matched, port or None)."""
    text = entry.strip()
    # A URL ("https://host/") is a common mistake here; it would otherwise parse as the host "https".
    if not text or any(c in text for c in "/@?#\\%") or _FORBIDDEN.search(text):
        raise ConfigError("builtin_tools.http_allowed_hosts", f"invalid entry {entry!r}")
    wildcard = text.startswith("*.")
    try:
        target = parse_target("http://" + (text[2:] if wildcard else text) + "/")
        explicit_port = parse_url("http://" + (text[2:] if wildcard else text)).port
    except (ToolError, LocationParseError):
        raise ConfigError("builtin_tools.http_allowed_hosts", f"invalid entry {entry!r}") from None
    return ("*." if wildcard else "") + target.host, explicit_port


def _origin(url: str) -> str:
    """``scheme://host:port`` of ``url``: enough to say where, without paths or query strings."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "an invalid URL"
    return f"{parts.scheme}://{parts.hostname}" + (f":{port}" if port else "")
