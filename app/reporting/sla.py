"""A month's SLA documents of some services, open or closed: what
``GET /services/{id}/sla`` answers and what the monthly report lists, from one code
path (an open month as of now; a closed one from its statement, with any adjustment
late data has made since)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Statement
from app.reporting.adjustments import adjustments
from app.reporting.documents import adjustment_document, figures_document, statement_document
from app.reporting.load import ServiceInfo
from app.reporting.statements import (
    existed_in,
    month_figures_for,
    read_statement,
    statements_for,
)
from app.sla.periods import Month, to_epoch, utc_text


async def sla_documents(
    session: AsyncSession, services: Sequence[ServiceInfo], month: Month, now: datetime
) -> list[dict[str, Any]]:
    """Each service's SLA document for ``month``, in the order given. Fold first if
    results may be pending."""
    if not services:
        return []
    ids = [s.id for s in services]
    current = await month_figures_for(session, services, month, now)
    statements = await statements_for(session, month, ids)
    changes = await adjustments(
        session,
        [statements[i] for i in ids if i in statements],
        {item.service.id: item for item in current},
        now,
    )
    documents = []
    for item in current:
        statement = statements.get(item.service.id)
        if statement is None:
            documents.append(
                {
                    **figures_document(item),
                    "status": "open",
                    "as_of": utc_text(to_epoch(now)),
                    "statement_digest": None,
                    "adjustment": None,
                }
            )
            continue
        documents.append(
            {
                **statement_document(read_statement(statement.content)),
                "status": "closed",
                "as_of": utc_text(to_epoch(statement.closed_at)),
                "statement_digest": statement.digest,
                "adjustment": adjustment_document(changes.get(item.service.id)),
            }
        )
    return documents


async def services_of_month(
    session: AsyncSession, services: Sequence[ServiceInfo], month: Month
) -> list[ServiceInfo]:
    """The services a month's figures list: those that existed in it, and any its
    close froze (whatever their dates say now)."""
    frozen = set(
        await session.scalars(select(Statement.service_id).where(Statement.month == str(month)))
    )
    return [s for s in services if s.id in frozen or existed_in(s, month)]
