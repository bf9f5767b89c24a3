"""The HTTP client under the HTTP probe: aiohttp, with TCP connect and TLS handshake
timed apart.

aiohttp was chosen by measurement (bench/http_engines.py): on the probe's path it
costs about half the CPU of httpx per check over HTTP (two thirds over HTTPS, where
the TLS handshake dominates), close to a bare aiohttp loop, and it keeps up under load
where httpx's pool falls behind. It is used for probes only; the API, agent and
notification clients stay on httpx.

aiohttp connects and handshakes in one ``loop.create_connection(ssl=...)`` call, which
hides how long each took. ``PhasedConnector`` connects plain TCP, then upgrades the
same socket with ``loop.start_tls`` (as aiohttp itself does through an HTTP proxy), and
notes both durations in the ``Phases`` of the running check (a context variable: the
connector is shared by every check of the process, the marks are per check).
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from contextvars import ContextVar
from typing import Any

import aiohttp
from aiohttp.client_proto import ResponseHandler


class Phases:
    """Instants (``time.perf_counter()``) of one request's connection, for its timings."""

    __slots__ = ("connect_ms", "connected", "tls_ms")

    def __init__(self) -> None:
        self.connect_ms: float | None = None
        self.tls_ms: float | None = None
        self.connected: float | None = None  # TCP (and TLS) ready: the request goes out


_phases: ContextVar[Phases | None] = ContextVar("uptally_http_phases", default=None)


def track(phases: Phases | None) -> None:
    """Have the next connection of this task record into ``phases``."""
    _phases.set(phases)


_NOTHING: tuple[tuple[()], bool, bytes] = ((), False, b"")


class _FirstResponseOnly:
    """Wraps a connection's response parser so it reads one response and ignores what
    follows it.

    A probe's connection carries one request, so bytes after the response are the
    server's mistake, typically a body sent with a 204 or 304. aiohttp's parser would
    read them as the start of a next response and fail the whole check on a "bad
    status line"; httpx (h11) never looked at them. So the segment holding the end of
    the headers is fed in two parts, headers first: a response without a body is then
    complete before the stray bytes, which are dropped, as is anything arriving after
    a response's body has ended.
    """

    __slots__ = ("_inner", "_payload", "_split")

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._split = False  # the end of the headers has been looked for and found
        self._payload: Any = None  # the response's body stream, once parsed

    def _ended(self) -> bool:
        return self._payload is not None and bool(self._payload.is_eof())

    def feed_data(self, data: bytes) -> Any:
        if self._ended():
            return _NOTHING
        if not self._split:
            end = data.find(b"\r\n\r\n") + 4
            if 4 <= end < len(data):
                self._split = True
                head = self._note(self._inner.feed_data(data[:end]))
                if self._ended():
                    return head
                rest = self._note(self._inner.feed_data(data[end:]))
                return ([*head[0], *rest[0]], rest[1], rest[2])
        return self._note(self._inner.feed_data(data))

    def _note(self, result: Any) -> Any:
        for message, payload in result[0]:
            if message.code >= 200:  # an interim 1xx answer: the response is still to come
                self._payload = payload
        return result

    def __getattr__(self, name: str) -> Any:  # feed_eof and the rest: the parser's own
        return getattr(self._inner, name)


class _OneResponseHandler(ResponseHandler):
    def set_response_params(self, **kwargs: Any) -> None:
        super().set_response_params(**kwargs)
        self._parser = _FirstResponseOnly(self._parser)  # type: ignore[assignment]


class PhasedConnector(aiohttp.TCPConnector):
    """A fresh connection per request, TCP connect and TLS handshake done (and timed)
    one after the other."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._factory = functools.partial(_OneResponseHandler, loop=self._loop)  # type: ignore[assignment]

    async def _wrap_create_connection(
        self,
        *args: Any,
        addr_infos: Any,
        req: aiohttp.ClientRequest,
        timeout: aiohttp.ClientTimeout,
        client_error: type[Exception] = aiohttp.ClientConnectorError,
        **kwargs: Any,
    ) -> tuple[asyncio.Transport, ResponseHandler]:
        sslcontext: ssl.SSLContext | None = kwargs.pop("ssl", None)
        server_hostname: str | None = kwargs.pop("server_hostname", None)
        phases = _phases.get()
        started = time.perf_counter()
        transport, protocol = await self._connect(args[0], addr_infos, req, client_error)
        connected = time.perf_counter()
        if phases is not None:
            phases.connect_ms = round((connected - started) * 1000, 3)
            phases.connected = connected
        if sslcontext is None:
            return transport, protocol
        try:
            tls_transport = await self._loop.start_tls(
                transport, protocol, sslcontext, server_hostname=server_hostname
            )
        except ssl.CertificateError as exc:
            transport.close()
            raise aiohttp.ClientConnectorCertificateError(req.connection_key, exc) from exc
        except ssl.SSLError as exc:
            transport.close()
            raise aiohttp.ClientConnectorSSLError(req.connection_key, exc) from exc
        except OSError as exc:
            transport.close()
            raise client_error(req.connection_key, exc) from exc
        except BaseException:
            transport.close()
            raise
        if tls_transport is None:  # the peer closed during the handshake
            raise client_error(req.connection_key, OSError("closed during the TLS handshake"))
        # The protocol saw the plain transport; from now on it writes through TLS.
        protocol.connection_made(tls_transport)
        done = time.perf_counter()
        if phases is not None:
            phases.tls_ms = round((done - connected) * 1000, 3)
            phases.connected = done
        return tls_transport, protocol

    async def _connect(
        self,
        factory: Any,
        addr_infos: Any,
        req: aiohttp.ClientRequest,
        client_error: type[Exception],
    ) -> tuple[asyncio.Transport, ResponseHandler]:
        """Plain TCP to the address (the probe pins one, already resolved and guarded):
        the loop's own connect, without aiohttp's happy-eyeballs layer, which costs
        more Python per connection and has nothing to choose between."""
        error: OSError | None = None
        for _family, _type, _proto, _name, address in addr_infos:
            try:
                transport, protocol = await self._loop.create_connection(
                    factory, address[0], address[1]
                )
            except OSError as exc:
                error = exc
                continue
            return transport, protocol
        raise client_error(req.connection_key, error or OSError("no address to connect to"))


def new_session() -> aiohttp.ClientSession:
    """A session for probes: no pooled connections (each check connects afresh, so DNS,
    connect and TLS problems show), no limit on parallel connections (the scheduler
    bounds them), no cookies kept from one check for the next, no timeouts of its own
    (the probe's budget covers the whole check, redirects included)."""
    connector = PhasedConnector(force_close=True, limit=0, ttl_dns_cache=None)
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=None),
        auto_decompress=True,
    )
