"""The SSRF guard: which addresses probes may connect to.

Targets are resolved first and the address checked is the address connected to, so a
DNS answer that changes between check and connect (rebinding) cannot slip through.
Anything that is not a global unicast address is refused (loopback, private,
link-local, carrier-grade NAT, multicast, reserved, cloud metadata such as
169.254.169.254), unless the operator allows private targets or lists the CIDR.
IPv6 forms that carry an IPv4 address (IPv4-mapped, NAT64, 6to4, IPv4-compatible,
IPv4-translated) are judged by the IPv4 address they carry, so ``64:ff9b::7f00:1``
is loopback as much as ``127.0.0.1`` is.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


# IPv6 prefixes whose last 32 bits (or, for 6to4, bits 16-47) are an IPv4 address.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052, the well-known prefix
_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # ::ffff:0:a.b.c.d (RFC 2765)
_COMPATIBLE = ipaddress.IPv6Network("::/96")  # ::a.b.c.d (deprecated, RFC 4291)
# RFC 8215's local-use NAT64 prefix: where the IPv4 address sits depends on the
# operator's prefix length, so it is judged as what it is, a local-use address.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


def embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address an IPv6 address stands for, and the form, if it is one."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped, "IPv4-mapped"
    if address.sixtofour is not None:
        return address.sixtofour, "6to4"
    low = ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    if address in _NAT64:
        return low, "NAT64"
    if address in _TRANSLATED:
        return low, "IPv4-translated"
    if address in _COMPATIBLE and not (address.is_loopback or address.is_unspecified):
        return low, "IPv4-compatible"
    return None


class TargetRefused(Exception):
    """The target resolves only to addresses probes may not reach, or not at all."""

    @property
    def error(self) -> str:
        """The check's error: the guard refused to connect."""
        return f"refused: {self}"


class Unresolvable(TargetRefused):
    """The target's name does not resolve: a failed check like any other, not a
    refusal (the guard had nothing to judge)."""

    @property
    def error(self) -> str:
        return str(self)


@dataclass(frozen=True)
class AddressPolicy:
    allow_private: bool = False
    allowed_networks: Sequence[IPNetwork] = field(default_factory=tuple)

    @classmethod
    def from_settings(cls, allow_private: bool, cidrs: Sequence[str]) -> AddressPolicy:
        return cls(allow_private, tuple(ipaddress.ip_network(c, strict=False) for c in cidrs))

    def refusal(self, address: IPAddress) -> str | None:
        """Why ``address`` may not be probed, or None if it may."""
        if any(address in network for network in self.allowed_networks):
            return None
        if isinstance(address, ipaddress.IPv6Address):
            embedded = embedded_ipv4(address)
            if embedded is not None:
                ipv4, form = embedded
                reason = self.refusal(ipv4)
                return None if reason is None else f"{address} ({form} form of {ipv4}): {reason}"
        local_nat64 = isinstance(address, ipaddress.IPv6Address) and address in _LOCAL_NAT64
        if address.is_global and not address.is_multicast and not local_nat64:
            return None
        if self.allow_private and not (address.is_multicast or address.is_unspecified):
            return None
        kind = (
            "loopback"
            if address.is_loopback
            else "link-local (e.g. cloud metadata)"
            if address.is_link_local
            else "private"
            if address.is_private
            else "non-public"
        )
        return (
            f"{address} is a {kind} address; probes refuse it unless "
            "UPTALLY_ALLOW_PRIVATE_TARGETS or UPTALLY_ALLOWED_TARGET_CIDRS allow it"
        )


async def resolve(host: str, port: int, policy: AddressPolicy) -> IPAddress:
    """The first address of ``host`` that ``policy`` allows; TargetRefused otherwise."""
    try:
        return _checked([ipaddress.ip_address(host)], policy)
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise Unresolvable(f"cannot resolve {host}: {exc.strerror}") from None
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
    return _checked(addresses, policy)


def _checked(addresses: list[IPAddress], policy: AddressPolicy) -> IPAddress:
    refusals = []
    for address in addresses:
        reason = policy.refusal(address)
        if reason is None:
            return address
        refusals.append(reason)
    raise TargetRefused(refusals[0] if refusals else "no address")
