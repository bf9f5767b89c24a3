"""The ``uptally`` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from app.config import Settings

log = logging.getLogger("uptally")


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"UPTALLY_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        )
        raise SystemExit(f"uptally: bad setting: {problems}") from None


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.main import create_app
    from app.migrate import upgrade

    settings = _settings()
    log.info("bringing the schema up to date on %s", _safe_url(settings.database_url))
    upgrade(settings.database_url)
    if args.sample:
        asyncio.run(_seed_sample(settings))
    if settings.admin_token is None:
        log.warning(
            "UPTALLY_ADMIN_TOKEN is not set: create a key with "
            "'uptally keys create --scope admin' to use the API"
        )
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level=settings.log_level,
        proxy_headers=True,
    )
    return 0


async def _seed_sample(settings: Settings) -> None:
    from app.db import make_engine, make_sessionmaker, transaction
    from app.sample import seed_sample

    engine = make_engine(settings.database_url)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            await seed_sample(session)
    finally:
        await engine.dispose()


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from app.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url, args.revision)
    print(f"database at {_safe_url(settings.database_url)} is at revision {args.revision}")
    return 0


def cmd_keys_create(args: argparse.Namespace) -> int:
    from app.auth import Scope, create_key
    from app.db import make_engine, make_sessionmaker, transaction

    settings = _settings()

    async def run() -> str:
        engine = make_engine(settings.database_url)
        try:
            async with transaction(make_sessionmaker(engine)) as session:
                _, token = await create_key(
                    session, Scope(args.scope), customer_slug=args.customer, name=args.name
                )
                return token
        finally:
            await engine.dispose()

    try:
        token = asyncio.run(run())
    except ValueError as exc:
        print(f"uptally: {exc}", file=sys.stderr)
        return 2
    print(token)
    print(f"(a {args.scope} key; it is shown only this once)", file=sys.stderr)
    return 0


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="uptally",
        description="Uptime monitoring and exact SLA accounting for hosting providers. "
        "Settings come from UPTALLY_* environment variables (see README).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve", help="migrate the database, then run the API and the scheduler"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    serve.add_argument(
        "--sample",
        action="store_true",
        help="create a sample customer, policy, service and monitor if the database is empty",
    )
    serve.set_defaults(func=cmd_serve)

    db = commands.add_parser("db", help="database schema commands")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    up = db_commands.add_parser("upgrade", help="apply migrations up to a revision")
    up.add_argument("revision", nargs="?", default="head", help="target revision (default head)")
    up.set_defaults(func=cmd_db_upgrade)

    keys = commands.add_parser("keys", help="API keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="COMMAND")
    create = key_commands.add_parser(
        "create", help="create a key and print its token (shown only once)"
    )
    create.add_argument(
        "--scope",
        required=True,
        choices=["admin", "billing", "agent", "customer"],
        help="what the key may do",
    )
    create.add_argument("--customer", metavar="SLUG", help="the customer a customer key reads")
    create.add_argument("--name", default="", help="a label for the key")
    create.set_defaults(func=cmd_keys_create)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
