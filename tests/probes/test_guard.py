"""The SSRF guard judges IPv6 forms that carry an IPv4 address by that address (issue
8, item 8): NAT64, 6to4, IPv4-compatible, IPv4-translated and IPv4-mapped forms of
loopback, private and link-local addresses are refused like the addresses themselves."""

from __future__ import annotations

import ipaddress

import pytest

from probes.guard import AddressPolicy, TargetRefused, embedded_ipv4, resolve
from probes.result import ProbeResult, clean_message


@pytest.mark.parametrize(
    ("address", "carried", "word"),
    [
        ("64:ff9b::7f00:1", "127.0.0.1", "loopback"),  # NAT64
        ("64:ff9b::127.0.0.1", "127.0.0.1", "loopback"),
        ("64:ff9b::a9fe:a9fe", "169.254.169.254", "link-local"),
        ("64:ff9b::10.1.2.3", "10.1.2.3", "private"),
        ("2002:7f00:1::", "127.0.0.1", "loopback"),  # 6to4
        ("2002:a9fe:a9fe::1", "169.254.169.254", "link-local"),
        ("2002:c0a8:1::1", "192.168.0.1", "private"),
        ("::127.0.0.1", "127.0.0.1", "loopback"),  # IPv4-compatible
        ("::10.0.0.1", "10.0.0.1", "private"),
        ("::169.254.169.254", "169.254.169.254", "link-local"),
        ("::ffff:0:127.0.0.1", "127.0.0.1", "loopback"),  # IPv4-translated
        ("::ffff:0:172.16.0.1", "172.16.0.1", "private"),
        ("::ffff:169.254.169.254", "169.254.169.254", "link-local"),  # IPv4-mapped
        ("64:ff9b::6440:1", "100.64.0.1", "non-public"),
    ],
)
def test_ipv6_forms_of_non_public_ipv4_addresses_are_refused(
    address: str, carried: str, word: str
) -> None:
    parsed = ipaddress.IPv6Address(address)
    found = embedded_ipv4(parsed)
    assert found is not None and str(found[0]) == carried
    reason = AddressPolicy().refusal(parsed)
    assert reason is not None and word in reason and carried in reason


@pytest.mark.parametrize("address", ["64:ff9b:1::a00:1", "64:ff9b:1::808:808"])
def test_local_use_nat64_is_refused(address: str) -> None:
    assert AddressPolicy().refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize(
    "address", ["64:ff9b::808:808", "2002:808:808::1", "::8.8.8.8", "2606:4700:4700::1111"]
)
def test_ipv6_forms_of_public_addresses_still_pass(address: str) -> None:
    assert AddressPolicy().refusal(ipaddress.ip_address(address)) is None


def test_the_operator_may_still_allow_them() -> None:
    nat64_private = ipaddress.ip_address("64:ff9b::a00:1")
    assert AddressPolicy(allow_private=True).refusal(nat64_private) is None
    assert AddressPolicy.from_settings(False, ["10.0.0.0/8"]).refusal(nat64_private) is None
    assert AddressPolicy.from_settings(False, ["64:ff9b::/96"]).refusal(nat64_private) is None
    assert AddressPolicy(allow_private=True).refusal(ipaddress.ip_address("::")) is not None


async def test_a_literal_target_in_such_a_form_is_refused_before_connecting() -> None:
    with pytest.raises(TargetRefused, match=r"NAT64 form of 127\.0\.0\.1"):
        await resolve("64:ff9b::7f00:1", 80, AddressPolicy())


def test_probe_messages_are_always_storable() -> None:
    """What a probe reports quotes what targets send: a NUL or a lone surrogate there
    must not make a result the server refuses (or cannot even encode) forever."""
    result = ProbeResult.failure("banner \x00\ud800" + "x" * 5000, warning="\x00")
    assert result.error is not None and result.error.startswith("banner \\x00\\ud800x")
    assert len(result.error) == 1000
    assert result.warning == "\\x00"
    result.error.encode("utf-8")
    assert clean_message(None) is None
    assert clean_message("plain") == "plain"
