"""Heartbeat pings: a customer's cron job calls its monitor's URL when it runs.

No API key: the token in the URL is the secret, and it can only mark its own monitor
up. GET is accepted too, since that is what ``curl URL`` in a crontab sends.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from app.api.deps import RuntimeDep, SessionDep, SettingsDep
from app.api.errors import error_responses
from app.availability import UNREACHABLE, unreachable
from app.models import Monitor
from app.monitoring.checks import ResultIn
from app.monitoring.heartbeats import heartbeat_interval, heartbeat_location
from app.monitoring.ingest import store_results
from app.monitoring.server import spec_of
from app.schemas.sla import HeartbeatReply
from app.sla.periods import from_epoch, to_epoch

router = APIRouter(
    tags=["heartbeat"],
    responses={
        202: {
            "model": HeartbeatReply,
            "description": "the database is down: the ping is buffered, written once it is back",
        },
        **error_responses(404, 409, 503),
    },
)

# What a token can look like (monitors get secrets.token_urlsafe(24); the column holds
# 64). Anything else is no token, a 404 before the database is asked (which would
# refuse a NUL).
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")


@router.post("/heartbeat/{token}", operation_id="heartbeat_post", response_model=HeartbeatReply)
@router.get("/heartbeat/{token}", operation_id="heartbeat_get", response_model=HeartbeatReply)
async def heartbeat(
    token: str, request: Request, session: SessionDep, settings: SettingsDep, runtime: RuntimeDep
) -> Any:
    """Records an ``ok`` for the monitor. While the database is down, a ping for a
    monitor this process has seen before is buffered and written when it is back
    (202); an unknown one gets a 503 with ``Retry-After``."""
    if not _TOKEN.fullmatch(token):
        raise HTTPException(404, "unknown heartbeat token")
    now = to_epoch(datetime.now(UTC))
    try:
        monitor = await session.scalar(
            select(Monitor).where(Monitor.heartbeat_token == token, Monitor.kind == "heartbeat")
        )
        if monitor is None:
            raise HTTPException(404, "unknown heartbeat token")
        if not monitor.enabled:
            raise HTTPException(409, "this heartbeat monitor is paused")
        spec = spec_of(monitor)
        known = (
            monitor.id,
            heartbeat_interval(spec),
            heartbeat_location(spec.locations, settings.location),
        )
        runtime.heartbeat_tokens[token] = known
        started, ping = time.perf_counter(), _ping(known, now)
        await store_results(session, [ping], now, {known[0]: known[1]})
        await session.commit()
        runtime.stored("heartbeat", [ping], time.perf_counter() - started)
    except UNREACHABLE as exc:
        cached = runtime.heartbeat_tokens.get(token)
        if not unreachable(exc) or cached is None or runtime.buffer is None:
            raise  # bad input, or nothing to fall back on: the app's handlers answer
        runtime.database.failed(exc)
        runtime.buffer.add(_ping(cached, now))
        reply = _reply(cached, now)
        return JSONResponse(reply.model_dump(mode="json"), status_code=202)
    runtime.database.succeeded()
    return _reply(known, now)


def _ping(known: tuple[int, int, str], now: int) -> ResultIn:
    monitor_id, interval, location = known
    return ResultIn(
        monitor_id=monitor_id, location=location, checked_at=now, ok=True, interval_seconds=interval
    )


def _reply(known: tuple[int, int, str], now: int) -> HeartbeatReply:
    return HeartbeatReply(
        ok=True, monitor_id=known[0], next_due_before=from_epoch(now + 2 * known[1])
    )
