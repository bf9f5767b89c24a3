"""Which event loop ``uptally serve`` and ``uptally agent`` run on: uvloop by default
(where it is installed: not on Windows), asyncio's own with ``UPTALLY_UVLOOP=false``;
and ``in_turns``, which lets long CPU work share that loop.

uvloop roughly halves the CPU of the loop's own work per check (sockets, TLS,
callbacks; bench/results/http_engines.md). Nothing in Uptally depends on it: the
setting is there to rule it out when something looks wrong.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import AsyncIterator, Iterable
from typing import TypeVar

T = TypeVar("T")


async def in_turns(items: Iterable[T], per_turn: int) -> AsyncIterator[T]:
    """``items``, handing the event loop back after every ``per_turn`` of them. CPU
    work over every service (credits, the figures cache, a close) done in one go held
    every other request of the process for seconds at 100,000 services."""
    for done, item in enumerate(items):
        if done and done % per_turn == 0:
            await asyncio.sleep(0)
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
