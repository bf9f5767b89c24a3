"""``uptally check``: one check now, with its timings, under a monitor's own rules
for target and options (what a support engineer runs while the customer is on the
phone)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from pydantic import ValidationError

from app.config import load_settings


def cmd_check(args: argparse.Namespace) -> int:
    from app.schemas.monitors import ALL_OPTIONS, KIND_OPTIONS, CheckOptions
    from probes.guard import AddressPolicy
    from probes.registry import ProbeContext, run_probe

    settings = load_settings()
    kind = args.kind or guess_kind(args.target)
    options: dict[str, object] = {}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep:
            print(f"uptally: --option {item!r}: expected KEY=VALUE", file=sys.stderr)
            return 2
        if key in CheckOptions.model_fields and key not in ALL_OPTIONS:
            print(f"uptally: --option {key}: not an option (use the argument)", file=sys.stderr)
            return 2
        if key not in ALL_OPTIONS:  # (one of another kind: the monitor rules say so below)
            known = ", ".join(sorted(KIND_OPTIONS[kind])) or "none"
            print(
                f"uptally: --option {key}: not an option of {kind} checks (they take: {known})",
                file=sys.stderr,
            )
            return 2
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    try:  # a monitor's rules for its target and options: clear errors, not a crash
        check = CheckOptions(kind=kind, target=args.target, timeout_seconds=args.timeout, **options)
    except ValidationError as exc:
        problems = "; ".join(
            "".join(f"{part}: " for part in e["loc"]) + e["msg"] for e in exc.errors()
        )
        print(f"uptally: {problems}", file=sys.stderr)
        return 2
    policy = AddressPolicy.from_settings(
        settings.allow_private_targets or args.allow_private, settings.allowed_target_cidrs
    )

    async def run() -> Any:
        probes = ProbeContext(policy=policy)
        try:
            return await run_probe(kind, check.target, check.options(), args.timeout, probes)
        finally:
            await probes.aclose()

    result = asyncio.run(run())
    verdict = "UP" if result.ok else "DOWN"
    if result.ok and result.warning:
        verdict = "UP (warning)"
    parts = [verdict, kind, check.target]
    if result.status_code:
        parts.append(str(result.status_code))
    if result.latency_ms is not None:
        parts.append(f"{result.latency_ms} ms")
    print("  ".join(parts))
    if result.timings:
        print("  " + " · ".join(f"{name} {ms:.1f} ms" for name, ms in result.timings.items()))
    for key, value in result.details.items():
        print(f"  {key}: {value}")
    if result.error:
        print(f"  error: {result.error}")
    if result.warning:
        print(f"  warning: {result.warning}")
    return 0 if result.ok else 1


def guess_kind(target: str) -> str:
    if target.startswith(("http://", "https://")):
        return "http"
    if (":" in target.strip("[]") and not target.count(":") > 1) or target.startswith("["):
        return "tcp"
    return "icmp"
