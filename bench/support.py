"""Support SLA benchmarks (issue 10): the business-time arithmetic and monthly
compliance.

(a) ``elapsed`` and ``due_at`` for a clock spanning 90 days (February to May 2025, over
    the spring DST change) on a Berlin calendar of 7 hours a day with a lunch break
    and 20 holidays, with 3 pauses; target < 1 ms. Measured cold (a fresh calendar
    object, so its four-week chunks are built by the call; the zone's offsets are
    cached per process, and the very first call of a process is reported too) and
    warm (the calendar's chunks cached, as when a month's incidents share it).
(b) compliance for 1,000 customers x 100 incidents in a month (100,000 incidents,
    about 350,000 events: acknowledgements, pauses, priority changes, reopens) on four
    calendars (24/7 and three business calendars in different zones): the pure path,
    replaying every incident's events and measuring both clocks; target < 1 s.
(c) ``month_support`` from the database (SQLite and PostgreSQL) for customers of 100
    incidents each: per-customer p50 / p99.

    .venv/bin/python -m bench.support [--db sqlite postgresql] [--skip-db]

Results go to bench/results/support.json and bench/results/support.md (quoted in README).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import make_url

from app.db import make_engine, make_sessionmaker, transaction
from app.incidents.clocks import PRIORITIES, Event, Target, replay, verdicts
from app.incidents.compliance import Met, compliance
from app.incidents.report import month_support
from app.migrate import upgrade
from app.models import Customer, Incident, IncidentEvent, Service, SupportCalendar
from app.sample import standard_policy
from app.sla.business_time import due_at, elapsed
from app.sla.calendars import Calendar
from app.sla.periods import Month, from_epoch, month_period
from bench.reads import _admin, percentile
from bench.run import PG_SERVER

RESULTS = Path(__file__).parent / "results"
BERLIN = "Europe/Berlin"
WORKDAYS = ("mon", "tue", "wed", "thu", "fri")
LUNCH = [["09:00", "12:00"], ["13:00", "17:00"]]
MONTH = Month(2025, 6)


def berlin_calendar(holidays: list[str]) -> Calendar:
    return Calendar.parse(BERLIN, {day: LUNCH for day in WORKDAYS}, holidays)


def twenty_holidays() -> list[str]:
    """20 weekdays between February and May 2025 (every fourth one)."""
    days, day = [], date(2025, 2, 3)
    while len(days) < 20:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=4)
    return [d.isoformat() for d in days]


def timed(function: Any, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        out.append(time.perf_counter() - started)
    return out


def bench_business_time() -> dict[str, Any]:
    holidays = twenty_holidays()
    start = int(datetime(2025, 2, 1, tzinfo=UTC).timestamp())
    stop = start + 90 * 86_400
    pauses = [(start + d * 86_400, start + d * 86_400 + 6 * 3600) for d in (10, 40, 70)]
    first = berlin_calendar(holidays)
    began = time.perf_counter()
    seconds = elapsed(first, start, stop, pauses)
    first_call = time.perf_counter() - began
    target = seconds  # the due date of everything the clock counted: the far end
    due = due_at(first, start, target, pauses)
    assert due is not None and elapsed(first, start, due, pauses) == target
    fresh = [berlin_calendar(holidays) for _ in range(300)]
    it = iter(fresh)
    cold_elapsed = timed(lambda: elapsed(next(it), start, stop, pauses), 150)
    cold_due = timed(lambda: due_at(next(it), start, target, pauses), 150)
    warm_elapsed = timed(lambda: elapsed(first, start, stop, pauses), 5000)
    warm_due = timed(lambda: due_at(first, start, target, pauses), 5000)

    def ms(values: list[float]) -> dict[str, float]:
        return {
            "p50_ms": round(statistics.median(values) * 1e3, 4),
            "p90_ms": round(percentile(values, 0.90) * 1e3, 4),
            "p99_ms": round(percentile(values, 0.99) * 1e3, 4),
        }

    return {
        "business_hours_counted": seconds / 3600,
        "first_call_of_process_ms": round(first_call * 1e3, 3),
        "elapsed_cold": ms(cold_elapsed),
        "due_cold": ms(cold_due),
        "elapsed_warm": ms(warm_elapsed),
        "due_warm": ms(warm_due),
    }


# --- (b) compliance ---------------------------------------------------------------------


def calendars() -> list[Calendar | None]:
    return [
        None,
        berlin_calendar(["2025-06-09", "2025-06-19"]),
        Calendar.parse("America/New_York", {d: [["08:00", "18:00"]] for d in WORKDAYS}),
        Calendar.parse("Asia/Tokyo", {d: [["09:00", "17:30"]] for d in (*WORKDAYS, "sat")}),
    ]


def contracts(cals: list[Calendar | None]) -> list[dict[str, Target]]:
    """Four contracts, one per calendar; P1 always 24/7."""
    return [
        {
            "P1": Target(15, 240),
            "P2": Target(60, 480, cal),
            "P3": Target(240, 1440, cal),
            "P4": Target(480, 2880, cal),
        }
        for cal in cals
    ]


def history(rng: random.Random, opened: int) -> tuple[str, list[Event]]:
    """An incident's events: mostly acknowledged and resolved, some paused, some
    reprioritised, a few reopened, a few still open."""
    priority = rng.choice(PRIORITIES)
    at, events = opened, []

    def later(seconds: int) -> int:
        nonlocal at
        at += rng.randrange(1, seconds)
        return at

    if rng.random() < 0.1:
        events.append(Event("priority", later(1800), rng.choice(PRIORITIES)))
    if rng.random() < 0.95:
        events.append(Event("acknowledge", later(4 * 3600)))
    if rng.random() < 0.3:
        events.append(Event("pause", later(3 * 3600)))
        events.append(Event("resume", later(24 * 3600)))
    if rng.random() < 0.9:
        events.append(Event("resolve", later(48 * 3600)))
        if rng.random() < 0.05:
            events.append(Event("reopen", later(24 * 3600)))
            events.append(Event("resolve", later(24 * 3600)))
    return priority, events


def bench_compliance(customers: int = 1000, per_customer: int = 100) -> dict[str, Any]:
    rng = random.Random(10)
    start, end = month_period(MONTH, "UTC")
    cals = calendars()
    terms = contracts(cals)
    book = []
    for c in range(customers):
        incidents = []
        for _ in range(per_customer):
            opened = rng.randrange(start, end)
            priority, events = history(rng, opened)
            incidents.append((opened, priority, events))
        book.append((terms[c % len(terms)], incidents))
    events_total = sum(len(e) for _, incs in book for _, _, e in incs)
    now = end + 7 * 86_400

    def run() -> int:
        evaluated = 0
        for targets, incidents in book:
            found = []
            for opened, priority, events in incidents:
                folded = replay(opened, priority, events)
                respond, resolve = verdicts(opened, folded, targets[folded.priority], now)
                found.append(Met(folded.priority, respond, resolve))
            evaluated += compliance(found, Decimal("95")).respond.evaluated
        return evaluated

    run()  # calendars' chunks built once, as a long-running server would have them
    times, cpu = [], []
    for _ in range(5):
        began, began_cpu = time.perf_counter(), time.process_time()
        run()
        times.append(time.perf_counter() - began)
        cpu.append(time.process_time() - began_cpu)
    return {
        "customers": customers,
        "incidents": customers * per_customer,
        "events": events_total,
        "seconds_p50": round(statistics.median(times), 3),
        "seconds_min": round(min(times), 3),
        # CPU time of this process: what other work on the machine does not inflate
        "cpu_seconds_p50": round(statistics.median(cpu), 3),
    }


# --- (c) from the database ----------------------------------------------------------------


async def seed(url: str, customers: int, per_customer: int) -> list[int]:
    rng = random.Random(11)
    start, end = month_period(MONTH, "UTC")
    now = datetime.now(UTC)
    engine = make_engine(url)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            calendar = SupportCalendar(
                name="office", timezone=BERLIN, hours={d: LUNCH for d in WORKDAYS},
                holidays=["2025-06-09"], created_at=now,
            )  # fmt: skip
            session.add(calendar)
            await session.flush()
            policy = standard_policy(now)
            policy.support_targets = [
                {"priority": "P1", "respond_minutes": 15, "resolve_minutes": 240,
                 "calendar_id": None},
                *({"priority": p, "respond_minutes": 120, "resolve_minutes": 960,
                   "calendar_id": calendar.id} for p in ("P2", "P3", "P4")),
            ]  # fmt: skip
            session.add(policy)
            await session.flush()
            ids = []
            for c in range(customers):
                customer = Customer(slug=f"c{c}", name=f"C{c}", timezone="UTC", created_at=now)
                service = Service(
                    customer=customer, policy_id=policy.id, name="web", slug="web",
                    monthly_fee=Decimal(100), currency="EUR", starts_at=now, created_at=now,
                )  # fmt: skip
                session.add_all([customer, service])
                await session.flush()
                ids.append(customer.id)
                rows, event_rows = [], []
                for _ in range(per_customer):
                    opened = rng.randrange(start, end)
                    priority, events = history(rng, opened)
                    rows.append((opened, priority, events))
                incidents = []
                for opened, priority, _ in rows:
                    incidents.append(
                        {"service_id": service.id, "title": "t", "priority": priority,
                         "opened_priority": priority, "source": "operator", "state": "open",
                         "opened_at": from_epoch(opened), "keep_open": False,
                         "imported": True, "opened_by": "bench", "created_at": now}
                    )  # fmt: skip
                inserted = await session.execute(insert(Incident).returning(Incident.id), incidents)
                for ident, (_, _, events) in zip(inserted.scalars(), rows, strict=True):
                    for e in events:
                        event_rows.append(
                            {"incident_id": ident, "kind": e.kind, "at": from_epoch(e.at),
                             "priority": e.priority, "public": False, "automatic": False,
                             "imported": True, "actor": "bench", "recorded_at": now}
                        )  # fmt: skip
                if event_rows:
                    await session.execute(insert(IncidentEvent), event_rows)
            return ids
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def fresh_database(kind: str) -> AsyncIterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite+aiosqlite:///{folder}/support.db"
        return
    name = f"uptally_support_{uuid.uuid4().hex[:8]}"
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_SERVER).set(database=name).render_as_string(hide_password=False)
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def bench_database(kind: str, customers: int = 30, per_customer: int = 100) -> dict[str, Any]:
    async with fresh_database(kind) as url:
        await asyncio.to_thread(upgrade, url)
        ids = await seed(url, customers, per_customer)
        engine = make_engine(url)
        try:
            sessions = make_sessionmaker(engine)
            now = datetime.now(UTC)
            times = []
            for ident in ids * 2:  # the second round: a warm connection pool
                async with sessions() as session:
                    began = time.perf_counter()
                    found = await month_support(session, ident, MONTH, now)
                    times.append(time.perf_counter() - began)
                    assert found.compliance.respond.evaluated > 0
            times = times[len(ids) :]
        finally:
            await engine.dispose()
    return {
        "customers": customers,
        "incidents_per_customer": per_customer,
        "p50_ms": round(statistics.median(times) * 1e3, 2),
        "p99_ms": round(percentile(times, 0.99) * 1e3, 2),
    }


def report(results: dict[str, Any]) -> str:
    bt, co = results["business_time"], results["compliance"]
    lines = [
        f"Measured {results['measured_at']} on {results['machine']}.",
        "",
        "Business time, a 90-day clock (Berlin, 7 h a day with lunch, 20 holidays, 3 pauses,",
        f"over the spring DST change; {bt['business_hours_counted']:g} business hours):",
        "",
        "| call | cold p50 / p90 / p99 | warm p50 / p90 / p99 |",
        "| --- | --- | --- |",
        *(
            f"| {name} | {cold['p50_ms']} / {cold['p90_ms']} / {cold['p99_ms']} ms "
            f"| {warm['p50_ms']} / {warm['p90_ms']} / {warm['p99_ms']} ms |"
            for name, cold, warm in (
                ("elapsed", bt["elapsed_cold"], bt["elapsed_warm"]),
                ("due_at", bt["due_cold"], bt["due_warm"]),
            )
        ),
        "",
        f"First call of a process (the zone's offsets not yet cached): "
        f"{bt['first_call_of_process_ms']} ms. Target < 1 ms.",
        "",
        f"Compliance, pure path: {co['customers']:,} customers x "
        f"{co['incidents'] // co['customers']} incidents ({co['incidents']:,} incidents, "
        f"{co['events']:,} events): {co['seconds_p50']} s (p50 of 5; best "
        f"{co['seconds_min']} s; CPU time p50 {co['cpu_seconds_p50']} s). Target < 1 s.",
    ]
    if results.get("database"):
        lines += [
            "",
            "`month_support` from the database, per customer of 100 incidents:",
            "",
            "| database | p50 | p99 |",
            "| --- | --- | --- |",
            *(
                f"| {kind} | {r['p50_ms']} ms | {r['p99_ms']} ms |"
                for kind, r in results["database"].items()
            ),
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--skip-db", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "measured_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f} at the start",
        "business_time": bench_business_time(),
        "compliance": bench_compliance(),
        "database": {},
    }
    if not args.skip_db:
        for kind in args.db:
            results["database"][kind] = asyncio.run(bench_database(kind))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "support.json").write_text(json.dumps(results, indent=2) + "\n")
    text = report(results)
    (RESULTS / "support.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
