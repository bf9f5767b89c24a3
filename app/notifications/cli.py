"""``uptally notify test URL``: send a test message to an Apprise URL now, through the
same sending code as the delivery loop, and say whether it arrived (exit 0) or what
went wrong (exit 1). A URL Apprise cannot use is exit 2."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from app.notifications.channels import mask, url_problem
from app.notifications.sender import send_now


def cmd_notify_test(args: argparse.Namespace) -> int:
    problem = url_problem(args.url)
    if problem is not None:
        print(f"uptally: {mask(args.url)}: {problem}", file=sys.stderr)
        return 2
    error = send_now(
        args.url,
        "Uptally test notification",
        "This is a test message from Uptally: this channel works.",
        "info",
        args.timeout,
    )
    if error is not None:
        print(f"not delivered to {mask(args.url)}: {error}", file=sys.stderr)
        return 1
    print(f"delivered to {mask(args.url)}")
    return 0


def add_commands(commands: Any) -> None:
    """Register ``notify`` on the ``uptally`` command's subparsers."""
    notify = commands.add_parser("notify", help="notifications")
    notify_commands = notify.add_subparsers(dest="notify_command", required=True, metavar="COMMAND")
    test = notify_commands.add_parser("test", help="send a test message to an Apprise URL")
    test.add_argument("url", help="an Apprise URL, e.g. json://hooks.example.com/uptally")
    test.add_argument(
        "--timeout", type=float, default=15.0, help="seconds to wait for it (default 15)"
    )
    test.set_defaults(func=cmd_notify_test)
