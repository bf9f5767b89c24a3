"""The TCP probe: connect, optionally send a line and expect a banner."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from typing import Any

from probes.guard import AddressPolicy, TargetRefused, resolve
from probes.result import ProbeResult, elapsed_ms, finished
from probes.targets import parse_host_port

MAX_BANNER = 4096
IDLE = 1.0  # default seconds of silence after which the banner is judged


async def check_tcp(
    target: str,
    options: Mapping[str, Any],
    timeout: float,
    policy: AddressPolicy,
    idle: float = IDLE,
) -> ProbeResult:
    started = time.perf_counter()
    timings: dict[str, float] = {}
    writer = None
    try:
        endpoint = parse_host_port(target)
        async with asyncio.timeout(timeout):
            address = await resolve(endpoint.host, endpoint.port, policy)
            timings["dns"] = elapsed_ms(started)
            connecting = time.perf_counter()
            reader, writer = await asyncio.open_connection(str(address), endpoint.port)
            timings["connect"] = elapsed_ms(connecting)
            if options.get("send"):
                writer.write(str(options["send"]).encode())
                await writer.drain()
            expect = options.get("expect")
            if expect:
                banner = await _read_until(reader, str(expect).encode(), idle)
                if str(expect).encode() not in banner:
                    error = f"expected {expect!r}, got {banner[:200]!r}"
                    return finished(False, started, error, timings=timings)
    except TimeoutError:
        return finished(False, started, timings=timings, error=f"timed out after {timeout:g} s")
    except TargetRefused as exc:
        return finished(False, started, timings=timings, error=exc.error)
    except ValueError as exc:
        return finished(False, started, timings=timings, error=f"bad target: {exc}")
    except OSError as exc:
        return finished(
            False, started, timings=timings, error=f"connection failed: {exc.strerror or exc}"
        )
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    return finished(True, started, timings=timings)


async def _read_until(reader: asyncio.StreamReader, expected: bytes, idle: float) -> bytes:
    """Read until ``expected`` arrives, the peer closes, or it falls quiet for ``idle``
    seconds after the first bytes (then a wrong banner fails at once, not at the
    timeout)."""
    data = b""
    while expected not in data and len(data) < MAX_BANNER:
        try:
            chunk = await asyncio.wait_for(reader.read(MAX_BANNER), idle if data else None)
        except TimeoutError:
            break
        if not chunk:
            break
        data += chunk
    return data
