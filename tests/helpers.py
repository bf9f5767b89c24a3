"""Helpers the tests share: free ports, API keys, another task beside a block, and the
bodies and makers of a customer's catalog. Fixtures live in tests/conftest.py; these
are plain functions, so tests against any app (in process or a real server) can use
them."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any

from app.auth import Scope, create_key
from app.db import make_engine, make_sessionmaker, transaction

if TYPE_CHECKING:  # tests.conftest imports this module
    from tests.conftest import Api

Catalog = dict[str, dict[str, Any]]

TIERS = [
    {"from_percent": "99.0", "to_percent": "99.9", "credit_percent": "10"},
    {"from_percent": "95.0", "to_percent": "99.0", "credit_percent": "25"},
    {"from_percent": "0", "to_percent": "95.0", "credit_percent": "50"},
]


def free_port() -> int:
    """A loopback TCP port nothing listens on (just now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def another_task() -> AsyncIterator[list[object]]:
    """A task beside the block that notes ``"other"`` in the list it yields at every turn
    of the event loop it gets while the block runs: a test appends its own steps to see
    how they interleave, or counts the turns (long work must hand the loop back)."""
    seen: list[object] = []

    async def other() -> None:
        while True:
            seen.append("other")
            await asyncio.sleep(0)

    task = asyncio.create_task(other())
    await asyncio.sleep(0)  # its first turn, taken before the block
    seen.clear()
    try:
        yield seen
    finally:
        task.cancel()


def samples_by_family(text: str) -> dict[str, int]:
    """The samples of each family in Prometheus text, checking the grouping the format
    asks for: each family's ``# TYPE`` line once, then all its samples together."""
    counts: dict[str, int] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            current = line.split()[2]
            assert current not in counts, f"{current}: a second header"
            counts[current] = 0
        elif line and not line.startswith("#"):
            name = line.split("{")[0].split(" ")[0]
            assert current is not None and name.startswith(current), f"{name} under {current}"
            counts[current] += 1
    return counts


async def until(condition: Callable[[], Any], what: str, seconds: float = 10) -> Any:
    """Wait (polling every 10 ms) until ``condition()`` is truthy and return it; fail
    naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:g} s waiting for {what}")
        await asyncio.sleep(0.01)
    return value


async def make_key(
    db_url: str, scope: str, customer: str | None = None, locations: Sequence[str] = ()
) -> str:
    """A new API key's token, created straight in the database (as `uptally keys create`).
    An agent key is bound to ``locations`` (at least one)."""
    engine = make_engine(db_url)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            _, token = await create_key(
                session, Scope(scope), customer_slug=customer, locations=locations
            )
            return token
    finally:
        await engine.dispose()


def policy_body(**changes: Any) -> dict[str, Any]:
    """The standard policy: target 99.9 with TIERS."""
    return {"name": "Standard", "target_percent": "99.9", "credit_tiers": TIERS, **changes}


def service_body(customer_id: int, policy_id: int, **changes: Any) -> dict[str, Any]:
    """The customer's service "web" at 100.00 a month, from 2025-01-01."""
    return {
        "customer_id": customer_id,
        "name": "Web",
        "slug": "web",
        "policy_id": policy_id,
        "monthly_fee": "100.00",
        "starts_at": "2025-01-01T00:00:00Z",
        **changes,
    }


async def make_service(api: Api) -> Catalog:
    """Customer "acme" (Europe/Berlin), the standard policy and its service "web"."""
    customer = await api.create(
        "/api/v1/customers", {"slug": "acme", "name": "Acme", "timezone": "Europe/Berlin"}
    )
    policy = await api.create("/api/v1/sla-policies", policy_body())
    service = await api.create("/api/v1/services", service_body(customer["id"], policy["id"]))
    return {"customer": customer, "policy": policy, "service": service}


async def make_monitor(
    api: Api, service_id: int, target: str, *, kind: str = "http", **fields: Any
) -> dict[str, Any]:
    """A monitor of ``service_id`` (named "home" unless ``fields`` say otherwise)."""
    body = {"service_id": service_id, "name": "home", "kind": kind, "target": target}
    return await api.create("/api/v1/monitors", {**body, **fields})


async def make_other_customer(api: Api, policy_id: int) -> Catalog:
    """A second customer, "globex", with its own service "shop": what a customer key
    of "acme" must never see."""
    customer = await api.create("/api/v1/customers", {"slug": "globex", "name": "Globex"})
    service = await api.create(
        "/api/v1/services",
        service_body(customer["id"], policy_id, name="Shop", slug="shop", monthly_fee="5"),
    )
    return {"customer": customer, "service": service}
