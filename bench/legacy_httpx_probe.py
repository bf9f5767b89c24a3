"""The HTTP probe as it was on httpx (before aiohttp replaced it), kept only so
bench/http_engines.py can measure it beside its successor on the same path. Not used
by the app. Changed from the original only in where its clients come from:
``HttpClients`` may be given transports (for the httpx-aiohttp candidate).

The original docstring follows.

The HTTP(S) probe: status, keyword, JSON-path and latency assertions, with DNS,
connect, TLS and first-byte timings.

As blackbox_exporter does, the host is resolved first (timed, and checked by the
SSRF guard), then the request goes to that address with the original Host header and
TLS server name. Redirects are followed hop by hop so every hop is guarded too.
Every check opens a fresh connection (the shared clients keep no idle connections):
a reused connection would hide DNS, connect and TLS problems.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from probes.guard import AddressPolicy, TargetRefused, resolve
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
    """One client per TLS-verification setting, shared by every check of the process."""

    def __init__(
        self,
        verify: ssl.SSLContext | bool = True,
        transports: tuple[httpx.AsyncBaseTransport, httpx.AsyncBaseTransport] | None = None,
    ) -> None:
        limits = httpx.Limits(max_keepalive_connections=0, max_connections=None)
        verifying, lenient = transports or (None, None)
        self.verifying = httpx.AsyncClient(
            limits=limits, verify=verify, follow_redirects=False, transport=verifying
        )
        self.lenient = httpx.AsyncClient(
            limits=limits, verify=False, follow_redirects=False, transport=lenient
        )

    def for_verify(self, verify: bool) -> httpx.AsyncClient:
        return self.verifying if verify else self.lenient

    async def aclose(self) -> None:
        await self.verifying.aclose()
        await self.lenient.aclose()


class _Phases:
    """Collects httpcore trace events into phase durations (ms)."""

    def __init__(self) -> None:
        self.marks: dict[str, float] = {}

    async def __call__(self, event: str, info: Mapping[str, Any]) -> None:
        self.marks.setdefault(event, time.perf_counter())

    def span(self, start: str, end: str) -> float | None:
        if start in self.marks and end in self.marks:
            return round((self.marks[end] - self.marks[start]) * 1000, 3)
        return None


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
    except httpx.HTTPError as exc:
        return finished(False, started, _describe(exc), timings=timings)
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
) -> tuple[httpx.Response, bytes, int]:
    client = clients.for_verify(options.verify_tls)
    method, content = options.method, options.body
    for hop in range(MAX_REDIRECTS + 1):
        target = httpx.URL(url)
        host = target.host
        port = target.port or (443 if target.scheme == "https" else 80)
        dns_started = time.perf_counter()
        address = await resolve(host, port, policy)
        if hop == 0:
            timings["dns"] = elapsed_ms(dns_started)
        host_header = host if target.port is None else f"{host}:{target.port}"
        if ":" in host_header and host_header.count(":") > 1:  # a bare IPv6 literal
            host_header = f"[{host}]" + (f":{target.port}" if target.port else "")
        phases = _Phases()
        extensions: dict[str, Any] = {"trace": phases}
        if target.scheme == "https":
            extensions["sni_hostname"] = host
        request = client.build_request(
            method,
            target.copy_with(host=str(address)),
            headers={**options.headers, "Host": host_header},
            content=content,
            extensions=extensions,
        )
        response = await client.send(request, stream=True)
        try:
            body = await _read_limited(response)
        finally:
            await response.aclose()
        if hop == 0:
            _record_phases(phases, timings)
        location = response.headers.get("location")
        if options.follow_redirects and response.is_redirect and location:
            url = str(target.join(location))
            if response.status_code in (301, 302, 303):
                method, content = ("GET" if method != "HEAD" else "HEAD"), None
            continue
        response.request.url = target  # report the URL asked for, not the address
        return response, body, hop
    raise httpx.TooManyRedirects(f"more than {MAX_REDIRECTS} redirects", request=request)


async def _read_limited(response: httpx.Response) -> bytes:
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_BODY:
            break
    return b"".join(chunks)[:MAX_BODY]


def _record_phases(phases: _Phases, timings: dict[str, float]) -> None:
    for name, start, end in (
        ("connect", "connection.connect_tcp.started", "connection.connect_tcp.complete"),
        ("tls", "connection.start_tls.started", "connection.start_tls.complete"),
        (
            "first_byte",
            "http11.send_request_headers.started",
            "http11.receive_response_headers.complete",
        ),
    ):
        value = phases.span(start, end)
        if value is not None:
            timings[name] = value


def _assertion_problem(response: httpx.Response, body: bytes, options: HttpOptions) -> str | None:
    code = response.status_code
    if options.expected_status is not None:
        if code not in options.expected_status:
            wanted = ", ".join(map(str, options.expected_status))
            return f"status {code}, expected {wanted}"
    elif not 200 <= code < 400:
        return f"status {code}, expected 200-399"
    text = body.decode(response.encoding or "utf-8", errors="replace")
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


def _describe(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate" in text.lower():
            return f"TLS verification failed: {text}"
        return f"connection failed: {text}"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return f"connection reset or closed: {text}"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out: {type(exc).__name__}"
    return f"{type(exc).__name__}: {text}"
