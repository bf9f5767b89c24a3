"""Monthly support compliance (SLA_RULES.md section 8): met / evaluated, per clock,
overall and by priority. Pure: standard library only.

An incident counts in the month it was opened (the caller picks them) and is
*evaluated* on a clock once that clock's ``met`` is known: it stopped, or its target
passed. A clock without a target (no target for the priority) is never evaluated.
``passing`` compares the exact ratio with the target (never a rounded one); the
percentage is shown truncated to 4 decimals, like uptime, so a failing month never
shows a passing number. With nothing evaluated there is no percentage and no verdict.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import NamedTuple

from app.incidents.clocks import PRIORITIES
from app.sla.uptime import truncate


@dataclass(frozen=True, slots=True)
class Tally:
    evaluated: int
    met: int
    percent: str | None  # "95.2380", truncated
    passing: bool | None

    def as_dict(self) -> dict[str, object]:
        return {
            "evaluated": self.evaluated,
            "met": self.met,
            "percent": self.percent,
            "passing": self.passing,
        }


def tally(evaluated: int, met: int, target_percent: Decimal) -> Tally:
    if evaluated == 0:
        return Tally(0, 0, None, None)
    ratio = Fraction(met * 100, evaluated)
    return Tally(evaluated, met, truncate(ratio), ratio >= Fraction(target_percent))


class Met(NamedTuple):
    """One incident's verdicts: its priority and each clock's ``met`` (None: not yet
    evaluated)."""

    priority: str
    respond: bool | None
    resolve: bool | None


@dataclass(frozen=True, slots=True)
class PriorityCompliance:
    priority: str
    respond: Tally
    resolve: Tally


@dataclass(frozen=True, slots=True)
class Compliance:
    target_percent: Decimal
    respond: Tally
    resolve: Tally
    by_priority: tuple[PriorityCompliance, ...]  # P1..P4, always all four


def compliance(verdicts: Iterable[Met], target_percent: Decimal) -> Compliance:
    """Count the verdicts of a month's incidents against ``target_percent``."""
    # [respond evaluated, respond met, resolve evaluated, resolve met] per priority
    counts = {p: [0, 0, 0, 0] for p in PRIORITIES}
    for verdict in verdicts:
        row = counts.setdefault(verdict.priority, [0, 0, 0, 0])
        if verdict.respond is not None:
            row[0] += 1
            row[1] += verdict.respond
        if verdict.resolve is not None:
            row[2] += 1
            row[3] += verdict.resolve
    sums = [sum(row[i] for row in counts.values()) for i in range(4)]
    return Compliance(
        target_percent=target_percent,
        respond=tally(sums[0], sums[1], target_percent),
        resolve=tally(sums[2], sums[3], target_percent),
        by_priority=tuple(
            PriorityCompliance(
                p, tally(row[0], row[1], target_percent), tally(row[2], row[3], target_percent)
            )
            for p, row in counts.items()
            if p in PRIORITIES
        ),
    )
