"""Real servers on loopback for the probe tests: HTTP (with slow answers of any delay),
HTTPS (a trustme CA), a TCP banner, a DNS server and a resolver that never answers.
Nothing here touches the internet."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import dns.message
import dns.rrset
import pytest
import trustme

from probes.guard import AddressPolicy
from probes.registry import ProbeContext

LOOPBACK = AddressPolicy(allow_private=True)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        path = self.path
        if path == "/ok":
            self._send(200, b"<html>Welcome to Acme</html>")
        elif path == "/host":
            self._send(200, self.headers.get("Host", "").encode())
        elif path == "/json":
            self._send(
                200,
                json.dumps({"status": {"db": "up"}, "items": [7]}).encode(),
                {"Content-Type": "application/json"},
            )
        elif path.startswith("/status/"):
            self._send(int(path.rsplit("/", 1)[1]), b"status")
        elif path.startswith("/slow/"):
            # /slow/SECONDS: answer after that delay (each test asks for the least that
            # still proves its point).
            time.sleep(float(path.rsplit("/", 1)[1]))
            self._send(200, b"late")
        elif path == "/redirect":
            self._send(302, b"", {"Location": "/ok"})
        elif path == "/loop":
            self._send(302, b"", {"Location": "/loop"})
        elif path == "/reset":
            # Close without answering, with RST (linger 0): a reset connection.
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            self.close_connection = True
            self.rfile.close()
            self.wfile.close()
            self.connection.close()
        else:
            self._send(404, b"not found")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self._send(200, b"posted:" + self.rfile.read(length))


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the /reset handler breaks its own connection on purpose


@contextmanager
def serve_http(context: ssl.SSLContext | None = None, port: int = 0) -> Iterator[str]:
    """Serve Handler on loopback (``port`` 0: any free one); yields the base URL."""
    server = QuietServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    # A short poll interval: shutdown() waits up to one interval.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    scheme = "https" if context else "http"
    try:
        yield f"{scheme}://localhost:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def http_url() -> Iterator[str]:
    with serve_http() as url:
        yield url


@pytest.fixture(scope="session")
def https_url(ca: trustme.CA) -> Iterator[str]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    with serve_http(context) as url:
        yield url


@pytest.fixture(scope="session")
def expiring_https_url(ca: trustme.CA) -> Iterator[str]:
    """A server whose certificate expires in 5 days."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf = ca.issue_cert("localhost", not_after=datetime.now(UTC) + timedelta(days=5, hours=1))
    leaf.configure_cert(context)
    with serve_http(context) as url:
        yield url


@pytest.fixture
async def ctx(ca: trustme.CA) -> AsyncIterator[ProbeContext]:
    """Probes trusting the test CA and allowed to reach loopback."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    probe_ctx = ProbeContext(policy=LOOPBACK, ssl_context=context)
    yield probe_ctx
    await probe_ctx.aclose()


@pytest.fixture
async def banner_port() -> AsyncIterator[int]:
    """A TCP server that greets like an SMTP server."""

    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 mail.acme.test ESMTP ready\r\n")
        await writer.drain()
        line = await reader.readline()
        if line:
            writer.write(b"250 hello " + line.strip() + b"\r\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(greet, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


class DnsServer(asyncio.DatagramProtocol):
    """Answers A queries for svc.acme.test. with two addresses; NXDOMAIN otherwise."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        question = query.question[0]
        if question.name.to_text() == "svc.acme.test." and question.rdtype == 1:
            response.answer.append(
                dns.rrset.from_text("svc.acme.test.", 60, "IN", "A", "192.0.2.10", "192.0.2.11")
            )
        else:
            response.set_rcode(3)  # NXDOMAIN
        self.transport.sendto(response.to_wire(), addr)  # type: ignore[attr-defined]


@pytest.fixture
def silent_resolver() -> Iterator[str]:
    """A UDP port that takes queries and never answers (a closed port would answer with
    ICMP port-unreachable instead)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
async def dns_resolver() -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(DnsServer, local_addr=("127.0.0.1", 0))
    yield f"127.0.0.1:{transport.get_extra_info('sockname')[1]}"
    transport.close()
