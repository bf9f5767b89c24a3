"""``uptally apply`` and ``uptally export``: the catalog as a file, straight against
the database at UPTALLY_DATABASE_URL (as ``uptally keys create``), with the API's rules.

Exit status: 0 done (or nothing to do); 1 the plan cannot be applied (a deletion the
API would refuse, a name several stored objects share, the database refused a write);
2 bad input (no such file, not YAML, a problem in the file, a bad setting).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError, IntegrityError

from app.catalog_io.apply import execute
from app.catalog_io.export import Ambiguous, document, dump
from app.catalog_io.load import CatalogFileError, read
from app.catalog_io.plan import Plan, make_plan, render, with_references
from app.catalog_io.stored import read_catalog, references
from app.catalog_io.validate import validate
from app.config import Settings
from app.db import make_engine, make_sessionmaker
from app.schemas.common import utc_now


def add_commands(commands: Any) -> None:
    """Register ``apply`` and ``export`` on the ``uptally`` command's subparsers."""
    apply = commands.add_parser(
        "apply",
        help="create or update the catalog declared in a YAML file (plan first)",
        description="Validate a catalog file with the API's rules, print the plan "
        "(create / update / delete per object, with the changed fields) and apply it in "
        "one transaction. Nothing is written when the file has any problem. Objects not "
        "in the file are kept unless --prune is given.",
    )
    apply.add_argument("-f", "--file", required=True, type=Path, help="the catalog YAML file")
    apply.add_argument(
        "--dry-run", action="store_true", help="print the plan and stop: write nothing"
    )
    apply.add_argument(
        "--prune",
        action="store_true",
        help="also delete stored objects the file does not declare (monitors with their "
        "results and timeline); refused, writing nothing, where the API would refuse",
    )
    apply.add_argument(
        "-v", "--verbose", action="store_true", help="list unchanged and kept objects too"
    )
    apply.set_defaults(func=cmd_apply)

    export = commands.add_parser(
        "export",
        help="write the stored catalog as a YAML file for `uptally apply`",
        description="Write every support calendar, SLA policy, customer, service, monitor "
        "and maintenance window in the catalog file format; applying it back changes nothing.",
    )
    export.add_argument("-o", "--output", type=Path, help="write to this file (default stdout)")
    export.set_defaults(func=cmd_export)


def _settings() -> Settings:
    from app.cli import _settings as settings

    return settings()


def cmd_apply(args: argparse.Namespace) -> int:
    settings = _settings()
    try:
        source = read(args.file)
    except CatalogFileError as exc:
        print(f"uptally: {exc}", file=sys.stderr)
        return 2
    validated = validate(source)
    if validated.problems:  # the file alone is wrong: say so before reading the database
        _problems(validated.problems, source.name, "the file")
        return 2
    try:
        return asyncio.run(
            _apply(
                settings.database_url,
                validated.declared,
                source.name,
                prune=args.prune,
                dry_run=args.dry_run,
                verbose=args.verbose,
                public_url=settings.public_url,
            )
        )
    except (DBAPIError, OSError) as exc:
        return _unusable(settings.database_url, exc)


def _unusable(url: str, exc: Exception) -> int:
    from app.cli import _safe_url

    reason = exc.orig if isinstance(exc, DBAPIError) else exc
    print(
        f"uptally: the database at {_safe_url(url)} cannot be used ({reason}); is it up, and "
        "migrated (`uptally db upgrade`)? Nothing was written.",
        file=sys.stderr,
    )
    return 1


async def _apply(
    database_url: str,
    declared: list[Any],
    name: str,
    *,
    prune: bool,
    dry_run: bool,
    verbose: bool,
    public_url: str | None,
) -> int:
    engine = make_engine(database_url)
    try:
        # One transaction from reading the stored catalog to the last write: what is
        # applied is what the plan was made from, and any failure writes nothing
        # (leaving the session without a commit rolls it back).
        async with make_sessionmaker(engine)() as session:
            stored = await read_catalog(session)
            for message in stored.unvalidated:
                print(f"warning: {message}", file=sys.stderr)
            now = utc_now()
            plan = make_plan(declared, stored.items, prune=prune, now=now)
            plan = with_references(plan, await references(session, plan.deletions()))
            code = _verdict(plan, name)
            if code:
                return code
            print("\n".join(render(plan, name, verbose=verbose)))
            if dry_run or not plan.writes:
                if dry_run and plan.writes:
                    print("Dry run: nothing was written.")
                return 0
            try:
                applied = await execute(
                    session, plan, now=now, recorded_by=f"apply:{Path(name).name}"
                )
                await session.commit()
            except IntegrityError as exc:
                print(
                    "uptally: the database refused the changes, so nothing was written: "
                    f"{exc.orig}",
                    file=sys.stderr,
                )
                return 1
    finally:
        await engine.dispose()
    print(
        f"Applied: {applied.created} created, {applied.updated} updated, {applied.deleted} deleted."
    )
    for monitor, path in applied.heartbeats:
        url = f"{public_url.rstrip('/')}{path}" if public_url else path
        print(f"{monitor}: ping {url}")
    if applied.heartbeats and not public_url:
        print("(ping paths are under the server's URL; set UPTALLY_PUBLIC_URL to print it)")
    if applied.monitors_changed:
        print(
            "A running server follows monitor changes within a minute (its scheduler re-reads "
            "the monitors every 60 s; agents on their next poll)."
        )
    return 0


def _verdict(plan: Plan, name: str) -> int:
    for warning in plan.warnings:
        print(f"warning: {warning.render(name)}", file=sys.stderr)
    if plan.problems:
        _problems(plan.problems, name, "the file")
        return 2
    if plan.refusals:
        for refusal in plan.refusals:
            print(f"uptally: refused: {refusal}", file=sys.stderr)
        print(f"uptally: {len(plan.refusals)} refusal(s): nothing was written", file=sys.stderr)
        return 1
    return 0


def _problems(problems: list[Any], name: str, where: str) -> None:
    for problem in sorted(problems, key=lambda p: p.line):
        print(problem.render(name), file=sys.stderr)
    print(f"uptally: {len(problems)} problem(s) in {where}: nothing was written", file=sys.stderr)


def cmd_export(args: argparse.Namespace) -> int:
    settings = _settings()
    try:
        text = asyncio.run(_export(settings.database_url))
    except Ambiguous as exc:
        print(f"uptally: cannot export: {exc}", file=sys.stderr)
        return 1
    except (DBAPIError, OSError) as exc:
        return _unusable(settings.database_url, exc)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    # Written whole or not at all: a file in version control never holds half a catalog.
    target: Path = args.output
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".uptally-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    print(f"wrote {target}", file=sys.stderr)
    return 0


async def _export(database_url: str) -> str:
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            stored = await read_catalog(session)
    finally:
        await engine.dispose()
    for message in stored.unvalidated:
        print(f"warning: {message}", file=sys.stderr)
    return dump(document(stored.items))
