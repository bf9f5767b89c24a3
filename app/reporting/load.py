"""Loading stored state for reports: services, their contracts, and the segments,
monitors and maintenance windows overlapping a span of time.

A span's state for any number of services is four queries and a handful of rows per
monitor, never the raw results. Core queries only (no ORM objects): a month's credits
load thousands of services.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache, partial
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    bindparam,
    func,
    literal,
    literal_column,
    select,
    true,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import batches
from app.models import Customer, LocationSegment, MaintenanceWindow, Monitor, Service, SlaPolicy
from app.sla.intervals import Interval
from app.sla.periods import from_epoch, to_epoch
from app.sla.policy import (
    CreditFormula,
    CreditTier,
    ExistencePolicy,
    MaintenancePolicy,
    NoDataPolicy,
    Policy,
)
from app.sla.timeline import Segment
from app.sla.uptime import Maintenance

# Past this many services, filter in Python rather than send a huge IN list.
MANY_SERVICES = 500
POLICY_FIELDS = tuple(Policy.__dataclass_fields__)


def policy_from_fields(fields: Mapping[str, Any]) -> Policy:
    """A policy from its fields by name: a stored policy's columns, or the terms a
    statement froze (decimals and enums as strings there)."""
    return Policy(
        target_percent=Decimal(fields["target_percent"]),
        credit_tiers=tuple(
            CreditTier(
                Decimal(t["from_percent"]), Decimal(t["to_percent"]), Decimal(t["credit_percent"])
            )
            for t in fields["credit_tiers"]
        ),
        credit_formula=CreditFormula(fields["credit_formula"]),
        hourly_multiplier=Decimal(fields["hourly_multiplier"]),
        percent_per_hour=Decimal(fields["percent_per_hour"]),
        credit_cap_percent=Decimal(fields["credit_cap_percent"]),
        min_credit_amount=Decimal(fields["min_credit_amount"]),
        prorate_fee=bool(fields["prorate_fee"]),
        min_downtime_seconds=int(fields["min_downtime_seconds"]),
        maintenance_notice_seconds=int(fields["maintenance_notice_seconds"]),
        maintenance_policy=MaintenancePolicy(fields["maintenance_policy"]),
        no_data_policy=NoDataPolicy(fields["no_data_policy"]),
        existence_policy=ExistencePolicy(fields["existence_policy"]),
    )


def to_policy(model: SlaPolicy) -> Policy:
    return policy_from_fields({name: getattr(model, name) for name in POLICY_FIELDS})


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    """What a report needs of a service."""

    id: int
    slug: str
    customer_id: int
    customer_slug: str
    timezone: str
    policy_id: int
    monthly_fee: Decimal
    currency: str
    starts_at: int
    ends_at: int | None


async def load_services(
    session: AsyncSession,
    *,
    service_ids: Sequence[int] | None = None,
    customer_id: int | None = None,
) -> list[ServiceInfo]:
    query = (
        select(
            Service.id,
            Service.slug,
            Service.customer_id,
            Customer.slug,
            Customer.timezone,
            Service.policy_id,
            Service.monthly_fee,
            Service.currency,
            Service.starts_at,
            Service.ends_at,
        )
        .join(Customer, Customer.id == Service.customer_id)
        .order_by(Service.customer_id, Service.id)
    )
    if service_ids is not None:
        query = query.where(Service.id.in_(service_ids))
    if customer_id is not None:
        query = query.where(Service.customer_id == customer_id)
    big = service_ids is None or len(service_ids) > MANY_SERVICES
    return [
        ServiceInfo(
            id=row[0],
            slug=row[1],
            customer_id=row[2],
            customer_slug=row[3],
            timezone=row[4],
            policy_id=row[5],
            monthly_fee=row[6],
            currency=row[7],
            starts_at=to_epoch(row[8]),
            ends_at=to_epoch(row[9]) if row[9] is not None else None,
        )
        async for batch in batches(session, query, big=big)
        for row in batch
    ]


async def load_policies(session: AsyncSession, policy_ids: set[int]) -> dict[int, Policy]:
    return {
        p.id: to_policy(p)
        for p in await session.scalars(select(SlaPolicy).where(SlaPolicy.id.in_(policy_ids)))
    }


@dataclass(slots=True)
class StoredState:
    """The stored state of some services over a span: per service its monitors
    (id, quorum), per monitor its segments by location, per service its maintenance."""

    span: Interval
    monitors: dict[int, list[tuple[int, int]]] = field(default_factory=lambda: defaultdict(list))
    segments: dict[int, dict[str, list[Segment]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list))
    )
    maintenance: dict[int, list[Maintenance]] = field(default_factory=lambda: defaultdict(list))


async def load_state(
    session: AsyncSession, service_ids: Sequence[int], span: Interval
) -> StoredState:
    """Everything stored that overlaps ``span`` for these services."""
    lo, hi = span
    state = StoredState(span)
    if not service_ids:
        return state
    every = len(service_ids) > MANY_SERVICES
    monitor_query = select(Monitor.id, Monitor.service_id, Monitor.quorum)
    # Time alone selects the rows (ix_location_segments_end): segments are kept for
    # good, and `end > lo` leaves out all history before the span.
    segment_query = select(
        LocationSegment.monitor_id,
        LocationSegment.location,
        LocationSegment.start,
        LocationSegment.end,
        LocationSegment.failing,
    ).where(LocationSegment.end > lo, LocationSegment.start < hi)
    window_query = select(
        MaintenanceWindow.service_id,
        MaintenanceWindow.starts_at,
        MaintenanceWindow.ends_at,
        MaintenanceWindow.announced_at,
    ).where(
        MaintenanceWindow.ends_at > from_epoch(lo), MaintenanceWindow.starts_at < from_epoch(hi)
    )
    if not every:
        monitor_query = monitor_query.where(Monitor.service_id.in_(service_ids))
        segment_query = segment_query.join(Monitor).where(Monitor.service_id.in_(service_ids))
        window_query = window_query.where(MaintenanceWindow.service_id.in_(service_ids))

    async for batch in batches(session, monitor_query, big=every):
        for monitor_id, service_id, quorum in batch:
            state.monitors[service_id].append((monitor_id, quorum))
    # No ORDER BY: the quorum sweep and interval algebra do not need sorted input.
    async for batch in batches(session, segment_query, big=every):
        for monitor_id, location, start, end, failing in batch:
            state.segments[monitor_id][location].append(Segment(start, end, failing))
    async for batch in batches(session, window_query, big=every):
        for service_id, starts_at, ends_at, announced_at in batch:
            state.maintenance[service_id].append(
                Maintenance(to_epoch(starts_at), to_epoch(ends_at), to_epoch(announced_at))
            )
    return state


SEGMENT_COLUMNS = (
    LocationSegment.monitor_id,
    LocationSegment.location,
    LocationSegment.start,
    LocationSegment.end,
    LocationSegment.failing,
)


async def load_segments(
    session: AsyncSession, monitor_ids: Sequence[int], span: Interval
) -> dict[int, dict[str, list[Segment]]]:
    """These monitors' segments overlapping ``span``, by monitor and location."""
    found: dict[int, dict[str, list[Segment]]] = defaultdict(lambda: defaultdict(list))
    ids = sorted(set(monitor_ids))
    postgresql = session.get_bind().dialect.name == "postgresql"
    for i in range(0, len(ids), MANY_SERVICES):
        chunk = ids[i : i + MANY_SERVICES]
        if postgresql:
            params = {"ids": chunk, "lo": span[0], "hi": span[1]}
            rows = await session.execute(_segment_probes(), params)
        else:
            rows = await session.execute(
                select(*SEGMENT_COLUMNS).where(
                    LocationSegment.monitor_id.in_(chunk),
                    LocationSegment.end > span[0],
                    LocationSegment.start < span[1],
                )
            )
        for monitor_id, location, start, end, failing in rows:
            found[monitor_id][location].append(Segment(start, end, failing))
    return found


