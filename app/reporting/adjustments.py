"""Adjustments of closed months: only late data moves them, under the frozen terms.

A closed month's statement never changes; what can is its ``adjustment``, the figures
as they would be now. Catalog edits after the close (a policy, a fee, a time zone, a
quorum, a monitor or a maintenance window) must not produce one, or billing would pay
for an edit. So:

- the folder notes, per statement, when results that change a closed month's timeline
  arrive after its close (``note_late_data``, in the fold's transaction); a catalog edit
  never goes through the dirty log, so it is never noted;
- only a noted statement gets an adjustment, recomputed from today's segments under
  the terms the statement froze (policy, fee, period, the service's life, its monitors
  with their quorum, its maintenance windows): ``frozen_month``. Monitors added after
  the close count with their current quorum; a deleted monitor has no data.
- The stored segments are folded under each monitor's current failure confirmations.
  A frozen monitor whose confirmations changed since the close is folded anew from its
  stored results under the frozen ones (``refold``), and results arriving for it are
  noted even when they move no stored segment (a failure that is a blip under today's
  setting may have counted under the frozen one).
- Format-1 statements froze no terms: once noted, they are recomputed under today's
  catalog, as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import CheckResult, ClosedMonth, LateData, Monitor, SlaPolicy, Statement
from app.reporting.compute import ServiceMonth
from app.reporting.load import load_segments, policy_from_fields
from app.reporting.statements import STATEMENT_FORMAT, adjustment, read_statement
from app.sla.intervals import Interval
from app.sla.periods import Month, month_period, to_epoch
from app.sla.timeline import (
    Observation,
    Segment,
    fold_location,
    monitor_states,
    service_states,
)
from app.sla.uptime import Maintenance, MonthFigures, MonthInput, evaluation_window, month_figures

CHUNK = 500
# A customer's month ends at most 14 h after (or before) the UTC month: anything later
# than a day past the latest closed UTC month, plus the widest downtime margin, cannot
# touch a closed month.
ZONE_REACH = 86_400


def frozen_month(
    content: Mapping[str, Any],
    quorums: Mapping[int, int],
    segments: Mapping[int, Mapping[str, list[Segment]]],
    now: int,
) -> MonthFigures:
    """A format-2 statement's month recomputed from ``segments`` under its frozen
    terms (pure). ``quorums`` are the monitors to combine (frozen, plus any added)."""
    terms = content["terms"]
    policy = policy_from_fields(terms["policy"])
    period = (content["period"][0], content["period"][1])
    window = evaluation_window(period, policy)
    states = service_states(
        [
            monitor_states(list(segments.get(m, {}).values()), quorum, window)
            for m, quorum in sorted(quorums.items())
        ],
        window,
    )
    return month_figures(
        MonthInput(
            period=period,
            policy=policy,
            monthly_fee=Decimal(terms["monthly_fee"]),
            starts_at=terms["service_starts_at"],
            ends_at=terms["service_ends_at"],
            states=states,
            maintenance=[Maintenance(*w) for w in terms["maintenance"]],
            now=now,
        )
    )


def frozen_confirmations(content: Mapping[str, Any]) -> dict[int, int]:
    """The failure confirmations a statement froze, by monitor id (none for statements
    closed before they were frozen)."""
    if content.get("format") != STATEMENT_FORMAT:
        return {}
    return {
        m["id"]: m["confirmations"] for m in content["terms"]["monitors"] if "confirmations" in m
    }


async def note_late_data(
    session: AsyncSession,
    changed: Mapping[int, int],
    now: int,
    arrived: Mapping[int, int] | None = None,
) -> int:
    """Note the closed statements whose month these fold changes reach
    (``monitor id -> earliest changed instant``), or results that arrived for it
    (``arrived``: monitor id -> earliest new result) for a monitor whose failure
    confirmations changed since the close. Returns the statements noted."""
    arrived = arrived or {}
    if not changed and not arrived:
        return 0
    # One round trip on every fold pass (the hot path).
    latest, margin = (
        await session.execute(
            select(
                select(func.max(ClosedMonth.month)).scalar_subquery(),
                select(func.max(SlaPolicy.min_downtime_seconds)).scalar_subquery(),
            )
        )
    ).one()
    if latest is None:
        return 0
    margin = margin or 0
    reach = month_period(Month.parse(latest), "UTC")[1] + ZONE_REACH + margin
    if min([*changed.values(), *arrived.values()]) >= reach:
        return 0  # the common case: live data, after every closed month
    earliest: dict[int, int] = {}
    ids = sorted({m for m, since in [*changed.items(), *arrived.items()] if since < reach})
    for i in range(0, len(ids), CHUNK):
        rows = await session.execute(
            select(Statement.id, Statement.content, Monitor.id, Monitor.failure_confirmations)
            .join(Monitor, Monitor.service_id == Statement.service_id)
            .where(Monitor.id.in_(ids[i : i + CHUNK]))
        )
        for statement_id, content, monitor_id, confirmations in rows:
            frozen = read_statement(content)
            instants = [changed[monitor_id]] if monitor_id in changed else []
            if (
                monitor_id in arrived
                and frozen_confirmations(content).get(monitor_id, confirmations) != confirmations
            ):
                instants.append(arrived[monitor_id])
            if not instants:
                continue
            since = min(instants)
            # A piece straddling the month's end is judged whole (SLA_RULES 4).
            tail = (
                int(content["terms"]["policy"]["min_downtime_seconds"])
                if frozen.format == STATEMENT_FORMAT
                else margin
            )
            if since < frozen.period[1] + tail:
                earliest[statement_id] = min(since, earliest.get(statement_id, since))
    if not earliest:
        return 0
    stored = {
        row.statement_id: row
        for row in await session.scalars(
            select(LateData).where(LateData.statement_id.in_(list(earliest)))
        )
    }
    for statement_id, since in earliest.items():
        row = stored.get(statement_id)
        if row is None:
            session.add(LateData(statement_id=statement_id, first_at=since, noted_at=now))
        elif since < row.first_at:
            row.first_at = since
    await session.flush()
    return len(earliest)


async def adjustments(
    session: AsyncSession,
    statements: Sequence[Statement],
    current: Mapping[int, ServiceMonth],
    now: datetime,
) -> dict[int, dict[str, Any] | None]:
    """Each statement's adjustment (by service id): None unless late data was noted
    for it, else its month recomputed under its frozen terms (format 2) or today's
    figures (``current``, format 1)."""
    out: dict[int, dict[str, Any] | None] = {s.service_id: None for s in statements}
    by_id = {s.id: s for s in statements}
    late: list[Statement] = []
    for i in range(0, len(by_id), CHUNK):
        chunk = list(by_id)[i : i + CHUNK]
        noted = await session.scalars(
            select(LateData.statement_id).where(LateData.statement_id.in_(chunk))
        )
        late += [by_id[statement_id] for statement_id in noted]
    if not late:
        return out
    quorums = await _quorums(session, late)
    spans = [
        evaluation_window(
            (s.content["period"][0], s.content["period"][1]),
            policy_from_fields(s.content["terms"]["policy"]),
        )
        for s in late
        if s.content.get("format") == STATEMENT_FORMAT
    ]
    segments: dict[int, dict[str, list[Segment]]] = {}
    if spans:
        span = (min(lo for lo, _ in spans), max(hi for _, hi in spans))
        monitor_ids = [m for s in late for m in quorums.get(s.service_id, {})]
        segments = await load_segments(session, monitor_ids, span)
        for monitor_id, confirmations in (await _changed_confirmations(session, late)).items():
            segments[monitor_id] = await refold(session, monitor_id, confirmations, span)
    at = to_epoch(now)
    for statement in late:
        frozen = read_statement(statement.content)
        if frozen.format == STATEMENT_FORMAT:
            figures = frozen_month(
                statement.content, quorums.get(statement.service_id, {}), segments, at
            )
        elif statement.service_id in current:
            figures = current[statement.service_id].figures
        else:
            continue
        out[statement.service_id] = adjustment(frozen, figures)
    return out


async def _quorums(
    session: AsyncSession, statements: Sequence[Statement]
) -> dict[int, dict[int, int]]:
    """Per service: the frozen monitors' quorums, plus monitors added since."""
    quorums: dict[int, dict[int, int]] = {}
    for statement in statements:
        if statement.content.get("format") == STATEMENT_FORMAT:
            frozen = statement.content["terms"]["monitors"]
            quorums[statement.service_id] = {m["id"]: m["quorum"] for m in frozen}
    service_ids = sorted(quorums)
    for i in range(0, len(service_ids), CHUNK):
        rows = await session.execute(
            select(Monitor.service_id, Monitor.id, Monitor.quorum).where(
                Monitor.service_id.in_(service_ids[i : i + CHUNK])
            )
        )
        for service_id, monitor_id, quorum in rows:
            quorums[service_id].setdefault(monitor_id, quorum)
    return quorums


