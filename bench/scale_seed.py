"""The scale benchmarks' catalog: one customer per 100 services, one HTTP monitor per
service (as a hosting provider has them), targets spread over the local target's
ports. Three ways to create it, timed where they are a figure of the benchmark:

- straight into the database (``seed_direct``): setup only, not a figure;
- through the API (``create_via_api``): paged, concurrent POSTs, as a provisioning
  script would do it (the API has no bulk endpoint);
- with ``uptally apply -f catalog.yaml`` (``write_catalog`` then ``time_apply``).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import insert

from app.db import make_engine, make_sessionmaker
from app.models import Customer, Monitor, Service
from app.sample import standard_policy
from bench.scale_procs import uptally

PER_CUSTOMER = 100
TIERS = [
    {"from_percent": "99.0", "to_percent": "99.9", "credit_percent": "10"},
    {"from_percent": "95.0", "to_percent": "99.0", "credit_percent": "25"},
    {"from_percent": "0", "to_percent": "95.0", "credit_percent": "50"},
]
CHUNK = 5000  # rows per INSERT statement


def target_of(i: int, targets: list[str]) -> str:
    return targets[i % len(targets)]


async def seed_direct(
    url: str, monitors: int, interval: int, targets: list[str], location: str | list[str]
) -> None:
    """``monitors`` HTTP monitors, one per service; with several locations, monitor i
    lists the i-th in turn (each of several ``uptally serve`` probes its own share)."""
    locations = [location] if isinstance(location, str) else location
    engine = make_engine(url)
    now = datetime.now(UTC)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            policy = standard_policy(now, "bench")
            session.add(policy)
            await session.flush()
            customers = [
                {"slug": f"c{c}", "name": f"Customer {c}", "timezone": "UTC", "created_at": now}
                for c in range((monitors + PER_CUSTOMER - 1) // PER_CUSTOMER)
            ]
            await session.execute(insert(Customer), customers)
            for first in range(0, monitors, CHUNK):
                ids = range(first, min(monitors, first + CHUNK))
                await session.execute(
                    insert(Service),
                    [
                        {
                            "customer_id": 1 + i // PER_CUSTOMER,
                            "policy_id": policy.id,
                            "name": f"s{i}",
                            "slug": f"s{i}",
                            "monthly_fee": Decimal("100.00"),
                            "currency": "USD",
                            "starts_at": datetime(2025, 1, 1, tzinfo=UTC),
                            "ends_at": None,
                            "created_at": now,
                        }
                        for i in ids
                    ],
                )
                await session.execute(
                    insert(Monitor),
                    [
                        {
                            "service_id": 1 + i,
                            "name": "home",
                            "kind": "http",
                            "target": target_of(i, targets),
                            "interval_seconds": interval,
                            "timeout_seconds": min(10, interval),
                            "locations": [locations[i % len(locations)]],
                            "quorum": 1,
                            "failure_confirmations": 1,
                            "options": {},
                            "enabled": True,
                            "heartbeat_token": None,
                            "created_at": now,
                            "updated_at": now,
                        }
                        for i in ids
                    ],
                )
    finally:
        await engine.dispose()


async def post_all(
    client: httpx.AsyncClient, path: str, bodies: list[dict[str, Any]], concurrency: int
) -> list[int]:
    """POST every body, ``concurrency`` at a time; the created ids in order."""
    ids = [0] * len(bodies)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(bodies)):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            for attempt in range(5):
                response = await client.post(path, json=bodies[i])
                if response.status_code == 201:
                    ids[i] = int(response.json()["id"])
                    break
                if response.status_code < 500 or attempt == 4:
                    raise RuntimeError(f"POST {path}: {response.status_code} {response.text}")
                await asyncio.sleep(0.5)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ids


async def create_via_api(
    base_url: str,
    token: str,
    monitors: int,
    interval: int,
    targets: list[str],
    location: str,
    concurrency: int,
) -> dict[str, Any]:
    """The catalog through the public API; seconds per stage and monitors per second."""
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    timings: dict[str, float] = {}
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, timeout=60, limits=limits
    ) as client:
        started = time.perf_counter()
        policy = await client.post(
            "/api/v1/sla-policies",
            json={"name": "bench", "target_percent": "99.9", "credit_tiers": TIERS},
        )
        policy.raise_for_status()
        customers = await post_all(
            client,
            "/api/v1/customers",
            [
                {"slug": f"c{c}", "name": f"Customer {c}"}
                for c in range((monitors + PER_CUSTOMER - 1) // PER_CUSTOMER)
            ],
            concurrency,
        )
        timings["customers_seconds"] = time.perf_counter() - started
        mark = time.perf_counter()
        services = await post_all(
            client,
            "/api/v1/services",
            [
                {
                    "customer_id": customers[i // PER_CUSTOMER],
                    "name": f"s{i}",
                    "slug": f"s{i}",
                    "policy_id": policy.json()["id"],
                    "monthly_fee": "100.00",
                    "starts_at": "2025-01-01T00:00:00Z",
                }
                for i in range(monitors)
            ],
            concurrency,
        )
        timings["services_seconds"] = time.perf_counter() - mark
        mark = time.perf_counter()
        await post_all(
            client,
            "/api/v1/monitors",
            [
                {
                    "service_id": services[i],
                    "name": "home",
                    "kind": "http",
                    "target": target_of(i, targets),
                    "interval_seconds": interval,
                    "timeout_seconds": min(10, interval),
                    "locations": [location],
                }
                for i in range(monitors)
            ],
            concurrency,
        )
        timings["monitors_seconds"] = time.perf_counter() - mark
        total = time.perf_counter() - started
    return {
        "monitors": monitors,
        "concurrency": concurrency,
        "posts": 1 + len(customers) + 2 * monitors,
        **{k: round(v, 2) for k, v in timings.items()},
        "total_seconds": round(total, 2),
        "monitors_per_second": round(monitors / total, 1),
    }


def write_catalog(
    path: Path, monitors: int, interval: int, targets: list[str], location: str
) -> None:
    customers = []
    for c in range((monitors + PER_CUSTOMER - 1) // PER_CUSTOMER):
        ids = range(c * PER_CUSTOMER, min(monitors, (c + 1) * PER_CUSTOMER))
        customers.append(
            {
                "slug": f"c{c}",
                "name": f"Customer {c}",
                "services": [
                    {
                        "slug": f"s{i}",
                        "name": f"s{i}",
                        "policy": "bench",
                        "monthly_fee": "100.00",
                        "starts_at": "2025-01-01T00:00:00Z",
                        "monitors": [
                            {
                                "name": "home",
                                "kind": "http",
                                "target": target_of(i, targets),
                                "interval_seconds": interval,
                                "timeout_seconds": min(10, interval),
                                "locations": [location],
                            }
                        ],
                    }
                    for i in ids
                ],
            }
        )
    catalog = {
        "policies": [{"name": "bench", "target_percent": "99.9", "credit_tiers": TIERS}],
        "customers": customers,
    }
    path.write_text(yaml.safe_dump(catalog, sort_keys=False))


def time_apply(database_url: str, path: Path, folder: Path) -> dict[str, Any]:
    """``uptally apply -f`` on an empty, migrated database; seconds and exit status."""
    env = {"UPTALLY_DATABASE_URL": database_url}
    started = time.perf_counter()
    done = subprocess.run(
        uptally("apply", "-f", str(path)),
        cwd=folder,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        "exit_status": done.returncode,
        "file_bytes": path.stat().st_size,
        "error": done.stderr.strip().splitlines()[-3:] if done.returncode else None,
    }
