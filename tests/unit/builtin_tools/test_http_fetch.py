"""http_fetch against a loopback server: allow-list, redirects, size cap, address and scheme guards."""

from __future__ import annotations

import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agent_runtime.builtin_tools.http_fetch import HttpFetcher, charset_of, is_refused_address, is_text_type
from agent_runtime.errors import ConfigError, RetryableToolError, ToolError
from agent_runtime.ops.stack.ports import free_port
from tests.unit.builtin_tools.conftest import LoopbackServer, Reply

TEXT = {"Content-Type": "text/plain; charset=utf-8"}


def _redirect(location: str, status: int = 302) -> Reply:
    return Reply(status, b"", {"Location": location})


@pytest.fixture()
def fetch(http_server: LoopbackServer) -> Iterator[HttpFetcher]:
    """Allows 127.0.0.1 (any port) and reaches it because allow_private is on."""
    http_server.routes["/text"] = lambda _: Reply(200, "héllo wörld".encode(), TEXT)
    fetcher = HttpFetcher(["127.0.0.1"], allow_private=True, max_response_bytes=1000, max_redirects=3)
    yield fetcher
    fetcher.close()


def test_allowed_fetch_returns_status_type_and_decoded_text(fetch: HttpFetcher, http_server: LoopbackServer) -> None:
    result = fetch(http_server.url("/text"))
    assert result == {
        "url": http_server.url("/text"),
        "status": 200,
        "content_type": "text/plain; charset=utf-8",
        "text": "héllo wörld",
        "bytes": len("héllo wörld".encode()),
        "redirects": 0,
    }
    assert http_server.requests[0].headers["User-Agent"].startswith("agent-runtime-http-fetch")


def test_host_off_the_allow_list_is_refused_before_any_request(fetch: HttpFetcher, http_server: LoopbackServer) -> None:
    with pytest.raises(ToolError, match="'localhost' is not on the http_fetch allow-list"):
        fetch(http_server.url("/text", host="localhost"))
    assert http_server.requests == []


def test_redirect_on_the_list_is_followed(fetch: HttpFetcher, http_server: LoopbackServer) -> None:
    http_server.routes["/old"] = lambda _: _redirect("/middle", 301)
    http_server.routes["/middle"] = lambda _: _redirect(http_server.url("/text"), 307)
    result = fetch(http_server.url("/old"))
    assert (result["status"], result["text"], result["redirects"]) == (200, "héllo wörld", 2)
    assert result["url"] == http_server.url("/text")
    assert http_server.paths() == ["/old", "/middle", "/text"]


def test_redirect_off_the_list_is_refused(fetch: HttpFetcher, http_server: LoopbackServer) -> None:
    http_server.routes["/escape"] = lambda _: _redirect(http_server.url("/text", host="localhost"))
    with pytest.raises(ToolError, match="not on the http_fetch allow-list"):
        fetch(http_server.url("/escape"))
    assert http_server.paths() == ["/escape"]  # the off-list target was never requested


def test_redirect_to_another_scheme_is_refused(fetch: HttpFetcher, http_server: LoopbackServer) -> None:
    http_server.routes["/file"] = lambda _: _redirect("file:///etc/passwd")
    with pytest.raises(ToolError, match="only http and https"):
        fetch(http_server.url("/file"))


def test_redirect_loops_stop_at_the_limit(fetch: HttpFetcher, http_server: LoopbackServer) -> None:
    http_server.routes["/loop"] = lambda _: _redirect("/loop")
    with pytest.raises(ToolError, match="more than 3 redirects"):
        fetch(http_server.url("/loop"))
    assert len(http_server.requests) == 4


def test_declared_oversize_response_is_refused(fetch: HttpFetcher, http_server: LoopbackServer) -> None:
    http_server.routes["/big"] = lambda _: Reply(200, b"x" * 1001, TEXT)
    with pytest.raises(ToolError, match="1001 bytes exceeds the 1000-byte limit"):
        fetch(http_server.url("/big"))


def test_streamed_response_stops_at_the_cap(fetch: HttpFetcher, http_server: LoopbackServer) -> None:
    # Chunked, so there is no Content-Length to check up front: the stream itself is cut off.
    http_server.routes["/stream"] = lambda _: Reply(200, [b"y" * 400] * 5, TEXT)
    with pytest.raises(ToolError, match="exceeds the 1000-byte limit"):
        fetch(http_server.url("/stream"))


