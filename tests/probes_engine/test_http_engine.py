"""The HTTP probe on aiohttp: what the engine itself must get right beyond the probe
tests in tests/probes (which pass unchanged): answers that are the server's mistake
read as httpx read them, TCP and TLS timed apart, nothing carried from one check to
the next, and the same results on uvloop."""

from __future__ import annotations

import asyncio
import gzip
import ssl
from collections.abc import AsyncIterator, Callable

import pytest
import trustme
import uvloop

from probes.guard import AddressPolicy
from probes.http import MAX_BODY
from probes.registry import ProbeContext, run_probe
from probes.result import ProbeResult

LOOPBACK = AddressPolicy(allow_private=True)
Answer = Callable[[bytes], bytes]


async def _serve(answer: Answer, context: ssl.SSLContext | None = None) -> asyncio.Server:
    """A raw server: reads the request head, writes ``answer(head)`` in ONE write (so
    whatever follows a response arrives in the same segment), then closes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            writer.write(answer(head))
            await writer.drain()
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)


@pytest.fixture
async def raw() -> AsyncIterator[Callable[[Answer], asyncio.Future[str]]]:
    servers: list[asyncio.Server] = []

    async def start(answer: Answer) -> str:
        server = await _serve(answer)
        servers.append(server)
        return f"http://localhost:{server.sockets[0].getsockname()[1]}"

    yield start  # type: ignore[misc]
    for server in servers:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def ctx() -> AsyncIterator[ProbeContext]:
    context = ProbeContext(policy=LOOPBACK)
    yield context
    await context.aclose()


async def http(ctx: ProbeContext, url: str, **options: object) -> ProbeResult:
    return await run_probe("http", url, options, 5, ctx)


@pytest.mark.parametrize("status", [204, 304])
async def test_a_body_sent_with_a_bodiless_status_is_ignored_not_taken_for_a_response(
    ctx: ProbeContext, raw: Callable[[Answer], asyncio.Future[str]], status: int
) -> None:
    url = await raw(lambda _: f"HTTP/1.1 {status} X\r\nContent-Length: 6\r\n\r\nstatus".encode())
    result = await http(ctx, url, expected_status=[status])
    assert result.ok, result.error
    assert result.status_code == status


async def test_an_interim_100_continue_is_skipped_for_the_final_answer(
    ctx: ProbeContext, raw: Callable[[Answer], asyncio.Future[str]]
) -> None:
    url = await raw(
        lambda _: b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal"
    )
    result = await http(ctx, url, keyword="final")
    assert result.ok, result.error
    assert result.status_code == 200


async def test_the_body_read_stops_at_max_body(
    ctx: ProbeContext, raw: Callable[[Answer], asyncio.Future[str]]
) -> None:
    size = MAX_BODY + 100_000
    body = b"a" * (size - 6) + b"needle"  # the keyword lies past the limit
    url = await raw(lambda _: b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + body)
    assert (await http(ctx, url, keyword="aaaa")).ok
    missed = await http(ctx, url, keyword="needle")
    assert not missed.ok and missed.error == "keyword 'needle' not found"


async def test_a_gzipped_body_is_decoded_for_the_keyword(
    ctx: ProbeContext, raw: Callable[[Answer], asyncio.Future[str]]
) -> None:
    body = gzip.compress(b"<html>Welcome to Acme</html>")
    url = await raw(
        lambda _: (
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(body)
            + body
        )
    )
    result = await http(ctx, url, keyword="Welcome")
    assert result.ok, result.error


async def test_an_unknown_charset_falls_back_to_utf8(
    ctx: ProbeContext, raw: Callable[[Answer], asyncio.Future[str]]
) -> None:
    body = "café".encode()
    url = await raw(
        lambda _: (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=klingon\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body
        )
    )
    result = await http(ctx, url, keyword="café")
    assert result.ok, result.error


async def test_no_cookie_is_carried_from_one_check_to_the_next(
    ctx: ProbeContext, raw: Callable[[Answer], asyncio.Future[str]]
) -> None:
    def answer(head: bytes) -> bytes:
        # Sets a cookie, and fails any request that comes back with one.
        if b"\r\ncookie:" in head.lower():
            return b"HTTP/1.1 500 Cookie\r\nContent-Length: 0\r\n\r\n"
        return b"HTTP/1.1 200 OK\r\nSet-Cookie: session=1; Path=/\r\nContent-Length: 0\r\n\r\n"

    url = await raw(answer)
    assert (await http(ctx, url)).ok
    second = await http(ctx, url)
    assert second.ok, second.error


async def test_the_guard_judges_every_redirect_hop(
    raw: Callable[[Answer], asyncio.Future[str]],
) -> None:
    import ipaddress

    # Only 127.0.0.1 is allowed; the redirect points at another loopback address.
    only_one = AddressPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),))
    url = await raw(
        lambda _: (
            b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.2:9/\r\nContent-Length: 0\r\n\r\n"
        )
    )
    guarded = ProbeContext(policy=only_one)
    try:
        result = await http(guarded, url.replace("localhost", "127.0.0.1"))
    finally:
        await guarded.aclose()
    assert not result.ok
    assert (result.error or "").startswith("refused: 127.0.0.2 is a loopback address")


@pytest.fixture(scope="module")
def tls_server_context() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context trusting it) for localhost."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


async def _https_check(server_context: ssl.SSLContext, client: ssl.SSLContext) -> ProbeResult:
    server = await _serve(
        lambda _: b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", context=server_context
    )
    port = server.sockets[0].getsockname()[1]
    ctx = ProbeContext(policy=LOOPBACK, ssl_context=client)
    try:
        return await run_probe("http", f"https://localhost:{port}/", {}, 5, ctx)
    finally:
        await ctx.aclose()
        server.close()
        await server.wait_closed()


def _assert_phases_apart(result: ProbeResult) -> None:
    assert result.ok, result.error
    timings = result.timings
    assert set(timings) == {"dns", "connect", "tls", "first_byte", "total"}
    assert timings["connect"] > 0 and timings["tls"] > 0 and timings["first_byte"] > 0
    # The phases follow one another inside the check: together they fit in its total.
    parts = timings["dns"] + timings["connect"] + timings["tls"] + timings["first_byte"]
    assert parts <= timings["total"]


async def test_tcp_connect_and_tls_handshake_are_timed_apart(
    tls_server_context: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    _assert_phases_apart(await _https_check(*tls_server_context))


def test_the_probe_gives_the_same_results_on_uvloop(
    tls_server_context: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    result = uvloop.run(_https_check(*tls_server_context))
    _assert_phases_apart(result)


def test_an_untrusted_certificate_fails_verification_on_uvloop_too(
    tls_server_context: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    result = uvloop.run(_https_check(tls_server_context[0], ssl.create_default_context()))
    assert not result.ok
    assert (result.error or "").startswith("TLS verification failed: ")


def test_http_options_are_parsed_once_per_monitor_not_per_check() -> None:
    ctx = ProbeContext()
    options = {"keyword": "Welcome", "expected_status": [200, 201]}
    first = ctx.http_options(options)
    assert first.expected_status == (200, 201) and first.keyword == "Welcome"
    assert ctx.http_options(options) is first  # the same monitor's mapping: no re-parse
    other = ctx.http_options({"keyword": "Goodbye"})  # another monitor's
    assert other.keyword == "Goodbye" and other is not first


async def test_the_request_carries_the_monitors_headers_one_host_and_no_guessed_type(
    ctx: ProbeContext, raw: Callable[[Answer], asyncio.Future[str]]
) -> None:
    heads: list[bytes] = []

    def answer(head: bytes) -> bytes:
        heads.append(head.lower())
        return b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"

    url = await raw(answer)
    port = url.rsplit(":", 1)[1]
    result = await http(
        ctx, url, method="POST", body="ping", headers={"host": "evil.example", "X-Probe": "1"}
    )
    assert result.ok, result.error
    [head] = heads
    assert head.count(b"\r\nhost:") == 1 and f"\r\nhost: localhost:{port}\r\n".encode() in head
    assert b"\r\nx-probe: 1\r\n" in head
    assert b"content-type" not in head  # the body goes as given, as httpx sent it
