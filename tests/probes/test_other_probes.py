"""TCP, DNS, TLS and ICMP probes against real local servers, and the SSRF guard."""

from __future__ import annotations

import ipaddress
import socket
import time
from typing import Any

import pytest

from probes.guard import AddressPolicy, TargetRefused, resolve
from probes.registry import ProbeContext, run_probe
from tests.helpers import free_port


async def probe(ctx: ProbeContext, kind: str, target: str, timeout: float = 3, **options: Any):
    return await run_probe(kind, target, options, timeout, ctx)


# ------------------------------------------------------------------ tcp


async def test_tcp_connects_and_reads_the_banner(ctx: ProbeContext, banner_port: int) -> None:
    result = await probe(ctx, "tcp", f"127.0.0.1:{banner_port}", expect="220 mail.acme.test")
    assert result.ok, result.error
    assert "connect" in result.timings


async def test_tcp_send_then_expect(ctx: ProbeContext, banner_port: int) -> None:
    result = await probe(
        ctx, "tcp", f"localhost:{banner_port}", send="EHLO probe\r\n", expect="250 hello EHLO probe"
    )
    assert result.ok, result.error


async def test_tcp_wrong_banner_fails_once_the_server_falls_silent(
    ctx: ProbeContext, banner_port: int
) -> None:
    # The server greets, then waits for us without closing: the banner is judged after
    # `tcp_idle` seconds of silence, long before the 3 s timeout.
    ctx.tcp_idle = 0.1
    started = time.perf_counter()
    result = await probe(ctx, "tcp", f"127.0.0.1:{banner_port}", expect="SSH-2.0")
    took = time.perf_counter() - started
    assert not result.ok
    assert result.error == "expected 'SSH-2.0', got b'220 mail.acme.test ESMTP ready\\r\\n'"
    assert 0.1 <= took < 1, took


async def test_tcp_refused_port(ctx: ProbeContext) -> None:
    result = await probe(ctx, "tcp", f"127.0.0.1:{free_port()}")
    assert not result.ok
    assert "connection failed" in (result.error or "")


# ------------------------------------------------------------------ dns


async def test_dns_answers_match(ctx: ProbeContext, dns_resolver: str) -> None:
    result = await probe(
        ctx, "dns", "svc.acme.test", resolver=dns_resolver, expected_answers=["192.0.2.10"]
    )
    assert result.ok, result.error
    assert result.details["answers"] == ["192.0.2.10", "192.0.2.11"]


async def test_dns_missing_answer_fails(ctx: ProbeContext, dns_resolver: str) -> None:
    result = await probe(
        ctx, "dns", "svc.acme.test", resolver=dns_resolver, expected_answers=["192.0.2.99"]
    )
    assert not result.ok
    assert "missing 192.0.2.99" in (result.error or "")


async def test_dns_nxdomain_fails(ctx: ProbeContext, dns_resolver: str) -> None:
    result = await probe(ctx, "dns", "nope.acme.test", resolver=dns_resolver)
    assert not result.ok
    assert "NXDOMAIN" in (result.error or "")


async def test_dns_silent_resolver_times_out(ctx: ProbeContext, silent_resolver: str) -> None:
    result = await probe(ctx, "dns", "svc.acme.test", timeout=0.2, resolver=silent_resolver)
    assert not result.ok
    assert result.error == "no answer within 0.2 s"


# ------------------------------------------------------------------ tls


async def test_tls_reports_days_left(ctx: ProbeContext, https_url: str) -> None:
    result = await probe(ctx, "tls", https_url.removeprefix("https://"))
    assert result.ok, result.error
    assert result.details["chain_valid"] is True
    assert result.details["days_left"] > 300
    assert not result.degraded