def test_response_exactly_at_the_cap_is_accepted(fetch: HttpFetcher, http_server: LoopbackServer) -> None:
    http_server.routes["/exact"] = lambda _: Reply(200, [b"z" * 500] * 2, TEXT)
    assert fetch(http_server.url("/exact"))["bytes"] == 1000


def test_loopback_is_refused_unless_private_addresses_are_allowed(http_server: LoopbackServer) -> None:
    http_server.routes["/text"] = lambda _: Reply(200, b"secret", TEXT)
    fetcher = HttpFetcher(["127.0.0.1", "localhost"])
    try:
        for host in ("127.0.0.1", "localhost"):
            with pytest.raises(ToolError, match="non-public address"):
                fetcher(http_server.url("/text", host=host))
    finally:
        fetcher.close()
    assert http_server.requests == []


def _resolver(*addresses: str) -> Any:
    def resolve(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses
        ]

    return resolve


@pytest.mark.parametrize(
    "addresses",
    [
        ("10.1.2.3",),
        ("192.168.0.10",),
        ("172.16.5.5",),
        ("169.254.169.254",),  # cloud metadata service
        ("100.64.0.1",),  # carrier-grade NAT
        ("0.0.0.0",),
        ("224.0.0.1",),
        ("::1",),
        ("fe80::1%eth0",),
        ("fd00::1",),
        ("::ffff:127.0.0.1",),
        ("93.184.216.34", "10.0.0.1"),  # one private answer among public ones is enough to refuse
    ],
)
def test_names_resolving_to_non_public_addresses_are_refused(addresses: tuple[str, ...]) -> None:
    fetcher = HttpFetcher(["docs.example.com"], resolver=_resolver(*addresses))
    with pytest.raises(ToolError, match="non-public address"):
        fetcher.check_url("https://docs.example.com/page")


def test_public_addresses_pass_the_checks() -> None:
    fetcher = HttpFetcher(["docs.example.com"], resolver=_resolver("93.184.216.34", "2606:2800:220:1::1"))
    fetcher.check_url("https://docs.example.com/page")


def test_unresolvable_host_is_a_tool_error() -> None:
    def fail(*_: Any, **__: Any) -> list[tuple[Any, ...]]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(ToolError, match="does not resolve") as raised:
        HttpFetcher(["nowhere.example"], resolver=fail).check_url("http://nowhere.example/")
    assert not isinstance(raised.value, RetryableToolError)


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1/", "javascript:alert(1)", "127.0.0.1/text"],
)
def test_non_http_schemes_are_refused(fetch: HttpFetcher, url: str) -> None:
    with pytest.raises(ToolError, match="only http and https"):
        fetch(url)


def test_credentials_in_urls_are_refused(fetch: HttpFetcher, http_server: LoopbackServer) -> None:
    with pytest.raises(ToolError, match="credentials"):
        fetch(f"http://user:pw@127.0.0.1:{http_server.port}/text")


def test_allow_list_entries_with_ports_and_wildcards() -> None:
    # The host is resolved even with allow_private: the connection is pinned to what was resolved.
    fetcher = HttpFetcher(["127.0.0.1:8080", "*.example.org"], allow_private=True, resolver=_resolver("127.0.0.1"))
    fetcher.check_url("http://127.0.0.1:8080/")
    fetcher.check_url("https://api.example.org/")
    for url in ("http://127.0.0.1:8081/", "https://example.org/", "https://evil-example.org/"):
        with pytest.raises(ToolError, match="allow-list"):
            fetcher.check_url(url)


def test_empty_allow_list_says_how_to_configure_it() -> None:
    with pytest.raises(ToolError, match="AGENT_RUNTIME_HTTP_ALLOWED_HOSTS"):
        HttpFetcher([]).check_url("https://example.com/")


@pytest.mark.parametrize("entry", ["https://example.com/", "example.com:99999", "", "user@example.com"])
def test_invalid_allow_list_entry_is_a_config_error(entry: str) -> None:
    with pytest.raises(ConfigError, match="http_allowed_hosts"):
        HttpFetcher([entry])


def test_server_errors_are_retryable_and_client_errors_returned(
    fetch: HttpFetcher, http_server: LoopbackServer
) -> None:
    http_server.routes["/busy"] = lambda _: Reply(503, b"try later", TEXT)
    http_server.routes["/slow-down"] = lambda _: Reply(429, b"", TEXT)
    with pytest.raises(RetryableToolError, match="HTTP 503"):
        fetch(http_server.url("/busy"))
    with pytest.raises(RetryableToolError, match="HTTP 429"):
        fetch(http_server.url("/slow-down"))
    assert fetch(http_server.url("/missing"))["status"] == 404


