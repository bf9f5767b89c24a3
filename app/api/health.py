"""Liveness and readiness probes for orchestrators."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response, status
from sqlalchemy import text

from app.api.deps import RuntimeDep
from app.runtime import Runtime

READY_TIMEOUT = 3.0  # seconds

router = APIRouter(tags=["health"])

# Readiness checks given up on, still unwinding (kept so they are not collected early).
_abandoned: set[asyncio.Task[None]] = set()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


async def _select_one(runtime: Runtime) -> None:
    async with runtime.sessions() as session:
        await session.execute(text("SELECT 1"))


@router.get(
    "/readyz",
    responses={503: {"description": "the database does not answer (within 3 s)"}},
)
async def readyz(runtime: RuntimeDep, response: Response) -> dict[str, str]:
    """The database answers (within READY_TIMEOUT seconds: a hung database is not
    ready either)."""
    # Not wait_for: it waits until the cancelled call has unwound, and asyncpg's
    # cancellation asks the (hung) server to cancel over a new connection first. The
    # answer comes at READY_TIMEOUT; the abandoned check unwinds on its own.
    check = asyncio.create_task(_select_one(runtime))
    done, _ = await asyncio.wait({check}, timeout=READY_TIMEOUT)
    error = check.exception() if done else TimeoutError("no answer within the timeout")
    if not done:
        check.cancel()
        _abandoned.add(check)
        check.add_done_callback(_forget)
    if error is not None:  # any driver error means "not ready", never a 500
        runtime.database.failed(error)
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return {"status": "unavailable", "database": type(error).__name__}
    runtime.database.succeeded()
    return {"status": "ok", "database": "ok"}


def _forget(task: asyncio.Task[None]) -> None:
    _abandoned.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: no "exception was never retrieved" noise
