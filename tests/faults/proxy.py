"""A TCP proxy in front of PostgreSQL that a test can cut and hang, without touching
the real server (other tests use it).

It runs its own event loop in a thread, so synchronous tests (and the real processes
they start) can use it:

- ``cut()``: every open connection is reset and new ones are reset as soon as they
  are accepted, as when the database host goes away;
- ``hang()``: connections stay open and new ones are accepted, but nothing is
  forwarded either way (bytes already read wait in the proxy), as when the database
  host stops answering (a full disk, a stopped VM, a dropped route);
- ``restore()``: forwarding again; hung connections carry on where they stopped.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Literal

Mode = Literal["pass", "cut", "hang"]


class FaultProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.mode: Mode = "pass"
        self.accepted = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._links: set[asyncio.StreamWriter] = set()
        self._flowing: asyncio.Event | None = None
        self._server: asyncio.Server | None = None
        self.port = 0

    # -- the test's side (any thread) --

    def start(self) -> int:
        self._thread.start()
        self.port = self._call(self._start())
        return self.port

    def cut(self) -> None:
        self._call(self._set("cut"))

    def hang(self) -> None:
        self._call(self._set("hang"))

    def restore(self) -> None:
        self._call(self._set("pass"))

    def close(self) -> None:
        self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def _call(self, coroutine: object) -> int:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)  # type: ignore[arg-type]
        result: int = future.result(timeout=5)
        return result

    # -- the proxy's loop --

    async def _start(self) -> int:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _set(self, mode: Mode) -> int:
        assert self._flowing is not None
        self.mode = mode
        if mode == "hang":
            self._flowing.clear()
            return 0
        if mode == "cut":
            for writer in list(self._links):
                writer.transport.abort()
            self._links.clear()
        self._flowing.set()  # cut: let held pumps see their reset connections
        return 0

    async def _close(self) -> int:
        assert self._server is not None
        self._server.close()
        await self._set("cut")
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return 0

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._link(reader, writer)
        except asyncio.CancelledError:  # the proxy closes
            writer.transport.abort()

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._flowing is not None
        self.accepted += 1
        if self.mode == "cut":
            writer.transport.abort()
            return
        self._links.add(writer)
        await self._flowing.wait()  # hung: accepted, but the upstream is not even asked
        if self.mode == "cut" or writer.transport.is_closing():
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        self._links.add(up_writer)
        try:
            await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))
        finally:
            for side in (writer, up_writer):
                self._links.discard(side)
                side.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._flowing is not None
        try:
            while data := await reader.read(65536):
                await self._flowing.wait()  # hung: hold what was read, read no more
                if writer.transport.is_closing():
                    break
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.transport.abort()  # one side gone: the link is gone