def test_closed_port_is_retryable() -> None:
    fetcher = HttpFetcher(["127.0.0.1"], allow_private=True, connect_timeout_seconds=1.0)
    with pytest.raises(RetryableToolError, match="cannot connect"):
        fetcher(f"http://127.0.0.1:{free_port()}/")


def test_slow_server_times_out_as_retryable(http_server: LoopbackServer) -> None:
    http_server.routes["/slow"] = lambda _: Reply(200, b"late", TEXT, delay_seconds=2.0)
    fetcher = HttpFetcher(["127.0.0.1"], allow_private=True, read_timeout_seconds=0.2)
    with pytest.raises(RetryableToolError, match="timed out"):
        fetcher(http_server.url("/slow"))


def test_binary_responses_are_refused(fetch: HttpFetcher, http_server: LoopbackServer) -> None:
    http_server.routes["/img"] = lambda _: Reply(200, b"\x89PNG", {"Content-Type": "image/png"})
    with pytest.raises(ToolError, match="image/png, not text"):
        fetch(http_server.url("/img"))


def test_declared_charset_is_used_for_decoding(fetch: HttpFetcher, http_server: LoopbackServer) -> None:
    http_server.routes["/latin"] = lambda _: Reply(
        200, "café".encode("latin-1"), {"Content-Type": "text/html; charset=ISO-8859-1"}
    )
    assert fetch(http_server.url("/latin"))["text"] == "café"


def test_cookies_are_not_kept_between_fetches(fetch: HttpFetcher, http_server: LoopbackServer) -> None:
    http_server.routes["/set"] = lambda _: Reply(200, b"ok", {**TEXT, "Set-Cookie": "session=abc; Path=/"})
    fetch(http_server.url("/set"))
    fetch(http_server.url("/text"))
    assert "Cookie" not in http_server.requests[-1].headers


def test_media_type_and_charset_helpers() -> None:
    assert is_text_type("application/json") and is_text_type("application/ld+json") and is_text_type("")
    assert not is_text_type("application/octet-stream")
    assert charset_of('text/plain; charset="latin1"') == "iso8859-1"
    assert charset_of("text/plain; charset=no-such-codec") == "utf-8"


# --- one parse, one resolution: URL parser differentials and DNS pinning --------------------------

PUBLIC = "93.184.216.34"


class ConnectRecorder:
    """Stands in for urllib3's ``create_connection``: records every (host, port) the real client dials.

    Loopback destinations are really connected (so a request that slips through
    reaches the loopback server and shows up there); anything else is refused.
    """

    def __init__(self, real: Any) -> None:
        self.real = real
        self.dialled: list[tuple[str, int]] = []

    def __call__(self, address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        self.dialled.append((str(address[0]), int(address[1])))
        if str(address[0]) in ("127.0.0.1", "::1", "localhost"):
            return self.real(address, *args, **kwargs)
        raise ConnectionRefusedError(111, "refused by the test")


@pytest.fixture()
def dialled(monkeypatch: pytest.MonkeyPatch) -> ConnectRecorder:
    import urllib3.util.connection

    recorder = ConnectRecorder(urllib3.util.connection.create_connection)
    monkeypatch.setattr(urllib3.util.connection, "create_connection", recorder)
    return recorder


def _allowed_test_resolver(*answers: str) -> Any:
    """Names under ``allowed.test`` resolve to ``answers`` (one per look-up, the last repeats); IPs to themselves."""
    queue = list(answers) or [PUBLIC]
    looked_up: list[str] = []

    def resolve(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        looked_up.append(host)
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            if host != "allowed.test" and not host.endswith(".allowed.test"):
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
            answer = queue.pop(0) if len(queue) > 1 else queue[0]
        else:
            answer = str(literal)
        family = socket.AF_INET6 if ":" in answer else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (answer, port))]

    resolve.looked_up = looked_up  # type: ignore[attr-defined]
    return resolve


