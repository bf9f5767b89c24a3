"""The HTTP(S) probe: status, keyword, JSON-path and latency assertions, with DNS,
connect, TLS and first-byte timings.

As blackbox_exporter does, the host is resolved first (timed, and checked by the
SSRF guard), then the request goes to that address with the original Host header and
TLS server name. Redirects are followed hop by hop so every hop is guarded too.
Every check opens a fresh connection (the shared clients keep no idle connections):
a reused connection would hide DNS, connect and TLS problems.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from probes.guard import AddressPolicy, TargetRefused, resolve
from probes.http_engine import Phases, new_session, track
from probes.result import ProbeResult, elapsed_ms, finished

MAX_REDIRECTS = 5
MAX_BODY = 1_000_000  # bytes read for keyword and JSON assertions


@dataclass(frozen=True)
class HttpOptions:
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None
    expected_status: tuple[int, ...] | None = None  # default: 200-399
    keyword: str | None = None
    keyword_absent: bool = False
    json_path: str | None = None
    json_expected: Any = None
    degraded_latency_ms: int | None = None
    follow_redirects: bool = True
    verify_tls: bool = True

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> HttpOptions:
        known = {k: v for k, v in options.items() if k in cls.__dataclass_fields__}
        if known.get("expected_status") is not None:
            known["expected_status"] = tuple(known["expected_status"])
        return cls(**known)


class HttpClients:
    """What every HTTP check of the process shares: one aiohttp session (made on first
    use, inside the running loop) and the two TLS contexts, verifying and lenient."""

    def __init__(self, verify: ssl.SSLContext | bool = True) -> None:
        lenient = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # trusts nothing, checks nothing
        lenient.check_hostname = False
        lenient.verify_mode = ssl.CERT_NONE
        self.lenient = lenient
        if isinstance(verify, ssl.SSLContext):
            self.verifying = verify
        else:
            self.verifying = ssl.create_default_context() if verify else lenient
        self._session: aiohttp.ClientSession | None = None

    def for_verify(self, verify: bool) -> ssl.SSLContext:
        return self.verifying if verify else self.lenient

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = new_session()
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class TooManyRedirects(Exception):
    """More redirects than MAX_REDIRECTS: a failed check."""


@dataclass(frozen=True, slots=True)
class _Response:
    """What the assertions need of the final response."""

    status_code: int
    charset: str | None
    url: URL


async def check_http(
    url: str,
    options: HttpOptions,
    timeout: float,  # the budget of the whole check, redirects included
    clients: HttpClients,
    policy: AddressPolicy,
) -> ProbeResult:
    started = time.perf_counter()
    timings: dict[str, float] = {}
    try:
        async with asyncio.timeout(timeout):
            response, body, hops = await _fetch(url, options, clients, policy, timings)
    except TimeoutError:
        return finished(False, started, f"timed out after {timeout:g} s", timings=timings)
    except TargetRefused as exc:
        return finished(False, started, exc.error, timings=timings)
    except (aiohttp.ClientError, TooManyRedirects) as exc:
        return finished(False, started, _describe(exc), timings=timings)
    finally:
        track(None)
    timings["total"] = elapsed_ms(started)
    latency = int(timings["total"])
    problem = _assertion_problem(response, body, options)
    details: dict[str, Any] = {"redirects": hops, "final_url": str(response.url)}
    if problem:
        return ProbeResult(
            ok=False,
            latency_ms=latency,
            timings=timings,
            status_code=response.status_code,
            error=problem,
            details=details,
        )
    warning = None
    if options.degraded_latency_ms is not None and latency > options.degraded_latency_ms:
        warning = f"slow: {latency} ms > {options.degraded_latency_ms} ms"
    return ProbeResult(
        ok=True,
        latency_ms=latency,
        timings=timings,
        status_code=response.status_code,
        details=details,
        warning=warning,
    )


async def _fetch(
    url: str,
    options: HttpOptions,
    clients: HttpClients,
    policy: AddressPolicy,
    timings: dict[str, float],
) -> tuple[_Response, bytes, int]:
    session = clients.session()
    context = clients.for_verify(options.verify_tls)
    method, content = options.method, options.body
    target = URL(url)
    for hop in range(MAX_REDIRECTS + 1):
        host = target.raw_host or ""
        https = target.scheme == "https"
        port = target.port or (443 if https else 80)
        dns_started = time.perf_counter()
        address = await resolve(host.strip("[]"), port, policy)
        phases = Phases()
        if hop == 0:
            timings["dns"] = elapsed_ms(dns_started)
            track(phases)
        else:
            track(None)  # the phases are the first hop's, as a browser's waterfall starts
        headers = CIMultiDict(options.headers)  # case-insensitive: ours replaces a "host"
        headers["Host"] = target.host_port_subcomponent or host
        async with session.request(
            method,
            target.with_host(str(address)),
            headers=headers,
            data=content,
            skip_auto_headers=_NO_AUTO_CONTENT_TYPE,
            allow_redirects=False,
            ssl=context if https else False,
            server_hostname=target.host if https else None,
        ) as response:
            headers_at = time.perf_counter()
            body = await _read_limited(response)
        if hop == 0:
            _record_phases(phases, headers_at, timings)
        location = response.headers.get("Location")
        if options.follow_redirects and response.status in _REDIRECTS and location:
            target = target.join(URL(location))
            if response.status in (301, 302, 303):
                method, content = ("GET" if method != "HEAD" else "HEAD"), None
            continue
        # Report the URL asked for, not the address connected to.
        return _Response(response.status, response.charset, target), body, hop
    raise TooManyRedirects(f"more than {MAX_REDIRECTS} redirects")


_REDIRECTS = frozenset((301, 302, 303, 307, 308))
# A body is sent as given, with the Content-Type the monitor's headers set, if any (as
# httpx did), not one aiohttp would guess.
_NO_AUTO_CONTENT_TYPE = ("Content-Type",)


async def _read_limited(response: aiohttp.ClientResponse) -> bytes:
    chunks, size = [], 0
    while size < MAX_BODY:
        chunk = await response.content.read(MAX_BODY - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _record_phases(phases: Phases, headers_at: float, timings: dict[str, float]) -> None:
    if phases.connect_ms is not None:
        timings["connect"] = phases.connect_ms
    if phases.tls_ms is not None:
        timings["tls"] = phases.tls_ms
    if phases.connected is not None:
        # From the connection being ready (the request goes out at once) to the
        # response's status line and headers parsed.
        timings["first_byte"] = round((headers_at - phases.connected) * 1000, 3)


def _assertion_problem(response: _Response, body: bytes, options: HttpOptions) -> str | None:
    code = response.status_code
    if options.expected_status is not None:
        if code not in options.expected_status:
            wanted = ", ".join(map(str, options.expected_status))
            return f"status {code}, expected {wanted}"
    elif not 200 <= code < 400:
        return f"status {code}, expected 200-399"
    text = body.decode(_codec(response.charset), errors="replace")
    if options.keyword is not None:
        present = options.keyword in text
        if present and options.keyword_absent:
            return f"keyword {options.keyword!r} is present"
        if not present and not options.keyword_absent:
            return f"keyword {options.keyword!r} not found"
    if options.json_path is not None:
        try:
            value = json_path(json.loads(text), options.json_path)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            return f"json_path {options.json_path}: {exc or 'not found'}"
        if options.json_expected is not None and value != options.json_expected:
            return f"json_path {options.json_path} is {value!r}, expected {options.json_expected!r}"
    return None


def json_path(document: Any, path: str) -> Any:
    """A small subset of JSONPath: ``$.a.b[0].c``."""
    value = document
    for part in path.removeprefix("$").replace("[", ".[").split("."):
        if not part:
            continue
        value = value[int(part[1:-1])] if part.startswith("[") else value[part]
    return value


def _codec(charset: str | None) -> str:
    """The response's declared charset if Python knows it, else UTF-8 (as httpx did)."""
    if charset:
        try:
            return codecs.lookup(charset).name
        except LookupError:
            pass
    return "utf-8"


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"TLS verification failed: {exc.certificate_error}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"connection failed: {exc.os_error}"
    if isinstance(
        exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientOSError
    ):
        return f"connection reset or closed: {text}"
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return f"timed out: {type(exc).__name__}"
    return f"{type(exc).__name__}: {text}"
