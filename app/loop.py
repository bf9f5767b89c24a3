"""Which event loop ``uptally serve`` and ``uptally agent`` run on: uvloop by default
(where it is installed: not on Windows), asyncio's own with ``UPTALLY_UVLOOP=false``;
and ``in_slices`` / ``in_turns``, which let long CPU work share that loop.

uvloop roughly halves the CPU of the loop's own work per check (sockets, TLS,
callbacks; bench/results/http_engines.md). Nothing in Uptally depends on it: the
setting is there to rule it out when something looks wrong.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
from collections.abc import AsyncIterator, Iterable
from typing import TypeVar

T = TypeVar("T")


async def in_slices(items: Iterable[T], size: int) -> AsyncIterator[list[T]]:
    """``items`` as lists of up to ``size``, handing the event loop back between two.
    CPU work over every service (credits, the figures cache, a close, ``/metrics``)
    done in one go held every other request of the process for seconds at 100,000
    services. (Not a worker thread: beside a busy loop, which gives up the interpreter
    lock at every poll and takes it straight back, a thread got 50 ms of CPU in
    870 ms.)"""
    it = iter(items)
    while part := list(itertools.islice(it, size)):
        yield part
        if len(part) < size:
            return
        await asyncio.sleep(0)


async def in_turns(items: Iterable[T], per_turn: int) -> AsyncIterator[T]:
    """``items`` one by one, handing the event loop back after every ``per_turn``."""
    async for part in in_slices(items, per_turn):
        for item in part:
            yield item


def available() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def loop_name(wanted: bool) -> str:
    """``"uvloop"`` if wanted and installed, else ``"asyncio"``: uvicorn's ``loop``
    argument, so the API server runs on the same loop as the agent would."""
    return "uvloop" if wanted and available() else "asyncio"


def install(wanted: bool) -> str:
    """Make ``asyncio.run`` in this process use uvloop if wanted and installed (the
    agent's start-up); returns the loop's name."""
    name = loop_name(wanted)
    if name == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    else:
        asyncio.set_event_loop_policy(None)  # asyncio's own, whatever was set before
    return name
