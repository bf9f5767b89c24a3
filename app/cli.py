"""The ``uptally`` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app import gc_tuning
from app.check_cli import cmd_check, guess_kind
from app.config import BadSetting, Settings, load_settings, unknown_variables

log = logging.getLogger("uptally")

__all__ = ["build_parser", "cmd_check", "guess_kind", "main", "on_database"]

# Commands that use the database, and of those the ones that need it to exist already
# (checked first: no empty SQLite file is left behind, one line says what to do).
DATABASE_COMMANDS = {"db", "keys", "apply", "export", "incidents", "status-link"}
NEEDS_EXISTING_DATABASE = {"keys", "incidents", "status-link"}
REQUESTS_GRACE_SECONDS = 3  # how long `serve` lets requests in flight finish on a stop


def _settings() -> Settings:
    return load_settings()


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.loop import loop_name
    from app.main import create_app
    from app.migrate import upgrade
    from app.preflight import DatabaseProblem, unusable

    settings = _settings()
    log.info("bringing the schema up to date on %s", _safe_url(settings.database_url))
    try:
        upgrade(settings.database_url)
    except Exception as exc:
        line = unusable(settings.database_url, exc)
        if line is None:
            raise
        raise DatabaseProblem(line) from None
    if args.sample:
        asyncio.run(_seed_sample(settings))
    if settings.admin_token is None:
        log.warning(
            "UPTALLY_ADMIN_TOKEN is not set: create a key with "
            "'uptally keys create --scope admin' to use the API"
        )
    app = create_app(settings)
    gc_tuning.tune()
    gc_tuning.freeze_startup()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=settings.log_level,
        # Uvicorn's own lines go through the handler app.logs installed (text or JSON).
        log_config=None,
        proxy_headers=True,
        loop=loop_name(settings.uvloop),  # app.loop: uvloop unless UPTALLY_UVLOOP=false
        # Requests still running then are cancelled: a stop must not wait for a report
        # over every service (seconds at 100,000), only checks in flight get longer.
        timeout_graceful_shutdown=REQUESTS_GRACE_SECONDS,
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


def on_database(work: Any) -> Any:
    """Run ``work(session)`` in one transaction on ``UPTALLY_DATABASE_URL`` (for the
    commands that read or write the catalog directly)."""
    from app.db import make_engine, make_sessionmaker, transaction

    settings = _settings()

    async def run() -> Any:
        engine = make_engine(settings.database_url)
        try:
            async with transaction(make_sessionmaker(engine)) as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def cmd_agent(args: argparse.Namespace) -> int:
    from app.agent import run_agent
    from app.agent.metrics import listen_address
    from app.agent.state import (
        AgentSetupError,
        agent_token,
        prepare_buffer,
        private_file,
        state_directory,
        too_open,
    )
    from app.loop import install as install_loop
    from probes.guard import AddressPolicy

    settings = _settings()
    try:
        index, count = (int(part) for part in args.shard.split("/"))
        if not 0 <= index < count:
            raise ValueError
    except ValueError:
        print(f"uptally: --shard {args.shard!r}: expected K/N with 0 <= K < N", file=sys.stderr)
        return 2
    try:
        metrics = listen_address(args.metrics_listen) if args.metrics_listen else None
    except ValueError as exc:
        print(f"uptally: --metrics-listen: {exc}", file=sys.stderr)
        return 2
    try:
        token, source = agent_token(args.token, args.token_file, os.environ)
        if args.buffer:
            buffer = private_file(Path(args.buffer))
        else:
            buffer = prepare_buffer(state_directory(args.state_dir, os.environ), args.location)
    except AgentSetupError as exc:
        print(f"uptally: {exc}", file=sys.stderr)
        return 2
    if source == "--token":
        log.warning(
            "the token given with --token is visible to every local user (ps); "
            "prefer UPTALLY_AGENT_TOKEN or --token-file"
        )
    elif args.token_file and too_open(Path(args.token_file)):
        log.warning("%s may be read by other users: chmod 600 it", args.token_file)
    legacy = Path(f"uptally-agent-{args.location}.db")
    if not args.buffer and legacy.exists():
        log.warning(
            "%s (an older agent's buffer in the working directory) is not read any more: "
            "run once with --buffer %s to send what it holds, then delete it",
            legacy.resolve(),
            legacy,
        )
    policy = AddressPolicy.from_settings(
        settings.allow_private_targets or args.allow_private, settings.allowed_target_cidrs
    )
    install_loop(settings.uvloop)  # app.loop: uvloop unless UPTALLY_UVLOOP=false
    gc_tuning.tune()
    gc_tuning.freeze_startup()
    try:
        run_agent(
            args.server,
            token,
            args.location,
            buffer,
            policy,
            args.poll,
            (index, count),
            args.spread,
            metrics_listen=metrics,
        )
    except AgentSetupError as exc:
        print(f"uptally: {exc}", file=sys.stderr)
        return 2
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

    from app.keys_cli import add_commands as add_key_commands

    add_key_commands(commands)  # keys create, list, revoke, rotate

    agent = commands.add_parser(
        "agent", help="probe one location's monitors and push results to a server"
    )
    agent.add_argument(
        "--server", required=True, help="the Uptally server, e.g. https://uptally.example"
    )
    agent.add_argument(
        "--token",
        help="the agent key (visible to local users in ps: prefer UPTALLY_AGENT_TOKEN "
        "or --token-file)",
    )
    agent.add_argument(
        "--token-file",
        metavar="PATH",
        help="read the agent key from this file (default: the UPTALLY_AGENT_TOKEN "
        "variable); create one with 'uptally keys create --scope agent --location NAME'",
    )
    agent.add_argument("--location", required=True, help="the location this agent probes from")
    agent.add_argument(
        "--state-dir",
        metavar="DIR",
        help="where the results buffer is kept, created 0700 (default $STATE_DIRECTORY, "
        "else $XDG_STATE_HOME/uptally, else ~/.local/state/uptally)",
    )
    agent.add_argument(
        "--buffer", metavar="FILE", help="the results buffer file itself (overrides --state-dir)"
    )
    agent.add_argument("--poll", type=float, default=30.0, help="seconds between assignment polls")
    agent.add_argument("--shard", default="0/1", help="K/N: probe monitors with id %% N == K")
    agent.add_argument(
        "--spread",
        type=float,
        default=None,
        help="spread first checks over at most this many seconds (default: each interval)",
    )
    agent.add_argument(
        "--allow-private",
        action="store_true",
        help="allow loopback and private targets (like UPTALLY_ALLOW_PRIVATE_TARGETS)",
    )
    agent.add_argument(
        "--metrics-listen",
        metavar="HOST:PORT",
        help="serve the agent's Prometheus metrics (checks, shed, lag, buffer, last send "
        "and poll) at http://HOST:PORT/metrics (default: off)",
    )
    agent.set_defaults(func=cmd_agent)

    check = commands.add_parser(
        "check", help="check one target now and print the verdict with phase timings"
    )
    check.add_argument("target", help="URL, host:port, or host")
    check.add_argument(
        "--kind",
        choices=["http", "tcp", "dns", "tls", "icmp"],
        help="default: http for URLs, tcp for host:port, else icmp",
    )
    check.add_argument("--timeout", type=int, default=10, help="seconds (default 10)")
    check.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a monitor option, e.g. keyword=Welcome or expected_status=[200]",
    )
    check.add_argument(
        "--allow-private", action="store_true", help="allow loopback and private targets"
    )
    check.set_defaults(func=cmd_check)

    from app.catalog_io.cli import add_commands as add_catalog_commands

    add_catalog_commands(commands)  # apply, export: configuration as code

    from app.status.cli import add_commands as add_status_commands

    add_status_commands(commands)  # status-link

    from app.notifications.cli import add_commands as add_notify_commands

    add_notify_commands(commands)  # notify test

    from app.incidents.cli import add_commands as add_incident_commands

    add_incident_commands(commands)  # incidents list|show|ack|resolve
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from app.logs import configure_logging
    from app.preflight import DatabaseProblem, require_database, unusable

    args = build_parser().parse_args(argv)
    try:
        settings = _settings()
    except BadSetting as exc:
        print(f"uptally: bad setting: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    for warning in unknown_variables(os.environ):
        log.warning(warning)
    try:
        if args.command in NEEDS_EXISTING_DATABASE:
            require_database(settings.database_url)
        code: int = args.func(args)
    except BadSetting as exc:
        print(f"uptally: bad setting: {exc}", file=sys.stderr)
        return 2
    except DatabaseProblem as exc:
        print(f"uptally: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        line = unusable(settings.database_url, exc) if args.command in DATABASE_COMMANDS else None
        if line is None:
            raise
        print(f"uptally: {line}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    raise SystemExit(main())
