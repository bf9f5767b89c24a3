"""Check results from remote agents, and the monitors each location must probe."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pydantic_core
from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from app.api.deps import Agent, AgentPagingDep, MonitorsDep, RuntimeDep, SessionDep
from app.api.errors import AUTHENTICATED, error_entry, error_responses, invalid, located
from app.monitoring.assignments import build_assignment, etag_for, page_body
from app.monitoring.checks import ResultIn
from app.monitoring.ingest import MAX_ERRORS, BatchError, BatchRefused, bad_rows, ingest
from app.schemas.common import LOCATION_RE, Page
from app.schemas.monitors import MonitorRead
from app.schemas.sla import Accepted, ResultBatch, ResultRow
from app.sla.periods import EPOCH, to_epoch

router = APIRouter(prefix="/api/v1", tags=["results"], responses=AUTHENTICATED)


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


# The most rows a batch may hold (ResultBatch's own limit), checked before any row is
# validated: pydantic validates every row of a list before it finds it too long.
SECOND = timedelta(seconds=1)
MAX_ROWS: int = ResultBatch.model_json_schema()["properties"]["results"]["maxItems"]


def rows_in(raw: bytes) -> int | None:
    """How many rows ``raw`` holds when that could be over ``MAX_ROWS`` (None: it
    cannot, or it is not even a batch; validation says what is wrong). Rows are
    separated by commas, so fewer commas than ``MAX_ROWS`` settles it with a byte
    count (the agent's batches of 1,000 rows); otherwise the body is parsed to count
    its rows, not validated."""
    if raw.count(b",") < MAX_ROWS:
        return None
    try:
        parsed = pydantic_core.from_json(raw)
    except ValueError:
        return None
    rows = parsed.get("results") if isinstance(parsed, dict) else None
    return len(rows) if isinstance(rows, list) else None


class InvalidBatch(Exception):
    """The batch failed validation: pydantic's errors (``loc`` under ``body``), and the
    rows that passed (with their index), which still get the endpoint's own checks so
    that the 422 names every bad row at once."""

    def __init__(self, errors: list[dict[str, Any]], rest: list[tuple[int, ResultRow]]) -> None:
        super().__init__(f"{len(errors)} error(s)")
        self.errors = errors
        self.rest = rest


def parse_batch(raw: bytes) -> ResultBatch:
    """The batch in ``raw``: too many rows is a 422 before any row is validated; then
    parsed and validated in one pass by pydantic-core, not json.loads then Python
    objects (the difference is most of this endpoint's cost on a large batch).
    Invalid rows raise ``InvalidBatch``."""
    rows = rows_in(raw)
    if rows is not None and rows > MAX_ROWS:
        raise invalid(
            ("body", "results"),
            f"a batch holds at most {MAX_ROWS:,} results, this one {rows:,}: "
            "send them in smaller batches",
            type="too_long",
        )
    try:
        return ResultBatch.model_validate_json(raw)
    except ValidationError as exc:
        # No "input" echoed back: it may be bytes that are not even UTF-8.
        errors = list(located(exc, ("body",), with_input=False, limit=MAX_ERRORS).errors())
        raise InvalidBatch(errors, _valid_rows(raw, errors)) from None


def _valid_rows(raw: bytes, errors: list[dict[str, Any]]) -> list[tuple[int, ResultRow]]:
    """The rows of a refused batch that pydantic found nothing wrong with, when every
    error is a row's (none when the body itself is wrong, or the errors were cut off)."""
    bad: set[int] = set()
    for error in errors:
        loc = error["loc"]
        if len(loc) < 3 or loc[1] != "results" or not isinstance(loc[2], int):
            return []
        bad.add(loc[2])
    if len(errors) >= MAX_ERRORS:
        return []
    try:
        items = pydantic_core.from_json(raw)["results"]
    except (ValueError, KeyError, TypeError):
        return []
    rest = []
    for index, item in enumerate(items):
        if index not in bad:
            try:  # from JSON text again: exactly the batch's own validation
                rest.append((index, ResultRow.model_validate_json(pydantic_core.to_json(item))))
            except ValidationError:
                continue
    return rest


def result_in(r: ResultRow) -> ResultIn:
    """A validated row as ingestion takes it (``checked_at`` in whole epoch seconds)."""
    return ResultIn(
        monitor_id=r.monitor_id,
        location=r.location,
        checked_at=(r.checked_at - EPOCH) // SECOND,  # to_epoch, inlined: thousands
        ok=r.ok,
        interval_seconds=r.interval_seconds,
        latency_ms=r.latency_ms,
        status_code=r.status_code,
        error=r.error,
        warning=r.warning,
        timings=r.timings,  # type: ignore[arg-type]  # Phase keys are str
        cert_expires_at=None if r.cert_expires_at is None else to_epoch(r.cert_expires_at),
    )


def refused(error: BatchError, row: ResultRow) -> dict[str, Any]:
    """The 422 entry for a row ingestion refuses."""
    return error_entry(
        ("body", "results", error.index, error.field),
        f"row {error.index}: {error}",
        getattr(row, error.field),
    )


def _row_of(error: dict[str, Any]) -> int:
    loc = error["loc"]
    return loc[2] if len(loc) >= 3 and isinstance(loc[2], int) else -1


@router.post(
    "/results",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    # 409: a row's monitor was deleted while the batch was being stored (the retry is a 422).
    responses=error_responses(409, 413),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline_schema(ResultBatch)}},
        }
    },
)
async def push_results(
    request: Request, session: SessionDep, monitors: MonitorsDep, who: Agent, runtime: RuntimeDep
) -> Accepted:
    """Store a batch of results (body: ``ResultBatch``). Late, duplicated and
    out-of-order results are fine; the batch is validated whole and one bad row refuses
    all of it, with a 422 naming every bad row (up to 1,000 errors, each ``loc``
    ``["body", "results", ROW, FIELD]``); nothing of a refused batch is stored. An agent
    key pushes results for the locations it is bound to only: a row for another is a 403
    naming the row, and nothing of the batch is stored."""
    now = to_epoch(datetime.now(UTC))
    try:
        body = parse_batch(await request.body())
    except InvalidBatch as exc:
        errors = exc.errors
        if exc.rest:
            rows = [(index, result_in(r)) for index, r in exc.rest]
            found = await bad_rows(session, rows, now, monitors, MAX_ERRORS - len(errors))
            rests = dict(exc.rest)
            errors = sorted([*errors, *(refused(e, rests[e.index]) for e in found)], key=_row_of)
        raise RequestValidationError(errors) from None
    if who.locations is not None:
        for index, result in enumerate(body.results):
            if not who.may_probe(result.location):
                raise HTTPException(
                    status.HTTP_403_FORBIDDEN,
                    f"results row {index}: {who.bound_to()}; it may not push results "
                    f"for {result.location!r}",
                )
    started = time.perf_counter()
    batch = [result_in(r) for r in body.results]
    try:
        accepted = await ingest(session, batch, now, monitors)
    except BatchRefused as exc:
        raise RequestValidationError(
            [refused(e, body.results[e.index]) for e in exc.errors]
        ) from None
    await session.commit()
    runtime.stored("api", batch, time.perf_counter() - started)
    return Accepted(accepted=accepted)


