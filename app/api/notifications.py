"""Notification channels per customer and per service (admin), and the record of what
was sent. URLs are secrets: accepted whole, shown masked (app.notifications.channels)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from sqlalchemy import func, select

from app.api.deps import (
    Admin,
    IdFilter,
    IdPath,
    PagingDep,
    SessionDep,
    load_customer,
    load_service,
)
from app.api.errors import AUTHENTICATED, error_entry, error_responses
from app.models import NotificationChannel, NotificationDelivery, NotificationMessage
from app.notifications.channels import list_channels, mask, replace_channels, url_problem
from app.schemas.common import Page, utc_now
from app.schemas.notifications import (
    ALL_EVENTS,
    ChannelRead,
    ChannelsIn,
    ChannelsRead,
    DeliveryRead,
    Event,
)
from app.sla.periods import utc_text

router = APIRouter(tags=["notifications"], responses=AUTHENTICATED)


def _read(channels: list[NotificationChannel]) -> list[ChannelRead]:
    return [ChannelRead(id=c.id, url=mask(c.url), events=list(c.events)) for c in channels]


def _checked(
    body: ChannelsIn, current: list[NotificationChannel]
) -> list[tuple[int | None, str | None, list[str]]]:
    """The wanted list, or a 422 naming every bad channel (a URL Apprise cannot use,
    an id that is not one of this list's, a channel or URL given twice). Bad URLs are
    echoed masked."""
    mine = {c.id: c for c in current}
    errors: list[dict[str, Any]] = []
    wanted: list[tuple[int | None, str | None, list[str]]] = []
    ids: set[int] = set()
    urls: set[str] = set()
    for index, item in enumerate(body.channels):
        loc = ("body", "channels", index)
        if item.id is not None:
            if item.id not in mine:
                errors.append(
                    error_entry((*loc, "id"), f"channel {item.id} is not in this list", item.id)
                )
            elif item.id in ids:
                errors.append(
                    error_entry((*loc, "id"), f"channel {item.id} is named twice", item.id)
                )
            ids.add(item.id)
        url = item.url
        if url is not None:
            problem = url_problem(url)
            if problem is not None:
                errors.append(error_entry((*loc, "url"), problem, mask(url)))
        effective = url if url is not None else (mine[item.id].url if item.id in mine else None)
        if effective is not None:
            if effective in urls:
                errors.append(
                    error_entry((*loc, "url"), "this URL is in the list twice", mask(effective))
                )
            urls.add(effective)
        events: list[str] = list(item.events if item.events is not None else ALL_EVENTS)
        wanted.append((item.id, url, events))
    if errors:
        raise RequestValidationError(errors)
    return wanted


@router.get(
    "/api/v1/customers/{customer_id}/notifications",
    response_model=ChannelsRead,
    responses=error_responses(404),
)
async def read_customer_channels(
    customer_id: IdPath, session: SessionDep, who: Admin
) -> ChannelsRead:
    """The customer's channels (told of every service of the customer), URLs masked."""
    await load_customer(session, who, customer_id)
    channels = await list_channels(session, customer_id=customer_id)
    return ChannelsRead(customer_id=customer_id, channels=_read(channels))


@router.put(
    "/api/v1/customers/{customer_id}/notifications",
    response_model=ChannelsRead,
    responses=error_responses(404, 413),
)
async def set_customer_channels(
    customer_id: IdPath, body: ChannelsIn, session: SessionDep, who: Admin
) -> ChannelsRead:
    """Replace the customer's list: each item a new ``url`` or the ``id`` of a stored
    channel to keep (without sending its secret again), with the ``events`` it wants
    (default all). Channels not named are removed; ``{"channels": []}`` removes all."""
    await load_customer(session, who, customer_id)
    current = await list_channels(session, customer_id=customer_id)
    wanted = _checked(body, current)
    channels = await replace_channels(
        session, customer_id=customer_id, service_id=None, wanted=wanted, created_at=utc_now()
    )
    await session.commit()
    return ChannelsRead(customer_id=customer_id, channels=_read(channels))


@router.get(
    "/api/v1/services/{service_id}/notifications",
    response_model=ChannelsRead,
    responses=error_responses(404),
)
async def read_service_channels(
    service_id: IdPath, session: SessionDep, who: Admin
) -> ChannelsRead:
    """The service's own channels (its customer's are told too), URLs masked."""
    await load_service(session, who, service_id)
    channels = await list_channels(session, service_id=service_id)
    return ChannelsRead(service_id=service_id, channels=_read(channels))


@router.put(
    "/api/v1/services/{service_id}/notifications",
    response_model=ChannelsRead,
    responses=error_responses(404, 413),
)
async def set_service_channels(
    service_id: IdPath, body: ChannelsIn, session: SessionDep, who: Admin
) -> ChannelsRead:
    """Replace the service's list, as for a customer."""
    await load_service(session, who, service_id)
    current = await list_channels(session, service_id=service_id)
    wanted = _checked(body, current)
    channels = await replace_channels(
        session, customer_id=None, service_id=service_id, wanted=wanted, created_at=utc_now()
    )
    await session.commit()
    return ChannelsRead(service_id=service_id, channels=_read(channels))


Status = Literal["pending", "sent", "failed"]


@router.get("/api/v1/notifications/deliveries", response_model=Page[DeliveryRead])
async def list_deliveries(
    session: SessionDep,
    _: Admin,
    page: PagingDep,
    customer_id: IdFilter = None,
    service_id: IdFilter = None,
    status: Annotated[Status | None, Query(description="pending, sent or failed")] = None,
    event: Annotated[Event | None, Query(description="the event the message was about")] = None,
) -> dict[str, Any]:
    """What was sent, or is being tried, newest first: one item per message and
    channel, with the attempts made and the last error. URLs masked."""
    query = (
        select(NotificationDelivery, NotificationMessage)
        .join(NotificationMessage, NotificationMessage.id == NotificationDelivery.message_id)
        .order_by(NotificationDelivery.id.desc())
    )
    if customer_id is not None:
        query = query.where(NotificationMessage.customer_id == customer_id)
    if service_id is not None:
        query = query.where(NotificationMessage.service_id == service_id)
    if status is not None:
        query = query.where(NotificationDelivery.status == status)
    if event is not None:
        query = query.where(NotificationMessage.event == event)
    items = [
        DeliveryRead(
            id=delivery.id,
            message_id=message.id,
            event=message.event,
            title=message.title,
            body=message.body,
            customer_id=message.customer_id,
            service_id=message.service_id,
            monitor_id=message.monitor_id,
            channel_id=delivery.channel_id,
            channel=delivery.channel,
            status=delivery.status,
            attempts=delivery.attempts,
            created_at=utc_text(delivery.created_at),
            next_attempt_at=(
                utc_text(delivery.next_attempt_at) if delivery.status == "pending" else None
            ),
            sent_at=utc_text(delivery.sent_at) if delivery.sent_at is not None else None,
            last_error=delivery.last_error,
        )
        for delivery, message in await session.execute(query.limit(page.limit).offset(page.offset))
    ]
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    return page.envelope(items, int(total or 0))
