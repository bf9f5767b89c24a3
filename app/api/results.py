"""Check results from remote agents, and the monitors each location must probe."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from sqlalchemy import String, cast, select

from app.api.deps import Agent, SessionDep
from app.models import Monitor
from app.monitoring.ingest import BatchError, ResultIn, ingest
from app.schemas.catalog import MonitorRead
from app.schemas.common import LOCATION_RE
from app.schemas.sla import Accepted, ResultBatch
from app.sla.calendar import EPOCH, to_epoch

router = APIRouter(prefix="/api/v1", tags=["results"])


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its local ``$defs`` inlined, so it can sit inside
    the OpenAPI document (where ``#/$defs/...`` would point at nothing)."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return resolve(definitions[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


@router.post(
    "/results",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline_schema(ResultBatch)}},
        }
    },
)
async def push_results(request: Request, session: SessionDep, _: Agent) -> Accepted:
    """Store a batch of results (body: ``ResultBatch``). Late, duplicated and
    out-of-order results are fine; the batch is validated whole and one bad row refuses
    all of it, with a 422 whose ``loc`` names the row."""
    # Parsed and validated in one pass by pydantic-core, not json.loads then Python
    # objects: the difference is most of this endpoint's cost on a large batch.
    try:
        body = ResultBatch.model_validate_json(await request.body())
    except ValidationError as exc:
        # No "input" echoed back: it may be bytes that are not even UTF-8.
        raise RequestValidationError(
            [
                {"type": e["type"], "loc": ("body", *e["loc"]), "msg": e["msg"]}
                for e in exc.errors(include_url=False, include_context=False)
            ]
        ) from None
    now = to_epoch(datetime.now(UTC))
    second = timedelta(seconds=1)
    rows = [
        ResultIn(
            r.monitor_id,
            r.location,
            (r.checked_at - EPOCH) // second,  # to_epoch, inlined: thousands per batch
            r.ok,
            r.interval_seconds,
            r.latency_ms,
            r.status_code,
            r.error,
            r.warning,
        )
        for r in body.results
    ]
    try:
        accepted = await ingest(session, rows, now, request.app.state.monitors)
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

    # The JSON text of `locations` holds '"NAME"' for every monitor of the location
    # (names cannot contain quotes), so the database drops the others; the exact test
    # below stays the rule.
    monitors = await session.scalars(
        select(Monitor)
        .where(
            Monitor.enabled.is_(True),
            cast(Monitor.locations, String).like(f'%"{location}"%'),
        )
        .order_by(Monitor.id)
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