# K/N, N at most 10,000 (the agent's --shard).
SHARD_RE = re.compile(r"(\d{1,5})/(\d{1,5})")
MAX_SHARDS = 10_000


def shard_param(text: str) -> tuple[int, int]:
    """``K/N`` as (K, N), or a 422 naming ``["query", "shard"]``."""
    match = SHARD_RE.fullmatch(text)
    index, count = (int(match[1]), int(match[2])) if match else (-1, 0)
    if not 1 <= count <= MAX_SHARDS or not 0 <= index < count:
        raise invalid(
            ("query", "shard"),
            f"expected K/N with 0 <= K < N <= {MAX_SHARDS:,}, e.g. 0/2",
            text,
        )
    return index, count


@router.get(
    "/agent/monitors",
    response_model=Page[MonitorRead],
    responses={304: {"description": "not modified: the If-None-Match ETag is current"}},
)
async def agent_monitors(
    request: Request,
    session: SessionDep,
    who: Agent,
    page: AgentPagingDep,
    runtime: RuntimeDep,
    location: str = Query(pattern=LOCATION_RE),
    shard: str = Query(
        "0/1",
        max_length=11,
        description="K/N: only the monitors with id % N == K (what `uptally agent --shard` "
        "probes); 0/1 is all of them",
    ),
) -> Any:
    """The enabled monitors that list ``location`` (of ``shard``, if given), with
    everything a probe needs, by id. The ``ETag`` is the version of the whole list, the
    same on every page: send it as ``If-None-Match`` to get a 304 when nothing changed
    (a 304 for the first page means no page changed; a page with another ETag means the
    list changed while it was being read). A 304 costs one query at most (the catalog
    version, read at most once a second); the list itself is built once per catalog
    version and cached (app.monitoring.assignments). An agent key
    reads the locations it is bound to only (another is a 403 naming them)."""
    if not who.may_probe(location):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"{who.bound_to()}; it may not read {location!r}'s monitors"
        )
    part = shard_param(shard)
    base = runtime.settings.public_url or str(request.base_url)
    version = await runtime.assignments.version(session)
    etag = etag_for(version, location, part, base)
    if request.headers.get("if-none-match") == etag:
        raise HTTPException(status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
    built = await runtime.assignments.get(
        location, base, version, lambda: build_assignment(session, location, base)
    )
    items = built.view(part)
    body = page_body(
        items[page.offset : page.offset + page.limit], len(items), page.limit, page.offset
    )
    return Response(body, media_type="application/json", headers={"ETag": etag})