DIFFERENTIALS = [
    # backslashes: WHATWG-style parsers end the authority at "\", RFC 3986 ones do not
    "http://127.0.0.1\\.allowed.test/",
    "http://127.0.0.1:{port}\\.allowed.test/",
    "http://127.0.0.1\\.allowed.test:{port}/",
    "http://x.allowed.test:{port}\\@127.0.0.1:{port}/",
    "http://127.0.0.1:{port}\\@x.allowed.test/",
    # "@": userinfo in front of, or several "@" around, the real host
    "http://x.allowed.test@127.0.0.1:{port}/",
    "http://a@127.0.0.1:{port}@x.allowed.test/",
    "http://127.0.0.1:{port}#@x.allowed.test/",
    "http://127.0.0.1:{port}?@x.allowed.test/",
    # tabs, newlines and other whitespace or control characters, which urlsplit silently strips
    "http://127.0.0.1\t.allowed.test/",
    "http://127.0.0.1\n.allowed.test/",
    "http://127.0.0.1\r\n.allowed.test/",
    "http://127.0.0.1 .allowed.test/",
    "http://127.0.0.1\x00.allowed.test/",
    "http://x.allowed.test\t@127.0.0.1:{port}/",
    # percent-encoding in the host
    "http://127.0.0.1%2eallowed.test/",
    "http://127%2e0%2e0%2e1.allowed.test/",
    "http://x%2eallowed.test/",
    "http://x.allowed.test%00.127.0.0.1/",
    "http://[::1%25lo]:{port}/",
    # trailing dots
    "http://127.0.0.1.:{port}/",
    "http://x.allowed.test.:{port}/",
    "http://x.allowed.test..:{port}/",
    # IDNA: full-width and ideographic dots, non-ASCII labels
    "http://x.allowed\u3002test:{port}/",
    "http://127\uff0e0\uff0e0\uff0e1:{port}/",
    "http://\uff58.allowed.test:{port}/",
    "http://b\u00fccher.allowed.test:{port}/",
    # userinfo of every shape
    "http://user@x.allowed.test:{port}/",
    "http://user:pw@x.allowed.test:{port}/",
    "http://:@x.allowed.test:{port}/",
    "http://@x.allowed.test:{port}/",
    "http://127.0.0.1:{port}:pw@x.allowed.test/",
    # odd authorities
    "http:/127.0.0.1:{port}/",
    "http:127.0.0.1:{port}/",
    "http:///127.0.0.1:{port}/",
    "HTTP://127.0.0.1:{port}/",
]


@pytest.mark.parametrize("template", DIFFERENTIALS)
def test_parser_differentials_never_reach_an_address_that_was_not_checked(
    template: str, http_server: LoopbackServer, dialled: ConnectRecorder
) -> None:
    """Whatever the URL, the real client dials only the address the guard checked, or nothing."""
    http_server.routes["/"] = lambda _: Reply(200, b"internal secret", TEXT)
    resolver = _allowed_test_resolver(PUBLIC)
    fetcher = HttpFetcher(["*.allowed.test"], resolver=resolver, connect_timeout_seconds=1.0)
    url = template.format(port=http_server.port)
    try:
        fetcher(url)
    except ToolError:
        pass  # refused by a guard, or the (refused) connection to the checked public address failed
    else:
        pytest.fail(f"{url!r} was fetched")
    finally:
        fetcher.close()
    assert http_server.requests == []
    assert {host for host, _ in dialled.dialled} <= {PUBLIC}, (url, dialled.dialled)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1\\.allowed.test/", "backslash"),
        ("http://127.0.0.1\t.allowed.test/", "whitespace or control"),
        ("http://x.allowed.test\n/", "whitespace or control"),
        ("http://127%2e0%2e0%2e1.allowed.test/", "percent-encoded"),
        ("http://user@x.allowed.test/", "credentials"),
        ("http://@x.allowed.test/", "credentials"),
        ("http://x.allowed.test..:80/", "not a valid host name"),
        ("http:127.0.0.1/", "//"),
    ],
)
def test_malformed_hosts_are_refused_before_any_lookup_or_connection(
    url: str, message: str, dialled: ConnectRecorder
) -> None:
    resolver = _allowed_test_resolver(PUBLIC)
    fetcher = HttpFetcher(["*.allowed.test"], resolver=resolver)
    with pytest.raises(ToolError, match=message) as raised:
        fetcher(url)
    assert not isinstance(raised.value, RetryableToolError)
    assert resolver.looked_up == [] and dialled.dialled == []


def test_the_connection_goes_to_the_address_that_was_checked(dialled: ConnectRecorder) -> None:
    """DNS rebinding: the second answer (loopback) is never asked for, so never dialled."""
    resolver = _allowed_test_resolver(PUBLIC, "127.0.0.1")
    fetcher = HttpFetcher(["rebind.allowed.test"], resolver=resolver, connect_timeout_seconds=1.0)
    with pytest.raises(RetryableToolError, match="cannot connect"):
        fetcher("http://rebind.allowed.test/")
    assert resolver.looked_up == ["rebind.allowed.test"]
    assert dialled.dialled == [(PUBLIC, 80)]


