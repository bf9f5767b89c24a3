"""Parsing of monitor targets: pure syntax, never a DNS lookup or a connection.

Shared by the API (to validate a monitor when it is created) and the probes (to know
what to connect to), so both agree on what a target means.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$", re.IGNORECASE)


class TargetError(ValueError):
    """The target is not of the form its monitor kind needs."""


@dataclass(frozen=True, slots=True)
class HostPort:
    host: str
    port: int


def validate_host(host: str) -> str:
    """A hostname (letters, digits, hyphens, dots) or an IP literal."""
    if not host:
        raise TargetError("the host is empty")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    name = host.rstrip(".")
    if len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
        raise TargetError(f"{host!r} is neither a valid hostname nor an IP address")
    return name.lower()


def parse_host_port(target: str, default_port: int | None = None) -> HostPort:
    """``host:port``, ``[v6]:port`` or, with a default port, a bare host."""
    target = target.strip()
    if target.startswith("["):
        host, sep, rest = target[1:].partition("]")
        if not sep:
            raise TargetError(f"{target!r}: unclosed '[' around an IPv6 address")
        port_text = rest.removeprefix(":") if rest.startswith(":") else None
        if rest and port_text is None:
            raise TargetError(f"{target!r}: expected ':port' after ']'")
    elif target.count(":") == 1:
        host, _, port_text = target.partition(":")
    else:
        host, port_text = target, None
    if port_text is None:
        if default_port is None:
            raise TargetError(f"{target!r} needs a port, as host:port")
        port = default_port
    else:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise TargetError(f"{target!r}: the port must be a number from 1 to 65535")
        port = int(port_text)
    return HostPort(validate_host(host), port)


def validate_http_url(target: str) -> str:
    parts = urlsplit(target.strip())
    if parts.scheme not in ("http", "https"):
        raise TargetError(f"{target!r} must start with http:// or https://")
    if not parts.hostname:
        raise TargetError(f"{target!r} has no host")
    validate_host(parts.hostname)
    try:
        port = parts.port
    except ValueError as exc:
        raise TargetError(f"{target!r}: {exc}") from None
    if port is not None and not 1 <= port <= 65535:
        raise TargetError(f"{target!r}: the port must be from 1 to 65535")
    return target.strip()
