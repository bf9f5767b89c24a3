"""A minimal, fast HTTP target for the benchmarks: answers every request with a tiny
200 and closes, using as little CPU as Python allows (no parsing, no framework, uvloop
when installed), so the probes, not the target, are what is measured.

``python -m bench.target PORT [PORT ...] [--hosts 127.0.0.1 127.0.0.2] [--procs P]``
listens on every host and port given, in P processes (SO_REUSEPORT shares each
socket). Several ports or addresses matter at scale: every check opens a fresh
connection and the target closes it, so each (address, port) pair leaves its
TIME_WAIT entries behind, and one pair runs out of client ports past ~470
connections/s (28,000 ephemeral ports, 60 s TIME_WAIT). Prints ``ready`` once all
processes listen.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import signal
import socket
import sys
from collections.abc import Callable

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


class Answer(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.data = b""

    def data_received(self, data: bytes) -> None:
        self.data += data
        if b"\r\n\r\n" in self.data:
            self.transport.write(RESPONSE)  # type: ignore[attr-defined]
            self.transport.close()


def listening_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(4096)
    sock.setblocking(False)
    return sock


async def serve(hosts: list[str], ports: list[int], ready: Callable[[], object]) -> None:
    loop = asyncio.get_running_loop()
    servers = [
        await loop.create_server(Answer, sock=listening_socket(host, port))
        for host in hosts
        for port in ports
    ]
    ready()
    await asyncio.gather(*(server.serve_forever() for server in servers))


def say_ready() -> None:
    print("ready", flush=True)


def run(hosts: list[str], ports: list[int], ready: Callable[[], object]) -> None:
    # SIGTERM ends this process through SystemExit, so multiprocessing's exit hook
    # stops the daemonic sibling processes too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # plain asyncio is fine, only a little dearer
        pass
    asyncio.run(serve(hosts, ports, ready))


async def main(port: int) -> None:
    """One port on 127.0.0.1 in this process (what bench.probes starts)."""
    await serve(["127.0.0.1"], [port], say_ready)


def cli(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ports", type=int, nargs="+")
    parser.add_argument("--hosts", nargs="+", default=["127.0.0.1"])
    parser.add_argument("--procs", type=int, default=1, help="processes sharing the sockets")
    args = parser.parse_args(argv)
    children = []
    for _ in range(args.procs - 1):
        listening = multiprocessing.Event()
        child = multiprocessing.Process(
            target=run, args=(args.hosts, args.ports, listening.set), daemon=True
        )
        child.start()
        listening.wait(10)
        children.append(child)
    # The last process is this one: stopping it (SIGTERM) ends the daemonic children.
    run(args.hosts, args.ports, say_ready)


if __name__ == "__main__":
    cli(sys.argv[1:])
