"""Load drivers for ``bench.scale allin``, each run as its own process:

- ``blackbox``: asks a running blackbox_exporter to probe the targets, ``rate`` times a
  second (``GET /probe?target=...&module=http_2xx`` on kept-alive connections, so the
  driver costs the exporter as little as a Prometheus server would), and charges the
  exporter's CPU (read from /proc by its pid) to the probes it answered;
- ``aiohttp``: a bare aiohttp GET loop, a fresh connection each, ``rate`` times a
  second, charging its own CPU (the floor a Python HTTP engine starts from).

Both pace requests by the clock (not back to back), warm up, then measure over a
window and print one JSON line: requests done, how many succeeded, CPU seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlsplit

from bench.scale_procs import cpu_seconds

MAX_IN_FLIGHT = 5000  # beyond this the engine is not keeping up: stop adding work


class Counts:
    def __init__(self) -> None:
        self.ok = 0
        self.failed = 0
        self.skipped = 0
        self.errors: dict[str, int] = {}


async def paced(
    rate: float, seconds: float, fire: Callable[[int], Awaitable[bool]], counts: Counts
) -> None:
    """Start ``fire(i)`` ``rate`` times a second for ``seconds``, then wait for the rest."""
    tasks: set[asyncio.Task[None]] = set()

    async def one(i: int) -> None:
        try:
            good = await fire(i)
        except Exception as exc:  # counted by kind: a failed request is a figure too
            kind = type(exc).__name__
            counts.errors[kind] = counts.errors.get(kind, 0) + 1
            good = False
        if good:
            counts.ok += 1
        else:
            counts.failed += 1

    started = time.monotonic()
    launched = 0
    while (elapsed := time.monotonic() - started) < seconds:
        for _ in range(int(elapsed * rate) - launched):
            launched += 1
            if len(tasks) >= MAX_IN_FLIGHT:
                counts.skipped += 1
                continue
            task = asyncio.create_task(one(launched))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.sleep(0.002)
    if tasks:
        await asyncio.wait(tasks, timeout=15)


async def measured(
    rate: float,
    warmup: float,
    seconds: float,
    fire: Callable[[int], Awaitable[bool]],
    charged_pid: int,
) -> dict[str, Any]:
    counts = Counts()
    load = asyncio.create_task(paced(rate, warmup + seconds + 2, fire, counts))
    await asyncio.sleep(warmup)
    ok0, failed0, cpu0, t0 = counts.ok, counts.failed, cpu_seconds(charged_pid), time.monotonic()
    await asyncio.sleep(seconds)
    ok1, failed1, cpu1, t1 = counts.ok, counts.failed, cpu_seconds(charged_pid), time.monotonic()
    await load
    return {
        "rate": rate,
        "seconds": round(t1 - t0, 3),
        "ok": ok1 - ok0,
        "failed": failed1 - failed0,
        "skipped": counts.skipped,
        "errors": counts.errors,
        "cpu_seconds": round((cpu1 or 0.0) - (cpu0 or 0.0), 4),
    }


# ------------------------------------------------------------------ blackbox


class KeepAlive:
    """A tiny HTTP/1.1 client on kept-alive connections (GET only; Content-Length or
    chunked answers), so the driver adds no connection churn to the exporter."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def get(self, path: str) -> tuple[int, bytes]:
        if self.idle:
            reader, writer = self.idle.pop()
        else:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
            status = int(head.split(None, 2)[1])
            if "transfer-encoding: chunked" in head:
                body = b""
                while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
                    body += (await reader.readexactly(size + 2))[:-2]
                await reader.readuntil(b"\r\n")
            else:
                length = int(head.split("content-length:")[1].split("\r\n")[0])
                body = await reader.readexactly(length)
        except BaseException:
            writer.close()
            raise
        self.idle.append((reader, writer))
        return status, body


async def drive_blackbox(args: argparse.Namespace) -> dict[str, Any]:
    exporter = urlsplit(args.exporter)
    client = KeepAlive(exporter.hostname or "127.0.0.1", exporter.port or 9115)
    paths = [f"/probe?module=http_2xx&target={quote(t, safe='')}" for t in args.targets]

    async def fire(i: int) -> bool:
        status, body = await client.get(paths[i % len(paths)])
        return status == 200 and b"\nprobe_success 1" in body

    return await measured(args.rate, args.warmup, args.seconds, fire, args.pid)


# ------------------------------------------------------------------ aiohttp


async def drive_aiohttp(args: argparse.Namespace) -> dict[str, Any]:
    import os

    import aiohttp

    connector = aiohttp.TCPConnector(force_close=True, limit=0)
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def fire(i: int) -> bool:
            async with session.get(args.targets[i % len(args.targets)]) as response:
                await response.read()
                return response.status == 200

        return await measured(args.rate, args.warmup, args.seconds, fire, os.getpid())


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("engine", choices=["blackbox", "aiohttp"])
    parser.add_argument("--targets", nargs="+", required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--exporter", default="http://127.0.0.1:9115")
    parser.add_argument("--pid", type=int, default=0, help="the exporter's pid (blackbox)")
    parser.add_argument("--uvloop", action="store_true", help="run the loop on uvloop")
    args = parser.parse_args(argv)
    run = drive_blackbox if args.engine == "blackbox" else drive_aiohttp
    if args.uvloop:
        import uvloop

        uvloop.install()
    print(json.dumps(asyncio.run(run(args))), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
