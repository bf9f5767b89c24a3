"""From a monitor's kind to its probe. Heartbeats are passive: nothing to run."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from probes.dns import check_dns
from probes.guard import AddressPolicy
from probes.http import HttpClients, HttpOptions, check_http
from probes.icmp import check_icmp
from probes.result import ProbeResult
from probes.tcp import IDLE as TCP_IDLE
from probes.tcp import check_tcp
from probes.tls import check_tls

MAX_PARSED_OPTIONS = 200_000  # parsed HTTP options kept, about one per monitor


@dataclass
class ProbeContext:
    """What probes share within a process: the address policy, HTTP clients, trust store,
    and how long a TCP banner may fall silent before it is judged."""

    policy: AddressPolicy = field(default_factory=AddressPolicy)
    ssl_context: ssl.SSLContext = field(default_factory=ssl.create_default_context)
    http: HttpClients | None = None
    tcp_idle: float = TCP_IDLE
    # HTTP options parsed once per monitor, not per check: a monitor's options are the
    # same mapping object at every check (its MonitorSpec's), so its identity is the key.
    _http_options: dict[int, tuple[Mapping[str, Any], HttpOptions]] = field(
        default_factory=dict, repr=False
    )

    def __post_init__(self) -> None:
        if self.http is None:
            self.http = HttpClients(verify=self.ssl_context)

    async def aclose(self) -> None:
        if self.http is not None:
            await self.http.aclose()

    def http_options(self, options: Mapping[str, Any]) -> HttpOptions:
        hit = self._http_options.get(id(options))
        if hit is not None and hit[0] is options:
            return hit[1]
        if len(self._http_options) >= MAX_PARSED_OPTIONS:  # monitors replaced over time
            self._http_options.clear()
        parsed = HttpOptions.from_mapping(options)
        self._http_options[id(options)] = (options, parsed)
        return parsed


Probe = Callable[[str, Mapping[str, Any], float, ProbeContext], Awaitable[ProbeResult]]


async def _http(
    target: str, options: Mapping[str, Any], timeout: float, ctx: ProbeContext
) -> ProbeResult:
    assert ctx.http is not None
    return await check_http(target, ctx.http_options(options), timeout, ctx.http, ctx.policy)


async def _tcp(
    target: str, options: Mapping[str, Any], timeout: float, ctx: ProbeContext
) -> ProbeResult:
    return await check_tcp(target, options, timeout, ctx.policy, ctx.tcp_idle)


async def _dns(
    target: str, options: Mapping[str, Any], timeout: float, ctx: ProbeContext
) -> ProbeResult:
    return await check_dns(target, options, timeout, ctx.policy)


async def _tls(
    target: str, options: Mapping[str, Any], timeout: float, ctx: ProbeContext
) -> ProbeResult:
    return await check_tls(target, options, timeout, ctx.policy, ctx.ssl_context)


async def _icmp(
    target: str, options: Mapping[str, Any], timeout: float, ctx: ProbeContext
) -> ProbeResult:
    return await check_icmp(target, options, timeout, ctx.policy)


PROBES: dict[str, Probe] = {"http": _http, "tcp": _tcp, "dns": _dns, "tls": _tls, "icmp": _icmp}


async def run_probe(
    kind: str, target: str, options: Mapping[str, Any], timeout: float, ctx: ProbeContext
) -> ProbeResult:
    """Run the probe for ``kind``. Never raises: any failure is a failed result."""
    probe = PROBES.get(kind)
    if probe is None:
        return ProbeResult.failure(f"no probe for kind {kind!r}")
    try:
        return await probe(target, options, float(timeout), ctx)
    except Exception as exc:  # a bug in a probe must not take the scheduler down
        return ProbeResult.failure(f"probe error: {type(exc).__name__}: {exc}")
