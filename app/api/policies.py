"""SLA policies: the contracts services are measured against."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import (
    Admin,
    BillingReader,
    IdPath,
    PagingDep,
    SessionDep,
    conflict,
    load_policy,
    paged,
    validate_merged,
)
from app.api.errors import AUTHENTICATED, error_responses, invalid
from app.db import plain_decimal
from app.incidents.store import missing_calendars
from app.models import Service, SlaPolicy
from app.schemas.catalog import SlaPolicyCreate, SlaPolicyRead, SlaPolicyUpdate
from app.schemas.common import Page, utc_now


async def check_target_calendars(session: AsyncSession, targets: list[dict[str, Any]]) -> None:
    """A 422 naming ``support_targets[i].calendar_id`` when it names no calendar."""
    for i, calendar_id in await missing_calendars(session, targets):
        raise invalid(
            ("body", "support_targets", i, "calendar_id"),
            f"support calendar {calendar_id} does not exist",
            calendar_id,
        )


router = APIRouter(prefix="/api/v1/sla-policies", tags=["sla-policies"], responses=AUTHENTICATED)


def _columns(body: SlaPolicyCreate) -> dict[str, Any]:
    values = body.model_dump()
    # Tiers are stored as decimal strings, sorted, so no float ever touches them.
    values["credit_tiers"] = [
        {key: str(plain_decimal(value)) for key, value in tier.items()}
        for tier in sorted(values["credit_tiers"], key=lambda t: t["from_percent"])
    ]
    return values


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SlaPolicyRead,
    responses=error_responses(409, 413),
)
async def create_policy(body: SlaPolicyCreate, session: SessionDep, _: Admin) -> SlaPolicy:
    await check_target_calendars(session, body.model_dump()["support_targets"])
    policy = SlaPolicy(**_columns(body), created_at=utc_now())
    session.add(policy)
    await session.commit()
    return policy


@router.get("", response_model=Page[SlaPolicyRead])
async def list_policies(session: SessionDep, _: BillingReader, page: PagingDep) -> dict[str, Any]:
    return await paged(session, select(SlaPolicy).order_by(SlaPolicy.id), page)


@router.get("/{policy_id}", response_model=SlaPolicyRead, responses=error_responses(404))
async def read_policy(policy_id: IdPath, session: SessionDep, _: BillingReader) -> SlaPolicy:
    return await load_policy(session, policy_id)


@router.patch(
    "/{policy_id}", response_model=SlaPolicyRead, responses=error_responses(404, 409, 413)
)
async def update_policy(
    policy_id: IdPath, body: SlaPolicyUpdate, session: SessionDep, _: Admin
) -> SlaPolicy:
    """Changes apply to every month not yet closed; closed statements never change."""
    policy = await load_policy(session, policy_id)
    current = SlaPolicyRead.model_validate(policy).model_dump(exclude={"id"})
    merged = validate_merged(SlaPolicyCreate, current, body.model_dump(exclude_unset=True))
    await check_target_calendars(session, merged.model_dump()["support_targets"])
    for name, value in _columns(merged).items():
        setattr(policy, name, value)
    await session.commit()
    return policy


@router.delete(
    "/{policy_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404, 409)
)
async def delete_policy(policy_id: IdPath, session: SessionDep, _: Admin) -> None:
    policy = await load_policy(session, policy_id)
    if await session.scalar(select(Service.id).where(Service.policy_id == policy.id)):
        raise conflict(f"SLA policy {policy_id} is used by services; move them first")
    await session.delete(policy)
    await session.commit()
