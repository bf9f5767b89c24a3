"""The monthly SLA report of a customer (API_CONTRACT.md, "Customers' views"):
JSON, CSV or HTML fit to print, for billing, admins and the customer itself."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from app.api.deps import MONTH_PATTERN, IdPath, Reader, SessionDep, load_customer, month_param
from app.api.errors import AUTHENTICATED, error_responses
from app.api.views import fold_for
from app.reporting.load import load_services
from app.reporting.report import monthly_report, report_csv
from app.status.render import render_report

router = APIRouter(prefix="/api/v1", tags=["billing"], responses=AUTHENTICATED)


@router.get(
    "/customers/{customer_id}/report",
    responses={
        **error_responses(404),
        200: {"content": {"application/json": {}, "text/csv": {}, "text/html": {}}},
    },
    response_class=Response,
)
async def customer_report(
    customer_id: IdPath,
    request: Request,
    session: SessionDep,
    who: Reader,
    month: str = Query(
        description="the customer's calendar month, YYYY-MM", json_schema_extra=MONTH_PATTERN
    ),
    format: Literal["json", "csv", "html"] = "json",
) -> Response:
    """Per service the month's figures exactly as ``/services/{id}/sla`` gives them (a
    closed month: its statement and any adjustment), a summary with the credits per
    currency, and the month's incidents and support compliance."""
    period = month_param(month)
    customer = await load_customer(session, who, customer_id)
    services = await load_services(session, customer_id=customer.id)
    pending = await fold_for(request, session, [s.id for s in services])
    report = await monthly_report(
        session, customer, period, datetime.now(UTC), public_only=who.customer_id is not None
    )
    report["pending_results"] = pending
    name = f"sla-report-{customer.slug}-{period}"
    if format == "csv":
        return Response(
            report_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if format == "html":
        return HTMLResponse(render_report(report))
    return JSONResponse(report)
