"""Check results from remote agents, and the monitors each location must probe."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy import select

from app.api.deps import Agent, SessionDep
from app.models import Monitor
from app.monitoring.ingest import BatchError, ResultIn, check_batch, store_results
from app.schemas.catalog import MonitorRead
from app.schemas.common import LOCATION_RE
from app.schemas.sla import Accepted, ResultBatch
from app.sla.calendar import to_epoch

router = APIRouter(prefix="/api/v1", tags=["results"])


@router.post("/results", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
async def push_results(body: ResultBatch, session: SessionDep, _: Agent) -> Accepted:
    """Store a batch of results. Late, duplicated and out-of-order results are fine;
    the batch is validated whole and one bad row refuses all of it."""
    now = to_epoch(datetime.now(UTC))
    rows = [
        ResultIn(
            monitor_id=r.monitor_id,
            location=r.location,
            checked_at=to_epoch(r.checked_at),
            ok=r.ok,
            interval_seconds=r.interval_seconds,
            latency_ms=r.latency_ms,
            status_code=r.status_code,
            error=r.error,
        )
        for r in body.results
    ]
    try:
        intervals = await check_batch(session, rows, now)
    except BatchError as exc:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("body", "results", exc.index, exc.field),
                    "msg": f"row {exc.index}: {exc}",
                    "input": getattr(body.results[exc.index], exc.field),
                }
            ]
        ) from None
    accepted = await store_results(session, rows, now, intervals)
    await session.commit()
    return Accepted(accepted=accepted)


@router.get("/agent/monitors", response_model=list[MonitorRead])
async def agent_monitors(
    request: Request,
    response: Response,
    session: SessionDep,
    _: Agent,
    location: str = Query(pattern=LOCATION_RE),
) -> Any:
    """The enabled monitors that list ``location``, with everything a probe needs.
    Send the last ``ETag`` as ``If-None-Match`` to get a 304 when nothing changed."""
    from app.api.monitors import monitor_read

    monitors = await session.scalars(
        select(Monitor).where(Monitor.enabled.is_(True)).order_by(Monitor.id)
    )
    items = [
        monitor_read(m, request).model_dump(mode="json")
        for m in monitors
        if location in m.locations
    ]
    etag = '"' + hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()[:32] + '"'
    if request.headers.get("if-none-match") == etag:
        raise HTTPException(status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
    response.headers["ETag"] = etag
    return items