async def _changed_confirmations(
    session: AsyncSession, statements: Sequence[Statement]
) -> dict[int, int]:
    """Frozen monitors (still there) whose failure confirmations changed since their
    statement: monitor id -> the frozen confirmations."""
    frozen: dict[int, int] = {}
    for statement in statements:
        frozen |= frozen_confirmations(statement.content)
    changed: dict[int, int] = {}
    ids = sorted(frozen)
    for i in range(0, len(ids), CHUNK):
        rows = await session.execute(
            select(Monitor.id, Monitor.failure_confirmations).where(
                Monitor.id.in_(ids[i : i + CHUNK])
            )
        )
        changed |= {m: frozen[m] for m, now in rows if now != frozen[m]}
    return changed


async def refold(
    session: AsyncSession, monitor_id: int, confirmations: int, span: Interval
) -> dict[str, list[Segment]]:
    """A monitor's segments overlapping ``span``, folded anew from its stored results
    under ``confirmations``. Per location it reads from the last success before the
    span (nothing before a success changes what follows) to the first success after it
    (a failure run inside the span may be confirmed by results after it)."""
    lo, hi = span
    mine = CheckResult.monitor_id == monitor_id
    locations = await session.scalars(
        select(CheckResult.location).where(mine, CheckResult.checked_at < hi).distinct()
    )
    found: dict[str, list[Segment]] = {}
    for location in sorted(locations):
        pair = (mine, CheckResult.location == location)
        first = await session.scalar(
            select(func.max(CheckResult.checked_at)).where(
                *pair, CheckResult.ok.is_(True), CheckResult.checked_at < lo
            )
        )
        last = await session.scalar(
            select(func.min(CheckResult.checked_at)).where(
                *pair, CheckResult.ok.is_(True), CheckResult.checked_at >= hi
            )
        )
        query = select(CheckResult.checked_at, CheckResult.ok, CheckResult.interval_seconds).where(
            *pair
        )
        if first is not None:
            query = query.where(CheckResult.checked_at >= first)
        if last is not None:
            query = query.where(CheckResult.checked_at <= last)
        observations = [Observation(*row) for row in await session.execute(query)]
        found[location] = [
            s for s in fold_location(observations, confirmations) if s.end > lo and s.start < hi
        ]
    return found
