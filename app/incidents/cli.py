"""``uptally incidents list|show|ack|resolve``: incidents for an operator at a
terminal, straight on the database (``UPTALLY_DATABASE_URL``), with the same rules as
the API (events in order, what the state allows). ``--json`` prints the API's
documents. An acknowledgement or resolution made here is recorded as made by
``cli:<user>``."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")
STATES = ("open", "acknowledged", "paused", "resolved")


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"[:100]
    except Exception:  # no user name in this environment
        return "cli"


def _run(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    from app.cli import _settings
    from app.db import make_engine, make_sessionmaker

    settings = _settings()

    async def run() -> T:
        engine = make_engine(settings.database_url)
        try:
            async with make_sessionmaker(engine)() as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _clock(clock: dict[str, Any]) -> str:
    if clock["target_minutes"] is None:
        return "no target"
    verdict = {True: "met", False: "MISSED", None: "running"}[clock["met"]]
    due = f", due {clock['due_at']}" if clock["due_at"] else ""
    return f"{clock['elapsed_seconds'] // 60}/{clock['target_minutes']} min {verdict}{due}"


def _line(doc: dict[str, Any]) -> str:
    return (
        f"#{doc['id']:<6} {doc['state']:<12} {doc['priority']}  service {doc['service_id']:<5} "
        f"opened {doc['opened_at']}  {doc['title']}\n"
        f"        respond: {_clock(doc['respond'])}; resolve: {_clock(doc['resolve'])}"
    )


def _print(docs: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print(json.dumps(docs if len(docs) != 1 else docs[0], indent=2))
        return
    for doc in docs:
        print(_line(doc))
        if "restore_seconds" in doc and doc["restore_seconds"] is not None:
            print(f"        restored after {doc['restore_seconds']} s")


def cmd_list(args: argparse.Namespace) -> int:
    from app.incidents.store import documents
    from app.models import Customer, Incident, Service

    async def work(session: AsyncSession) -> list[dict[str, Any]] | str:
        query = (
            select(Incident)
            .join(Service, Service.id == Incident.service_id)
            .order_by(Incident.opened_at, Incident.id)
        )
        if args.customer:
            customer_id = await session.scalar(
                select(Customer.id).where(Customer.slug == args.customer)
            )
            if customer_id is None:
                return f"no customer with slug {args.customer!r}"
            query = query.where(Service.customer_id == customer_id)
        if args.service:
            query = query.where(Incident.service_id == args.service)
        if args.state:
            query = query.where(Incident.state == args.state)
        elif not args.all:
            query = query.where(Incident.state != "resolved")
        rows = list(await session.scalars(query.limit(args.limit)))
        return await documents(session, rows, _now())

    found = _run(work)
    if isinstance(found, str):
        print(f"uptally: {found}", file=sys.stderr)
        return 2
    if not found and not args.json:
        print("no incidents", file=sys.stderr)
    _print(found, args.json)
    return 0


def _now() -> int:
    from app.sla.periods import to_epoch

    return to_epoch(datetime.now(UTC))


def cmd_show(args: argparse.Namespace) -> int:
    from app.incidents.store import documents
    from app.models import Incident

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        incident = await session.get(Incident, args.id)
        return await documents(session, [incident], _now()) if incident is not None else []

    found = _run(work)
    if not found:
        print(f"uptally: no incident {args.id}", file=sys.stderr)
        return 2
    [doc] = found
    if args.json:
        _print(found, True)
        return 0
    print(_line(doc))
    for event in doc["events"]:
        what = event["kind"] + (f" {event['priority']}" if event["priority"] else "")
        flags = " (public)" if event["public"] else ""
        flags += " (automatic)" if event["automatic"] else ""
        message = f": {event['message']}" if event["message"] else ""
        print(f"  {event['at']}  {what}{flags} by {event['actor']}{message}")
    return 0


def _record(kind: str) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        from app.incidents.store import Refused, add_event, check_event, documents, events_of
        from app.models import Incident
        from app.schemas.common import utc_now

        async def work(session: AsyncSession) -> list[dict[str, Any]] | str:
            if args.message is not None and not 1 <= len(args.message) <= 4000:
                return "--message must be 1 to 4,000 characters"
            incident = await session.get(Incident, args.id)
            if incident is None:
                return f"no incident {args.id}"
            now = utc_now()
            events = (await events_of(session, [incident.id])).get(incident.id, [])
            try:
                check_event(incident, events, kind, now, None)
            except Refused as refused:
                return f"incident {args.id}: {refused.reason}"
            add_event(
                session, incident, events, kind=kind, at=now, actor=_actor(), recorded_at=now,
                message=args.message,
            )  # fmt: skip
            await session.commit()
            return await documents(session, [incident], _now())

        found = _run(work)
        if isinstance(found, str):
            print(f"uptally: {found}", file=sys.stderr)
            return 1
        _print(found, args.json)
        return 0

    return command


def add_commands(commands: Any) -> None:
    incidents = commands.add_parser(
        "incidents",
        help="incidents: list, show, acknowledge, resolve",
        description="Incidents and their support clocks, straight on the database.",
    )
    sub = incidents.add_subparsers(dest="incidents_command", required=True, metavar="COMMAND")

    listing = sub.add_parser("list", help="incidents not resolved (or --all, --state)")
    listing.add_argument("--customer", metavar="SLUG", help="only this customer's")
    listing.add_argument("--service", type=int, metavar="ID", help="only this service's")
    listing.add_argument("--state", choices=STATES, help="only incidents in this state")
    listing.add_argument("--all", action="store_true", help="resolved ones too")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (100)")
    listing.add_argument("--json", action="store_true", help="the API's documents")
    listing.set_defaults(func=cmd_list)

    show = sub.add_parser("show", help="an incident, its clocks and its events")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true", help="the API's document")
    show.set_defaults(func=cmd_show)

    for name, kind, text in (
        ("ack", "acknowledge", "acknowledge (the provider's human response), now"),
        ("resolve", "resolve", "resolve, now"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument("id", type=int)
        command.add_argument("--message", "-m", help="a note kept with the event")
        command.add_argument("--json", action="store_true", help="the API's document")
        command.set_defaults(func=_record(kind))
