"""The DNS probe: resolve a record type and optionally require certain answers."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.resolver

from probes.guard import AddressPolicy, TargetRefused, resolve
from probes.result import ProbeResult
from probes.targets import parse_host_port


def _normal(text: str) -> str:
    return text.strip().rstrip(".").lower().strip('"')


async def check_dns(
    target: str,
    options: Mapping[str, Any],
    timeout: float,
    policy: AddressPolicy,
) -> ProbeResult:
    started = time.perf_counter()
    record_type = str(options.get("record_type") or "A")
    try:
        if options.get("resolver"):
            # An explicit resolver is a destination like any other: guard it.
            endpoint = parse_host_port(str(options["resolver"]), default_port=53)
            address = await resolve(endpoint.host, endpoint.port, policy)
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.nameservers = [str(address)]
            resolver.port = endpoint.port
        else:
            resolver = dns.asyncresolver.Resolver()
        answer = await resolver.resolve(target, record_type, lifetime=timeout)
    except TargetRefused as exc:
        return _result(False, started, f"refused: {exc}")
    except dns.resolver.NXDOMAIN:
        return _result(False, started, f"{target} does not exist (NXDOMAIN)")
    except dns.resolver.NoAnswer:
        return _result(False, started, f"{target} has no {record_type} record")
    except dns.exception.Timeout:
        return _result(False, started, f"no answer within {timeout:g} s")
    except (dns.exception.DNSException, ValueError, OSError) as exc:
        return _result(False, started, f"DNS error: {exc}")
    answers = sorted(_normal(rdata.to_text()) for rdata in answer)
    expected = [_normal(str(a)) for a in options.get("expected_answers") or []]
    missing = [a for a in expected if a not in answers]
    if missing:
        return _result(
            False, started, f"missing {', '.join(missing)}; got {', '.join(answers)}", answers
        )
    return _result(True, started, None, answers)


def _result(
    ok: bool, started: float, error: str | None, answers: list[str] | None = None
) -> ProbeResult:
    total = round((time.perf_counter() - started) * 1000, 3)
    return ProbeResult(
        ok=ok,
        latency_ms=int(total),
        timings={"total": total},
        error=error,
        details={"answers": answers} if answers is not None else {},
    )
