"""Heartbeat pings: a customer's cron job calls its monitor's URL when it runs.

No API key: the token in the URL is the secret, and it can only mark its own monitor
up. GET is accepted too, since that is what ``curl URL`` in a crontab sends.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request
from sqlalchemy import select

from app.api.deps import SessionDep, SettingsDep
from app.models import Monitor
from app.monitoring.checks import ResultIn
from app.monitoring.heartbeats import heartbeat_interval, heartbeat_location
from app.monitoring.ingest import store_results
from app.monitoring.server import spec_of
from app.schemas.sla import HeartbeatReply
from app.sla.periods import from_epoch, to_epoch

router = APIRouter(tags=["heartbeat"])

# What a token can look like (monitors get secrets.token_urlsafe(24); the column holds
# 64). Anything else is no token, a 404 before the database is asked (which would
# refuse a NUL).
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")


@router.post("/heartbeat/{token}", operation_id="heartbeat_post", response_model=HeartbeatReply)
@router.get("/heartbeat/{token}", operation_id="heartbeat_get", response_model=HeartbeatReply)
async def heartbeat(
    token: str, request: Request, session: SessionDep, settings: SettingsDep
) -> HeartbeatReply:
    if not _TOKEN.fullmatch(token):
        raise HTTPException(404, "unknown heartbeat token")
    monitor = await session.scalar(
        select(Monitor).where(Monitor.heartbeat_token == token, Monitor.kind == "heartbeat")
    )
    if monitor is None:
        raise HTTPException(404, "unknown heartbeat token")
    if not monitor.enabled:
        raise HTTPException(409, "this heartbeat monitor is paused")
    spec = spec_of(monitor)
    now = to_epoch(datetime.now(UTC))
    interval = heartbeat_interval(spec)
    row = ResultIn(
        monitor_id=monitor.id,
        location=heartbeat_location(spec.locations, settings.location),
        checked_at=now,
        ok=True,
        interval_seconds=interval,
    )
    await store_results(session, [row], now, {monitor.id: interval})
    await session.commit()
    return HeartbeatReply(
        ok=True, monitor_id=monitor.id, next_due_before=from_epoch(now + 2 * interval)
    )
