"""``uptally keys create|list|revoke|rotate``: API keys at a terminal, straight on the
database (app.auth holds the keys themselves)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from app.cli import on_database
from app.sla.periods import to_epoch, utc_text


def _print_token(token: str, scope: str, what: str) -> None:
    print(token)
    article = "an" if scope[0] in "aeiou" else "a"
    print(f"({article} {scope} key{what}; it is shown only this once)", file=sys.stderr)


def cmd_keys_create(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from app.auth import Scope, create_key, now_utc

    if args.expires_in_days is not None and args.expires_in_days < 1:
        print("uptally: --expires-in-days must be 1 or more", file=sys.stderr)
        return 2
    now = now_utc()
    expires = now + timedelta(days=args.expires_in_days) if args.expires_in_days else None

    async def work(session: Any) -> str:
        _, token = await create_key(
            session,
            Scope(args.scope),
            customer_slug=args.customer,
            name=args.name,
            locations=args.location,
            expires_at=expires,
            now=now,
        )
        return token

    try:
        token = on_database(work)
    except ValueError as exc:
        print(f"uptally: {exc}", file=sys.stderr)
        return 2
    bound = f" for {', '.join(sorted(set(args.location)))}" if args.location else ""
    until = f", valid until {_instant(expires)}" if expires else ""
    _print_token(token, args.scope, bound + until)
    return 0


def _instant(moment: datetime | None) -> str:
    return utc_text(to_epoch(moment)) if moment else "-"


def cmd_keys_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from app.auth import key_state, now_utc
    from app.models import ApiKey, Customer

    now = now_utc()

    async def work(session: Any) -> list[dict[str, Any]]:
        rows = await session.execute(
            select(ApiKey, Customer.slug)
            .outerjoin(Customer, Customer.id == ApiKey.customer_id)
            .order_by(ApiKey.id)
        )
        keys = []
        for key, customer in rows:
            state = key_state(key, now)
            if args.all or state == "active":
                keys.append(
                    {
                        "id": key.id,
                        "prefix": key.token_prefix,
                        "scope": key.scope,
                        "state": state,
                        "name": key.name,
                        "customer": customer,
                        "locations": key.locations,
                        "created_at": _instant(key.created_at),
                        "last_used_at": _instant(key.last_used_at) if key.last_used_at else None,
                        "expires_at": _instant(key.expires_at) if key.expires_at else None,
                        "revoked_at": _instant(key.revoked_at) if key.revoked_at else None,
                    }
                )
        return keys

    keys = on_database(work)
    if args.json:
        print(json.dumps(keys, indent=2))
        return 0
    columns = ("id", "prefix", "scope", "state", "name", "for", "last used", "expires")
    rows = [
        (
            str(key["id"]),
            key["prefix"],
            key["scope"],
            key["state"],
            key["name"] or "-",
            key["customer"] or ",".join(key["locations"]) or "-",
            key["last_used_at"] or "never",
            key["expires_at"] or "never",
        )
        for key in keys
    ]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    for row in [columns, *rows]:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    if not args.all:
        print("(active keys; --all shows revoked and expired ones too)", file=sys.stderr)
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    from app.auth import find_key, now_utc, revoke

    now = now_utc()

    async def work(session: Any) -> list[str]:
        lines = []
        for ident in args.key:
            key = await find_key(session, ident)
            if revoke(key, now):
                lines.append(f"revoked key {key.id} ({key.token_prefix}..., {key.scope})")
            else:
                lines.append(f"key {key.id} was revoked already, at {_instant(key.revoked_at)}")
        return lines

    try:
        lines = on_database(work)
    except ValueError as exc:  # nothing revoked: one transaction
        print(f"uptally: {exc}; nothing was revoked", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    from app.auth import find_key, rotate_key

    async def work(session: Any) -> tuple[str, str, str]:
        key = await find_key(session, args.key)
        new, token = await rotate_key(session, key, grace_seconds=args.grace)
        fate = (
            f"key {key.id} expires at {_instant(key.expires_at)}"
            if args.grace
            else f"key {key.id} is revoked"
        )
        return token, new.scope, f" (key {new.id}) replacing key {key.id}; {fate}"

    try:
        token, scope, what = on_database(work)
    except ValueError as exc:
        print(f"uptally: {exc}", file=sys.stderr)
        return 2
    _print_token(token, scope, what)
    return 0


def add_commands(commands: Any) -> None:
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
    create.add_argument(
        "--location",
        action="extend",
        nargs="+",
        default=[],
        metavar="NAME",
        help="the location(s) an agent key probes for (required for agent keys; repeat or "
        "list several): it reads their monitors and pushes their results, no other's",
    )
    create.add_argument("--name", default="", help="a label for the key")
    create.add_argument(
        "--expires-in-days",
        type=int,
        metavar="DAYS",
        help="refuse the key after this many days (default: never)",
    )
    create.set_defaults(func=cmd_keys_create)

    listing = key_commands.add_parser(
        "list", help="the keys: id, prefix, scope, state, name, last use, expiry"
    )
    listing.add_argument("--all", action="store_true", help="revoked and expired keys too")
    listing.add_argument("--json", action="store_true", help="as JSON")
    listing.set_defaults(func=cmd_keys_list)

    revoke = key_commands.add_parser(
        "revoke", help="revoke keys now: every server refuses them from the next request on"
    )
    revoke.add_argument("key", nargs="+", help="a key's id, or its prefix as listed (upt_...)")
    revoke.set_defaults(func=cmd_keys_revoke)

    rotate = key_commands.add_parser(
        "rotate",
        help="a new key in an old one's place (same scope, customer, locations, name); "
        "prints the new token",
    )
    rotate.add_argument("key", help="the key's id, or its prefix as listed (upt_...)")
    rotate.add_argument(
        "--grace",
        type=int,
        default=0,
        metavar="SECONDS",
        help="keep the old key working this long (default 0: revoked at once)",
    )
    rotate.set_defaults(func=cmd_keys_rotate)
