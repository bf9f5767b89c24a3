"""``uptally status-link SLUG --days N``: a signed, expiring link to a customer's
private status page (app.status.links), to hand to the people who may see it."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from typing import Any

from app.status.links import MAX_DAYS, sign


def cmd_status_link(args: argparse.Namespace) -> int:
    from app.cli import _settings, on_database
    from app.status.document import find_customer

    settings = _settings()
    if settings.secret_key is None:
        print(
            "uptally: UPTALLY_SECRET_KEY is not set: links are signed with it, and the "
            "server must have the same value to accept them",
            file=sys.stderr,
        )
        return 2
    if not 1 <= args.days <= MAX_DAYS:
        print(f"uptally: --days must be 1 to {MAX_DAYS}, not {args.days}", file=sys.stderr)
        return 2

    customer = on_database(lambda session: find_customer(session, args.slug))
    if customer is None:
        print(f"uptally: no customer with slug {args.slug!r}", file=sys.stderr)
        return 2
    expires = int(time.time()) + args.days * 86_400
    token = sign(settings.secret_key.get_secret_value(), customer.slug, expires)
    base = (args.base_url or settings.public_url or "http://127.0.0.1:8000").rstrip("/")
    print(f"{base}/status/{customer.slug}?token={token}")
    until = datetime.fromtimestamp(expires, UTC).isoformat().replace("+00:00", "Z")
    note = "" if customer.private else "; the page is public anyway"
    print(f"(valid until {until}{note})", file=sys.stderr)
    return 0


def add_commands(commands: Any) -> None:
    link = commands.add_parser(
        "status-link",
        help="print a signed, expiring link to a customer's private status page",
        description="The link opens the page, its JSON, feed and badges (add the same "
        "?token= to those) until it expires. It is signed with UPTALLY_SECRET_KEY: "
        "changing that key revokes every link.",
    )
    link.add_argument("slug", help="the customer's slug")
    link.add_argument("--days", type=int, default=30, help="how long it works (default 30)")
    link.add_argument(
        "--base-url",
        help="the server's public address (default UPTALLY_PUBLIC_URL, else 127.0.0.1:8000)",
    )
    link.set_defaults(func=cmd_status_link)