def test_a_pinned_fetch_sends_the_name_in_the_host_header(http_server: LoopbackServer) -> None:
    """The name resolves only through the fetcher's resolver: the client connects to the checked IP."""
    http_server.routes["/text"] = lambda _: Reply(200, b"pinned", TEXT)
    resolver = _allowed_test_resolver("127.0.0.1")
    fetcher = HttpFetcher(["svc.allowed.test"], allow_private=True, resolver=resolver)
    try:
        result = fetcher(f"http://SVC.allowed.test.:{http_server.port}/text")
        idna = fetcher(f"http://svc.allowed.test:{http_server.port}/text?q=1")
    finally:
        fetcher.close()
    assert (result["status"], result["text"]) == (200, "pinned")
    assert idna["url"] == f"http://svc.allowed.test:{http_server.port}/text?q=1"
    assert [r.headers["Host"] for r in http_server.requests] == [f"svc.allowed.test:{http_server.port}"] * 2
    assert resolver.looked_up == ["svc.allowed.test", "svc.allowed.test"]


def test_idna_names_are_matched_and_sent_in_their_ascii_form(http_server: LoopbackServer) -> None:
    http_server.routes["/"] = lambda _: Reply(200, b"ok", TEXT)
    resolver = _allowed_test_resolver("127.0.0.1")
    fetcher = HttpFetcher(["xn--bcher-kva.allowed.test"], allow_private=True, resolver=resolver)
    try:
        assert fetcher(f"http://b\u00fccher.allowed.test:{http_server.port}/")["status"] == 200
    finally:
        fetcher.close()
    assert http_server.requests[0].headers["Host"] == f"xn--bcher-kva.allowed.test:{http_server.port}"


def _self_signed(tmp_path: Path, name: str) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed: apt-get install -y openssl")
    cert, key = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={name}",
         "-addext", f"subjectAltName=DNS:{name}", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@contextmanager
def tls_server(cert: Path, key: Path) -> Iterator[tuple[int, list[str | None]]]:
    """An HTTPS server on 127.0.0.1 answering 200 "tls ok"; yields its port and the SNI names it saw."""
    seen: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda _sock, name, _ctx: seen.append(name)  # type: ignore[assignment,misc,func-returns-value]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "6")
            self.end_headers()
            self.wfile.write(b"tls ok")

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield int(httpd.server_address[1]), seen
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_https_to_the_pinned_address_verifies_the_certificate_for_the_name(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path, "svc.allowed.test")
    resolver = _allowed_test_resolver("127.0.0.1")
    with tls_server(cert, key) as (port, sni):
        fetcher = HttpFetcher(["*.allowed.test"], allow_private=True, resolver=resolver, ca_bundle=str(cert))
        try:
            assert fetcher(f"https://svc.allowed.test:{port}/")["text"] == "tls ok"
            # Another name on the same address: SNI and the certificate check use that name, and fail.
            with pytest.raises(ToolError, match="cannot"):
                fetcher(f"https://other.allowed.test:{port}/")
        finally:
            fetcher.close()
    assert sni[:2] == ["svc.allowed.test", "other.allowed.test"]


@pytest.mark.parametrize(
    "address",
    [
        "::7f00:1",  # IPv4-compatible ::127.0.0.1
        "::a00:1",  # IPv4-compatible ::10.0.0.1
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:a9fe:a9fe",  # IPv4-mapped metadata service
        "::ffff:0:7f00:1",  # IPv4-translated (SIIT)
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "64:ff9b::7f00:1",  # NAT64 well-known prefix
        "64:ff9b::a9fe:a9fe",
        "64:ff9b:1::7f00:1",  # NAT64 local-use prefix
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo
        "fec0::1",  # deprecated site-local
        "fef0::1",
    ],
)
def test_ipv6_forms_of_private_ipv4_and_site_local_are_refused(address: str) -> None:
    assert is_refused_address(ipaddress.ip_address(address))
    fetcher = HttpFetcher(["docs.example.com"], resolver=_resolver(address))
    with pytest.raises(ToolError, match="non-public address"):
        fetcher.check_url("https://docs.example.com/page")


@pytest.mark.parametrize("address", ["2606:2800:220:1::1", "2002:5db8:d822::1", "64:ff9b::5db8:d822", PUBLIC])
def test_ipv6_forms_of_public_ipv4_pass(address: str) -> None:
    assert not is_refused_address(ipaddress.ip_address(address))
