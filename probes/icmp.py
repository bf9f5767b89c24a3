"""The ICMP echo probe (icmplib): unprivileged where the kernel allows it
(``net.ipv4.ping_group_range``), raw sockets where the process may open them."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from icmplib import async_ping
from icmplib.exceptions import ICMPLibError, SocketPermissionError

from probes.guard import AddressPolicy, TargetRefused, resolve
from probes.result import ProbeResult, finished


async def check_icmp(
    target: str,
    options: Mapping[str, Any],
    timeout: float,
    policy: AddressPolicy,
) -> ProbeResult:
    started = time.perf_counter()
    count = int(options.get("packet_count", 3))
    try:
        address = str(await resolve(target, 0, policy))
        host = None
        for privileged in (False, True):
            try:
                host = await async_ping(
                    address,
                    count=count,
                    interval=0.2,
                    timeout=timeout / count,
                    privileged=privileged,
                )
                break
            except SocketPermissionError:
                continue
        if host is None:
            return finished(
                False,
                started,
                "ICMP is not permitted here: allow unprivileged ping "
                "(sysctl net.ipv4.ping_group_range) or grant CAP_NET_RAW",
            )
    except TargetRefused as exc:
        return finished(False, started, exc.error)
    except (ICMPLibError, OSError) as exc:
        return finished(False, started, f"ping failed: {exc}")
    details = {
        "packets_sent": host.packets_sent,
        "packets_received": host.packets_received,
        "packet_loss": host.packet_loss,
    }
    if not host.is_alive:
        return finished(False, started, f"no reply to {count} echo requests", details=details)
    return ProbeResult(
        ok=True,
        latency_ms=int(host.avg_rtt),
        timings={"rtt_avg": host.avg_rtt},
        details=details,
    )
