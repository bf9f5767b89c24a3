"""Liveness and readiness probes for orchestrators."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response, status
from sqlalchemy import text

from app.api.deps import RuntimeDep, SessionDep

READY_TIMEOUT = 3.0  # seconds

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(session: SessionDep, runtime: RuntimeDep, response: Response) -> dict[str, str]:
    """The database answers (within READY_TIMEOUT seconds: a hung database is not
    ready either)."""
    try:
        await asyncio.wait_for(session.execute(text("SELECT 1")), READY_TIMEOUT)
    except Exception as exc:  # any driver error means "not ready", never a 500
        runtime.database.failed(exc)
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return {"status": "unavailable", "database": type(exc).__name__}
    runtime.database.succeeded()
    return {"status": "ok", "database": "ok"}
