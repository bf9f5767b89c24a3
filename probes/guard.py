"""The SSRF guard: which addresses probes may connect to.

Targets are resolved first and the address checked is the address connected to, so a
DNS answer that changes between check and connect (rebinding) cannot slip through.
Anything that is not a global unicast address is refused (loopback, private,
link-local, carrier-grade NAT, multicast, reserved, cloud metadata such as
169.254.169.254), unless the operator allows private targets or lists the CIDR.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class TargetRefused(Exception):
    """The target resolves only to addresses probes may not reach, or not at all."""


@dataclass(frozen=True)
class AddressPolicy:
    allow_private: bool = False
    allowed_networks: Sequence[IPNetwork] = field(default_factory=tuple)

    @classmethod
    def from_settings(cls, allow_private: bool, cidrs: Sequence[str]) -> AddressPolicy:
        return cls(allow_private, tuple(ipaddress.ip_network(c, strict=False) for c in cidrs))

    def refusal(self, address: IPAddress) -> str | None:
        """Why ``address`` may not be probed, or None if it may."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if any(address in network for network in self.allowed_networks):
            return None
        if address.is_global and not address.is_multicast:
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
        raise TargetRefused(f"cannot resolve {host}: {exc.strerror}") from None
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
