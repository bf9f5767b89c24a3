"""Dependencies shared by the routers: the session, the caller, and loaders that 404."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Path, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth import Principal, Scope, authenticate
from app.config import Settings
from app.models import Customer, MaintenanceWindow, Monitor, Service, SlaPolicy
from app.schemas.common import MAX_ID

# Path and query ids, bounded like the database's 64-bit keys (a larger one is a 422).
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <token>")


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with sessions() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_principal(
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing bearer token: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    admin = settings.admin_token.get_secret_value() if settings.admin_token else None
    principal = await authenticate(session, credentials.credentials, admin)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "unknown or revoked token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


def allow(*scopes: Scope) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency admitting admins and the given scopes; anything else is a 403."""

    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.scope is not Scope.ADMIN and principal.scope not in scopes:
            allowed = ", ".join(["admin", *scopes])
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"this needs a key with scope {allowed}; yours is {principal.scope}",
            )
        return principal

    return check


Admin = Annotated[Principal, Depends(allow())]
Reader = Annotated[Principal, Depends(allow(Scope.BILLING, Scope.CUSTOMER))]
BillingReader = Annotated[Principal, Depends(allow(Scope.BILLING))]
Agent = Annotated[Principal, Depends(allow(Scope.AGENT))]


def not_found(what: str, ident: object) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"{what} {ident} not found")


def owns(principal: Principal, customer_id: int) -> bool:
    """Customer keys see only their own customer; every other scope sees all."""
    return principal.customer_id is None or principal.customer_id == customer_id


async def load_customer(session: AsyncSession, principal: Principal, ident: int) -> Customer:
    customer = await session.get(Customer, ident)
    if customer is None or not owns(principal, customer.id):
        raise not_found("customer", ident)
    return customer


async def load_service(session: AsyncSession, principal: Principal, ident: int) -> Service:
    service = await session.get(Service, ident)
    if service is None or not owns(principal, service.customer_id):
        raise not_found("service", ident)
    return service


async def load_monitor(session: AsyncSession, principal: Principal, ident: int) -> Monitor:
    monitor = await session.get(Monitor, ident)
    if monitor is None:
        raise not_found("monitor", ident)
    await load_service(session, principal, monitor.service_id)
    return monitor


async def load_window(session: AsyncSession, principal: Principal, ident: int) -> MaintenanceWindow:
    window = await session.get(MaintenanceWindow, ident)
    if window is None:
        raise not_found("maintenance window", ident)
    await load_service(session, principal, window.service_id)
    return window


async def load_policy(session: AsyncSession, ident: int) -> SlaPolicy:
    policy = await session.get(SlaPolicy, ident)
    if policy is None:
        raise not_found("SLA policy", ident)
    return policy


M = TypeVar("M", bound=BaseModel)


def validate_merged(model: type[M], current: dict[str, Any], patch: dict[str, Any]) -> M:
    """Validate ``current`` overlaid with ``patch`` as a whole, so a PATCH obeys every
    rule a create does (tiers against a new target, quorum against new locations)."""
    try:
        return model.model_validate({**current, **patch})
    except ValidationError as exc:
        errors = [
            {"type": e["type"], "loc": ("body", *e["loc"]), "msg": e["msg"], "input": e["input"]}
            for e in exc.errors(include_url=False)
        ]
        raise RequestValidationError(errors) from None


def conflict(message: str) -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT, message)


async def commit_or_conflict(session: AsyncSession, message: str) -> None:
    """Commit; a unique or foreign-key violation becomes a 409 and nothing is stored."""
    from sqlalchemy.exc import IntegrityError

    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise conflict(message) from None


class Paging(BaseModel):
    limit: int
    offset: int


def paging(limit: int = 100, offset: int = 0) -> Paging:
    if not 1 <= limit <= 1000:
        raise HTTPException(422, "limit must be from 1 to 1000")
    if not 0 <= offset <= MAX_ID:
        raise HTTPException(422, "offset must be from 0 to 2^63-1")
    return Paging(limit=limit, offset=offset)


PagingDep = Annotated[Paging, Depends(paging)]
