"""The DNS probe: resolve a record type and optionally require certain answers."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.resolver

from probes.guard import AddressPolicy, TargetRefused, resolve
from probes.result import ProbeResult, finished
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
        return finished(False, started, exc.error)
    except dns.resolver.NXDOMAIN:
        return finished(False, started, f"{target} does not exist (NXDOMAIN)")
    except dns.resolver.NoAnswer:
        return finished(False, started, f"{target} has no {record_type} record")
    except dns.exception.Timeout:
        return finished(False, started, f"no answer within {timeout:g} s")
    except (dns.exception.DNSException, ValueError, OSError) as exc:
        return finished(False, started, f"DNS error: {exc}")
    answers = sorted(_normal(rdata.to_text()) for rdata in answer)
    expected = [_normal(str(a)) for a in options.get("expected_answers") or []]
    missing = [a for a in expected if a not in answers]
    if missing:
        error = f"missing {', '.join(missing)}; got {', '.join(answers)}"
        return finished(False, started, error, details={"answers": answers})
    return finished(True, started, details={"answers": answers})
