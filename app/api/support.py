"""Support calendars (the business hours support targets are counted on) and a
customer's monthly support compliance (API_CONTRACT.md "Support and incidents")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query, status
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import (
    MONTH_PATTERN,
    Admin,
    BillingReader,
    IdPath,
    PagingDep,
    Reader,
    SessionDep,
    conflict,
    load_customer,
    month_param,
    not_found,
    paged,
    validate_merged,
)
from app.api.errors import AUTHENTICATED, error_responses
from app.incidents.report import month_support
from app.models import SlaPolicy, SupportCalendar
from app.schemas.common import Page, utc_now
from app.schemas.support import (
    SupportCalendarCreate,
    SupportCalendarRead,
    SupportCalendarUpdate,
    SupportMonthRead,
)

router = APIRouter(prefix="/api/v1", tags=["support"], responses=AUTHENTICATED)


async def load_calendar(session: AsyncSession, ident: int) -> SupportCalendar:
    calendar = await session.get(SupportCalendar, ident)
    if calendar is None:
        raise not_found("support calendar", ident)
    return calendar


@router.post(
    "/support-calendars",
    status_code=status.HTTP_201_CREATED,
    response_model=SupportCalendarRead,
    responses=error_responses(409, 413),
)
async def create_calendar(
    body: SupportCalendarCreate, session: SessionDep, _: Admin
) -> SupportCalendar:
    calendar = SupportCalendar(
        name=body.name,
        timezone=body.timezone,
        hours=body.hours.stored(),
        holidays=body.holidays,
        created_at=utc_now(),
    )
    session.add(calendar)
    await session.commit()
    return calendar


@router.get("/support-calendars", response_model=Page[SupportCalendarRead])
async def list_calendars(session: SessionDep, _: BillingReader, page: PagingDep) -> dict[str, Any]:
    return await paged(session, select(SupportCalendar).order_by(SupportCalendar.id), page)


@router.get(
    "/support-calendars/{calendar_id}",
    response_model=SupportCalendarRead,
    responses=error_responses(404),
)
async def read_calendar(
    calendar_id: IdPath, session: SessionDep, _: BillingReader
) -> SupportCalendar:
    return await load_calendar(session, calendar_id)


@router.patch(
    "/support-calendars/{calendar_id}",
    response_model=SupportCalendarRead,
    responses=error_responses(404, 409, 413),
)
async def update_calendar(
    calendar_id: IdPath, body: SupportCalendarUpdate, session: SessionDep, _: Admin
) -> SupportCalendar:
    """Changes apply to every clock counted on the calendar, past ones included (like a
    policy's terms, until a month is closed)."""
    calendar = await load_calendar(session, calendar_id)
    current = SupportCalendarRead.model_validate(calendar).model_dump(exclude={"id", "created_at"})
    merged = validate_merged(SupportCalendarCreate, current, body.model_dump(exclude_unset=True))
    calendar.name, calendar.timezone = merged.name, merged.timezone
    calendar.hours, calendar.holidays = merged.hours.stored(), merged.holidays
    await session.commit()
    return calendar


@router.delete(
    "/support-calendars/{calendar_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(404, 409),
)
async def delete_calendar(calendar_id: IdPath, session: SessionDep, _: Admin) -> None:
    calendar = await load_calendar(session, calendar_id)
    for policy_id, targets in await session.execute(
        select(SlaPolicy.id, SlaPolicy.support_targets)
    ):
        if any(t.get("calendar_id") == calendar.id for t in targets):
            raise conflict(
                f"support calendar {calendar_id} is used by SLA policy {policy_id}; "
                "change its support_targets first"
            )
    await session.delete(calendar)
    await session.commit()


@router.get(
    "/customers/{customer_id}/support",
    response_model=SupportMonthRead,
    responses=error_responses(404),
)
async def customer_support(
    customer_id: IdPath,
    session: SessionDep,
    who: Reader,
    month: str = Query(
        description="the customer's calendar month, YYYY-MM", json_schema_extra=MONTH_PATTERN
    ),
) -> dict[str, Any]:
    """Support compliance for the month: met / evaluated per clock, overall and by
    priority, against the strictest compliance target of the customer's policies."""
    period = month_param(month)
    await load_customer(session, who, customer_id)
    support = await month_support(session, customer_id, period, datetime.now(UTC))
    return support.as_dict()