async def test_tls_expiring_certificate_warns_then_fails(
    ctx: ProbeContext, expiring_https_url: str
) -> None:
    target = expiring_https_url.removeprefix("https://")
    warned = await probe(ctx, "tls", target, warn_days=14)
    assert warned.ok and warned.degraded
    assert warned.warning == "certificate expires in 5 days (warning below 14)"
    assert warned.details["days_left"] == 5
    failed = await probe(ctx, "tls", target, min_days_left=7)
    assert not failed.ok
    assert "expires in 5 days (< 7)" in (failed.error or "")


async def test_tls_hostname_mismatch_fails(ctx: ProbeContext, https_url: str) -> None:
    port = https_url.rsplit(":", 1)[1]
    result = await probe(ctx, "tls", f"127.0.0.1:{port}", server_name="other.acme.test")
    assert not result.ok
    assert "does not verify" in (result.error or "")
    assert result.details["chain_valid"] is False
    assert result.details["days_left"] > 300  # still read, to report on


async def test_tls_untrusted_chain_fails(https_url: str) -> None:
    from tests.probes.conftest import LOOPBACK

    plain = ProbeContext(policy=LOOPBACK)
    try:
        result = await probe(plain, "tls", https_url.removeprefix("https://"))
    finally:
        await plain.aclose()
    assert not result.ok
    assert "does not verify" in (result.error or "")


# ------------------------------------------------------------------ icmp


def _may_ping() -> bool:
    """Whether this process may send ICMP echo: unprivileged ICMP sockets (the kernel's
    net.ipv4.ping_group_range holds our group) or raw sockets (root, CAP_NET_RAW)."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_RAW):
        try:
            socket.socket(socket.AF_INET, kind, socket.IPPROTO_ICMP).close()
        except PermissionError:
            continue
        return True
    return False


async def test_icmp_to_loopback_answers_where_ping_is_allowed(ctx: ProbeContext) -> None:
    result = await probe(ctx, "icmp", "127.0.0.1", packet_count=2)
    if not _may_ping():
        assert not result.ok
        assert result.error == (
            "ICMP is not permitted here: allow unprivileged ping "
            "(sysctl net.ipv4.ping_group_range) or grant CAP_NET_RAW"
        )
        return
    assert result.ok, result.error
    assert result.details == {"packets_sent": 2, "packets_received": 2, "packet_loss": 0.0}
    assert result.latency_ms is not None and "rtt_avg" in result.timings


async def test_icmp_to_loopback_is_refused_by_default() -> None:
    guarded = ProbeContext()
    try:
        result = await probe(guarded, "icmp", "127.0.0.1")
    finally:
        await guarded.aclose()
    assert not result.ok and "loopback" in (result.error or "")


# ------------------------------------------------------------------ guard


@pytest.mark.parametrize(
    ("address", "word"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "non-public"),
        ("::ffff:127.0.0.1", "loopback"),
        ("0.0.0.0", "private"),
    ],
)
def test_non_public_addresses_are_refused(address: str, word: str) -> None:
    reason = AddressPolicy().refusal(ipaddress.ip_address(address))
    assert reason is not None and word in reason


def test_public_addresses_pass_and_allow_lists_open_private_ones() -> None:
    assert AddressPolicy().refusal(ipaddress.ip_address("93.184.216.34")) is None
    allowed = AddressPolicy.from_settings(False, ["10.20.0.0/16"])
    assert allowed.refusal(ipaddress.ip_address("10.20.3.4")) is None
    assert allowed.refusal(ipaddress.ip_address("10.21.3.4")) is not None
    assert AddressPolicy(allow_private=True).refusal(ipaddress.ip_address("10.0.0.1")) is None


async def test_a_name_is_checked_on_the_address_it_resolves_to() -> None:
    # localhost resolves to loopback: refused although the name looks harmless.
    with pytest.raises(TargetRefused, match="loopback"):
        await resolve("localhost", 80, AddressPolicy())


async def test_unresolvable_names_are_a_refusal_not_a_crash() -> None:
    with pytest.raises(TargetRefused, match="cannot resolve"):
        await resolve("nothing.invalid", 80, AddressPolicy())
