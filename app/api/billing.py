"""SLA figures for billing and customers: a service's month, every credit of a month,
and closing a month into immutable statements."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import (
    BillingReader,
    IdPath,
    Offset,
    Reader,
    SessionDep,
    get_runtime,
    not_found,
    owns,
)
from app.api.errors import AUTHENTICATED, error_responses, invalid
from app.models import Monitor, Statement
from app.monitoring.folding import fold_pending
from app.reporting.adjustments import adjustments
from app.reporting.compute import ServiceMonth
from app.reporting.documents import (
    adjustment_document,
    credit_row,
    figures_document,
    statement_credit_row,
    statement_document,
)
from app.reporting.load import load_services
from app.reporting.statements import (
    MonthNotOver,
    close_month,
    existed_in,
    month_figures_for,
    read_statement,
    statements_for,
)
from app.schemas.common import MAX_ID, envelope
from app.schemas.sla import CloseResult, CreditItem, CreditsPage, SlaRead
from app.sla.periods import Month, to_epoch, utc_text

router = APIRouter(prefix="/api/v1", tags=["billing"], responses=AUTHENTICATED)

# A month as YYYY-MM, 1970-01 to 9998-12: in the OpenAPI document (the handlers check it
# themselves, with a message that says what a month looks like).
MONTH = {"pattern": r"^(19[7-9]\d|[2-8]\d{3}|9[0-8]\d{2}|99[0-8]\d|999[0-8])-(0[1-9]|1[0-2])$"}


def parse_month(month: str, where: str = "query") -> Month:
    """``YYYY-MM``, or a 422 naming ``[where, "month"]``."""
    try:
        return Month.parse(month)
    except ValueError as exc:
        raise invalid((where, "month"), str(exc), month) from None


async def _fold_for(request: Request, session: AsyncSession, service_ids: list[int] | None) -> bool:
    """Bring the stored timeline up to date for these services before reporting, within
    the read budget when that means folding everyone's results. Returns whether
    results are still waiting to be folded (a burst the folder is catching up with)."""
    runtime = get_runtime(request)
    if service_ids is None:
        budget = runtime.settings.read_fold_budget_seconds
        folded = await fold_pending(runtime.sessions, budget_seconds=budget)
    else:
        monitor_ids = list(
            await session.scalars(select(Monitor.id).where(Monitor.service_id.in_(service_ids)))
        )
        folded = await fold_pending(runtime.sessions, monitor_ids)
    # A fold for a read leaves the log to the folder, which then finds nothing new to
    # report: tell the figures cache here.
    runtime.figures.invalidate(folded.services)
    return not folded.complete


@router.get("/services/{service_id}/sla", response_model=SlaRead, responses=error_responses(404))
async def service_sla(
    service_id: IdPath,
    request: Request,
    session: SessionDep,
    who: Reader,
    month: str = Query(
        description="the customer's calendar month, YYYY-MM", json_schema_extra=MONTH
    ),
) -> dict[str, Any]:
    """A service's figures for one month (open: as of now; closed: its statement)."""
    period = parse_month(month)
    found = await load_services(session, service_ids=[service_id])
    if not found or not owns(who, found[0].customer_id):
        raise not_found("service", service_id)
    [service] = found
    pending = await _fold_for(request, session, [service_id])
    now = datetime.now(UTC)
    [current] = await month_figures_for(session, [service], period, now)
    statement = (await statements_for(session, period, [service_id])).get(service_id)
    if statement is None:
        return {
            **figures_document(current),
            "status": "open",
            "as_of": utc_text(to_epoch(now)),
            "pending_results": pending,
        }
    frozen = read_statement(statement.content)
    return {
        **statement_document(frozen),
        "pending_results": pending,
        "status": "closed",
        "as_of": utc_text(to_epoch(statement.closed_at)),
        "statement_digest": statement.digest,
        "adjustment": adjustment_document(
            (await adjustments(session, [statement], {service_id: current}, now))[service_id]
        ),
    }


@router.get(
    "/credits",
    response_model=CreditsPage,
    responses={200: {"content": {"text/csv": {}}}},
)
async def credits(
    request: Request,
    session: SessionDep,
    who: Reader,
    month: str = Query(description="YYYY-MM", json_schema_extra=MONTH),
    format: str | None = Query(default=None, pattern="^(json|csv)$"),
    limit: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="page size; default: every row")
    ] = None,
    offset: Offset = 0,
) -> Any:
    """Every service's credit for the month, by customer and service id, in the list
    envelope beside ``month`` (``limit`` is null when not given: billing gets every row
    at once). ``Accept: text/csv`` or ``?format=csv`` for the same rows as CSV. Closed
    months show their statements and any adjustment since."""
    period = parse_month(month)
    # A closed month lists the services it froze, whatever their dates say now.
    frozen = set(
        await session.scalars(select(Statement.service_id).where(Statement.month == str(period)))
    )
    existing = [
        s
        for s in await load_services(session, customer_id=who.customer_id)
        if s.id in frozen or existed_in(s, period)
    ]
    services = existing[offset:] if limit is None else existing[offset : offset + limit]
    ids = [s.id for s in services]
    pending = await _fold_for(request, session, ids if who.customer_id is not None else None)
    now = datetime.now(UTC)
    current = await month_figures_for(session, services, period, now)
    statements = await statements_for(session, period, ids)
    changes = await adjustments(
        session,
        [statements[s.id] for s in services if s.id in statements],
        {item.service.id: item for item in current},
        now,
    )
    items = [
        _credit_row(item, statements.get(item.service.id), changes.get(item.service.id))
        for item in current
    ]
    wants_csv = format == "csv" or (
        format is None and "text/csv" in request.headers.get("accept", "")
    )
    headers = {"X-Uptally-Pending-Results": "true" if pending else "false"}
    if wants_csv:
        return Response(_csv(items), media_type="text/csv; charset=utf-8", headers=headers)
    # The rows are built from JSON-ready values already: serialise them directly
    # rather than validating 10,000 models twice (CreditsPage documents the shape).
    page = {
        "month": str(period),
        **envelope(items, len(existing), limit, offset),
        "pending_results": pending,
    }
    return Response(json.dumps(page), media_type="application/json", headers=headers)


CREDIT_FIELDS = list(CreditItem.model_fields)


def _credit_row(
    item: ServiceMonth, statement: Any, change: dict[str, Any] | None
) -> dict[str, Any]:
    if statement is None:
        return {**credit_row(item), "status": "open", "adjustment_credit_delta": None}
    frozen = read_statement(statement.content)
    return {
        **statement_credit_row(frozen),
        "status": "closed",
        "adjustment_credit_delta": change["credit_amount_delta"] if change else None,
    }


def _csv(items: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CREDIT_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(items)
    return out.getvalue()


@router.post("/months/{month}/close", response_model=CloseResult, responses=error_responses(409))
async def close(
    request: Request,
    session: SessionDep,
    who: BillingReader,
    month: str = Path(description="YYYY-MM", json_schema_extra=MONTH),
) -> CloseResult:
    """Freeze the month's statements. Closing twice is harmless; a month that has not
    ended for every customer's time zone is refused (409)."""
    period = parse_month(month, "path")
    await fold_pending(get_runtime(request).sessions)
    try:
        written, already = await close_month(session, period, datetime.now(UTC), who.label)
    except MonthNotOver as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    await session.commit()
    return CloseResult(month=str(period), statements_written=written, already_closed=already)
