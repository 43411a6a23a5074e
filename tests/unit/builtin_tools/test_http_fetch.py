"""http_fetch against a loopback server: allow-list, redirects, size cap, address and scheme guards."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from agent_runtime.builtin_tools.http_fetch import HttpFetcher, charset_of, is_text_type
from agent_runtime.errors import ConfigError, RetryableToolError, ToolError
from tests.support.binaries import free_port
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
    fetcher = HttpFetcher(["127.0.0.1:8080", "*.example.org"], allow_private=True)
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
