"""The TLS certificate probe: chain valid, hostname matching, days until expiry.

The check fails when the certificate does not verify or has fewer than
``min_days_left`` days; with fewer than ``warn_days`` it passes with a ``warning``
(the warning before expiry).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cryptography import x509

from probes.guard import AddressPolicy, TargetRefused, resolve
from probes.result import ProbeResult, finished
from probes.targets import parse_host_port

DAY = 86_400


async def check_tls(
    target: str,
    options: Mapping[str, Any],
    timeout: float,
    policy: AddressPolicy,
    context: ssl.SSLContext,
    now: datetime | None = None,
) -> ProbeResult:
    started = time.perf_counter()
    warn_days = int(options.get("warn_days", 14))
    min_days = int(options.get("min_days_left", 0))
    try:
        endpoint = parse_host_port(target, default_port=443)
        server_name = str(options.get("server_name") or endpoint.host)
        async with asyncio.timeout(timeout):
            address = await resolve(endpoint.host, endpoint.port, policy)
            try:
                der = await _certificate(str(address), endpoint.port, server_name, context)
                verify_error = None
            except ssl.SSLCertVerificationError as exc:
                verify_error = exc.verify_message or str(exc)
                der = await _certificate(str(address), endpoint.port, server_name, _lenient())
    except TimeoutError:
        return finished(False, started, f"timed out after {timeout:g} s")
    except TargetRefused as exc:
        return finished(False, started, exc.error)
    except (ssl.SSLError, OSError, ValueError) as exc:
        return finished(False, started, f"TLS handshake failed: {exc}")

    certificate = x509.load_der_x509_certificate(der)
    expires = certificate.not_valid_after_utc
    days_left = int((expires - (now or datetime.now(UTC))).total_seconds() // DAY)
    details = {
        "days_left": days_left,
        "expires_at": expires.isoformat().replace("+00:00", "Z"),
        "subject": certificate.subject.rfc4514_string(),
        "issuer": certificate.issuer.rfc4514_string(),
        "chain_valid": verify_error is None,
    }
    if verify_error is not None:
        error = f"certificate does not verify: {verify_error}"
        return finished(False, started, error, details=details)
    if days_left < min_days:
        error = f"certificate expires in {days_left} days (< {min_days})"
        return finished(False, started, error, details=details)
    warning = None
    if days_left < warn_days:
        warning = f"certificate expires in {days_left} days (warning below {warn_days})"
    return finished(True, started, details=details, warning=warning)


async def _certificate(host: str, port: int, server_name: str, context: ssl.SSLContext) -> bytes:
    _, writer = await asyncio.open_connection(host, port, ssl=context, server_hostname=server_name)
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der: bytes | None = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        if not der:
            raise ssl.SSLError("the server sent no certificate")
        return der
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


def _lenient() -> ssl.SSLContext:
    """Reads the certificate of a server that fails verification, to report on it."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
