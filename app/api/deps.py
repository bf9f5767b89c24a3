"""Dependencies shared by the routers: the app's runtime and its parts (settings,
sessions), the caller, and loaders that 404."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Path, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.api.errors import invalid, located
from app.auth import Principal, Scope, identify, now_utc
from app.config import Settings
from app.models import Customer, MaintenanceWindow, Monitor, Service, SlaPolicy
from app.monitoring.ingest import MonitorDirectory
from app.runtime import Runtime
from app.schemas.common import MAX_ID, envelope
from app.sla.periods import Month

# Path and query ids, bounded like the database's 64-bit keys (a larger one is a 422).
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <token>")
# The 401 without a token; app.api.limits answers it too, before reading a body.
MISSING_TOKEN = "missing bearer token: send 'Authorization: Bearer <token>'"


def get_runtime(request: Request) -> Runtime:
    """The app's runtime: the one look-up on ``app.state`` (set by create_app)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


# Dependencies are coroutines, even trivial ones: FastAPI runs a plain `def`
# dependency in a worker thread, a thread hop on every request.
async def runtime_dependency(request: Request) -> Runtime:
    return get_runtime(request)


RuntimeDep = Annotated[Runtime, Depends(runtime_dependency)]


async def get_settings(runtime: RuntimeDep) -> Settings:
    return runtime.settings


async def get_sessions(runtime: RuntimeDep) -> async_sessionmaker[AsyncSession]:
    return runtime.sessions


async def get_monitors(runtime: RuntimeDep) -> MonitorDirectory:
    return runtime.monitors


SettingsDep = Annotated[Settings, Depends(get_settings)]
# The session factory, for work that needs its own transactions (folding).
SessionsDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessions)]
MonitorsDep = Annotated[MonitorDirectory, Depends(get_monitors)]


async def get_session(sessions: SessionsDep) -> AsyncIterator[AsyncSession]:
    async with sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def principal_of(
    session: AsyncSession,
    settings: Settings,
    credentials: HTTPAuthorizationCredentials | None,
) -> Principal:
    """The caller a request's credentials name, or the 401 that says why not."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            MISSING_TOKEN,
            headers={"WWW-Authenticate": "Bearer"},
        )
    admin = settings.admin_token.get_secret_value() if settings.admin_token else None
    who = await identify(session, credentials.credentials, admin)
    if not isinstance(who, Principal):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            f"{who.reason}; ask for a new key" if who else "unknown or revoked token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return who


async def get_principal(
    session: SessionDep,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    principal = await principal_of(session, runtime.settings, credentials)
    if principal.key_id is not None:
        runtime.key_usage.note(principal.key_id, now_utc())
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
S = TypeVar("S")


def validate_merged(model: type[M], current: dict[str, Any], patch: dict[str, Any]) -> M:
    """Validate ``current`` overlaid with ``patch`` as a whole, so a PATCH obeys every
    rule a create does (tiers against a new target, quorum against new locations)."""
    try:
        return model.model_validate({**current, **patch})
    except ValidationError as exc:
        raise located(exc, ("body",)) from None


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


# Paging: every list takes `limit` and `offset` and answers in the `Page` envelope
# {items, total, limit, offset}; out-of-range values are FastAPI's own 422s.
MAX_LIMIT = 1000
AGENT_MAX_LIMIT = 10_000
Offset = Annotated[int, Query(ge=0, le=MAX_ID, description="items to skip")]


@dataclass(frozen=True, slots=True)
class Paging:
    limit: int
    offset: int

    def envelope(self, items: list[Any], total: int) -> dict[str, Any]:
        return envelope(items, total, self.limit, self.offset)

    def window(self, query: Select[S]) -> Select[S]:
        return query.limit(self.limit).offset(self.offset)


async def paging(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size")] = 100,
    offset: Offset = 0,
) -> Paging:
    return Paging(limit, offset)


async def agent_paging(
    limit: Annotated[int, Query(ge=1, le=AGENT_MAX_LIMIT, description="page size")] = 1000,
    offset: Offset = 0,
) -> Paging:
    return Paging(limit, offset)


PagingDep = Annotated[Paging, Depends(paging)]
AgentPagingDep = Annotated[Paging, Depends(agent_paging)]


async def count(session: AsyncSession, query: Select[Any]) -> int:
    """How many rows ``query`` matches (its filters and joins; order and paging aside)."""
    counted = select(func.count()).select_from(query.order_by(None).subquery())
    return int(await session.scalar(counted) or 0)


async def paged(session: AsyncSession, query: Select[S], page: Paging) -> dict[str, Any]:
    """One page of ``query`` in the list envelope, ``total`` counted under its filters."""
    items = list(await session.scalars(page.window(query)))
    return page.envelope(items, await count(session, query))


# A month as YYYY-MM, 1970-01 to 9998-12 (a customer's calendar month): the pattern for
# the OpenAPI document; ``month_param`` checks it with a message saying what a month is.
MONTH_PATTERN = {
    "pattern": r"^(19[7-9]\d|[2-8]\d{3}|9[0-8]\d{2}|99[0-8]\d|999[0-8])-(0[1-9]|1[0-2])$"
}


def month_param(month: str, where: str = "query") -> Month:
    """``YYYY-MM``, or a 422 naming ``[where, "month"]``."""
    try:
        return Month.parse(month)
    except ValueError as exc:
        raise invalid((where, "month"), str(exc), month) from None