@cache
def _segment_probes() -> Select[Any]:
    """PostgreSQL: the segments of each monitor in ``ids`` overlapping ``[lo, hi)``, an
    index probe each (the fold runs it for every chunk)."""
    span = (bindparam("lo", type_=BigInteger), bindparam("hi", type_=BigInteger))
    return per_id(partial(_overlapping, SEGMENT_COLUMNS, span))


def _overlapping(
    columns: Sequence[Any],
    span: tuple[ColumnElement[int], ColumnElement[int]],
    monitor: ColumnElement[int],
) -> Select[Any]:
    """One monitor's segments overlapping ``span``, as a range of the (monitor_id,
    end) index written as row comparisons: no other index can serve those."""
    key = tuple_(LocationSegment.monitor_id, LocationSegment.end)
    return select(*columns).where(
        key > tuple_(monitor, span[0]),
        key <= tuple_(monitor, literal(2**63 - 1, BigInteger)),
        LocationSegment.start < span[1],
    )


def per_id(rows_of: Callable[[ColumnElement[int]], Select[Any]]) -> Select[Any]:
    """PostgreSQL: ``rows_of(id)`` for each id of the ``ids`` parameter (a list) in one
    query, a LATERAL join over the ids. Build it once and run it with parameters: a
    statement built per call leaves its subqueries to the garbage collector.

    Segments are appended at "now": between two ANALYZEs their newest ends lie past the
    planner's histogram, so "end > recent" looks rare and a plain ``monitor_id IN (...)
    AND end > ...`` scans the time index instead, reading every monitor's recent rows
    for each chunk of 500 ids (at 60,000 monitors: 60,000 rows and 55 ms per chunk,
    against 2 ms). ``rows_of`` says its range so only the per-monitor index fits.

    ``OFFSET 0`` keeps the planner from pulling the subquery up into a plain join: it
    would then be free to hash-join the ids against every subject's recent rows, and
    did for state changes whose statistics were older than their growth (57,000 rows
    and 45 ms per chunk of 500, against an index probe each)."""
    given = func.unnest(bindparam("ids", type_=ARRAY(BigInteger))).table_valued("id")
    given = given.render_derived("given")
    rows = rows_of(given.c.id).offset(literal_column("0")).lateral("rows")
    return select(rows).select_from(given).join(rows, true())
