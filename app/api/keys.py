"""API keys, for admins: list them (with when each was last used), create, revoke
and rotate. The same operations as ``uptally keys``; a revoked key is refused by every
process from the next request on (each request looks its key up)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status
from sqlalchemy import ColumnElement, and_, or_, select

from app.api.deps import (
    Admin,
    IdFilter,
    IdPath,
    PagingDep,
    RuntimeDep,
    SessionDep,
    conflict,
    count,
    not_found,
)
from app.api.errors import AUTHENTICATED, error_responses, invalid
from app.auth import Scope, create_key, key_state, now_utc, revoke, rotate_key
from app.models import ApiKey
from app.schemas.common import Page
from app.schemas.keys import KeyCreate, KeyCreated, KeyRead, KeyRotate, KeyRotated, key_read

router = APIRouter(prefix="/api/v1/keys", tags=["keys"], responses=AUTHENTICATED)


def in_state(state: str, now: datetime) -> ColumnElement[bool]:
    """The keys in ``state`` (as ``app.auth.key_state`` decides it) at ``now``."""
    if state == "revoked":
        return ApiKey.revoked_at.is_not(None)
    if state == "expired":
        return and_(ApiKey.revoked_at.is_(None), ApiKey.expires_at <= now)
    return and_(
        ApiKey.revoked_at.is_(None), or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now)
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=KeyCreated,
    responses=error_responses(409, 413),
)
async def create(body: KeyCreate, session: SessionDep, _: Admin) -> dict[str, Any]:
    """A new key; its token is in this answer only."""
    now = now_utc()
    if body.expires_at is not None and body.expires_at <= now:
        raise invalid(("body", "expires_at"), "has passed already", body.expires_at)
    try:
        key, token = await create_key(
            session,
            Scope(body.scope),
            customer_id=body.customer_id,
            name=body.name,
            locations=body.locations,
            expires_at=body.expires_at,
            now=now,
        )
    except ValueError as exc:  # the customer does not exist
        raise invalid(("body", "customer_id"), str(exc), body.customer_id) from None
    await session.commit()
    return key_read(key, key_state(key, now), token=token)


@router.get("", response_model=Page[KeyRead])
async def list_keys(
    session: SessionDep,
    runtime: RuntimeDep,
    _: Admin,
    page: PagingDep,
    scope: Annotated[Scope | None, Query()] = None,
    customer_id: IdFilter = None,
    state: Annotated[Literal["active", "revoked", "expired"] | None, Query()] = None,
) -> dict[str, Any]:
    """Every key (oldest first), with the filters given. ``last_used_at`` includes this
    process's latest uses; other processes write theirs within a minute."""
    await runtime.key_usage.flush(runtime.sessions)
    now = now_utc()
    query = select(ApiKey).order_by(ApiKey.id)
    if scope is not None:
        query = query.where(ApiKey.scope == scope.value)
    if customer_id is not None:
        query = query.where(ApiKey.customer_id == customer_id)
    if state is not None:
        query = query.where(in_state(state, now))
    keys = list(await session.scalars(page.window(query)))
    items = [key_read(key, key_state(key, now)) for key in keys]
    return page.envelope(items, await count(session, query))


async def load_key(session: SessionDep, key_id: int) -> ApiKey:
    key = await session.get(ApiKey, key_id)
    if key is None:
        raise not_found("API key", key_id)
    return key


@router.get("/{key_id}", response_model=KeyRead, responses=error_responses(404))
async def read_key(
    key_id: IdPath, session: SessionDep, runtime: RuntimeDep, _: Admin
) -> dict[str, Any]:
    await runtime.key_usage.flush(runtime.sessions)
    key = await load_key(session, key_id)
    return key_read(key, key_state(key, now_utc()))


@router.post("/{key_id}/revoke", response_model=KeyRead, responses=error_responses(404, 409))
async def revoke_key(key_id: IdPath, session: SessionDep, _: Admin) -> dict[str, Any]:
    """Revoke the key now: every process refuses it from the next request on. Revoking
    a revoked key changes nothing (the first revocation's time stands)."""
    key = await load_key(session, key_id)
    now = now_utc()
    revoke(key, now)
    await session.commit()
    return key_read(key, key_state(key, now))


@router.post(
    "/{key_id}/rotate",
    status_code=status.HTTP_201_CREATED,
    response_model=KeyRotated,
    responses=error_responses(404, 409, 413),
)
async def rotate(
    key_id: IdPath, session: SessionDep, _: Admin, body: KeyRotate | None = None
) -> dict[str, Any]:
    """A new key in the old one's place (same scope, customer, locations, name and
    lifetime); the old one is revoked at once, or expires after ``grace_seconds``."""
    key = await load_key(session, key_id)
    now = now_utc()
    try:
        new, token = await rotate_key(
            session, key, grace_seconds=body.grace_seconds if body else 0, now=now
        )
    except ValueError as exc:  # revoked or expired already
        raise conflict(str(exc)) from None
    await session.commit()
    old = key_read(key, key_state(key, now))
    return key_read(new, key_state(new, now), token=token, replaces=old)
