"""Channels: Apprise URLs, per customer and per service, each with the events it
wants. The URLs are secrets (tokens, passwords, webhook keys): stored as given, only
ever shown masked (``mask``), and dropped from a delivery's record once it is done.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

import apprise
from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import NotificationChannel

# What a channel may be told of. A channel lists the ones it wants (all by default).
EVENTS = ("down", "up", "reminder", "degraded", "budget", "incident")

SHOWN = 4  # trailing characters of a URL shown by `mask`
MIN_HIDDEN = 8  # a URL shorter than SHOWN + this shows none of its characters


def mask(url: str) -> str:
    """``json://…ab12``: the scheme and the last four characters, enough to tell
    channels apart, never enough to use one. A short URL shows its scheme only."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    tail = rest[-SHOWN:] if len(rest) >= SHOWN + MIN_HIDDEN else ""
    return f"{scheme}://…{tail}" if scheme else f"…{tail}"


class _Quiet(logging.Filter):
    """Drops Apprise's log records in a thread while it parses a URL for us: it logs a
    bad URL whole ("Unparseable URL ..."), and URLs are secrets."""

    local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(self.local, "quiet", False)


_QUIET = _Quiet()


def url_problem(url: str) -> str | None:
    """Why Apprise cannot use ``url`` (an unknown scheme, a malformed URL), or None.
    Nothing is contacted, and nothing of the URL is logged."""
    if not url.strip():
        return "an empty URL"
    logger = logging.getLogger(apprise.LOGGER_NAME)
    if _QUIET not in logger.filters:
        logger.addFilter(_QUIET)
    _QUIET.local.quiet = True
    try:
        plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    except Exception:  # Apprise's own parsers; any failure is a bad URL
        plugin = None
    finally:
        _QUIET.local.quiet = False
    if plugin is None:
        scheme = url.partition("://")[0] if "://" in url else ""
        if scheme:
            return f"Apprise cannot use this {scheme}:// URL (unknown scheme or bad syntax)"
        return "not an Apprise URL (scheme://...)"
    return None


@dataclass(frozen=True, slots=True)
class Recipient:
    """Where one message goes: a stored channel (``channel_id``) or one of the
    operators' URLs from settings (no id)."""

    channel_id: int | None
    url: str


async def list_channels(
    session: AsyncSession, *, customer_id: int | None = None, service_id: int | None = None
) -> list[NotificationChannel]:
    query = select(NotificationChannel).order_by(
        NotificationChannel.position, NotificationChannel.id
    )
    if customer_id is not None:
        query = query.where(NotificationChannel.customer_id == customer_id)
    else:
        query = query.where(NotificationChannel.service_id == service_id)
    return list(await session.scalars(query))


async def recipients(
    session: AsyncSession,
    subjects: Collection[tuple[int, int]],
    event: str,
    operators: Sequence[str] = (),
) -> dict[int, list[Recipient]]:
    """For each (service id, customer id) of ``subjects``: the channels of the service
    and of its customer that want ``event``, then the operators' URLs; each URL once.
    One query for all of them."""
    service_ids = {s for s, _ in subjects}
    customer_ids = {c for _, c in subjects}
    rows = list(
        await session.scalars(
            select(NotificationChannel)
            .where(
                or_(
                    NotificationChannel.service_id.in_(service_ids),
                    NotificationChannel.customer_id.in_(customer_ids),
                )
            )
            .order_by(NotificationChannel.position, NotificationChannel.id)
        )
    )
    found: dict[int, list[Recipient]] = {}
    for service_id, customer_id in subjects:
        chosen: list[Recipient] = []
        seen: set[str] = set()
        for owner_is_service in (True, False):
            for row in rows:
                mine = (
                    row.service_id == service_id
                    if owner_is_service
                    else row.customer_id == customer_id
                )
                if mine and event in row.events and row.url not in seen:
                    seen.add(row.url)
                    chosen.append(Recipient(row.id, row.url))
        for url in operators:
            if url not in seen:
                seen.add(url)
                chosen.append(Recipient(None, url))
        found[service_id] = chosen
    return found


async def replace_channels(
    session: AsyncSession,
    *,
    customer_id: int | None,
    service_id: int | None,
    wanted: Sequence[tuple[int | None, str | None, list[str]]],
    created_at: datetime,
) -> list[NotificationChannel]:
    """Make the owner's list ``wanted``, in order: (id of a stored channel to keep, or
    None; a new URL, or None to keep the stored one's; its events). Stored channels
    not named are removed. The caller checked that named ids are the owner's."""
    current = {
        c.id: c
        for c in await list_channels(session, customer_id=customer_id, service_id=service_id)
    }
    kept: set[int] = set()
    result: list[NotificationChannel] = []
    for position, (ident, url, events) in enumerate(wanted):
        if ident is not None:
            channel = current[ident]
            kept.add(ident)
            if url is not None:
                channel.url = url
            channel.events = list(events)
            channel.position = position
        else:
            assert url is not None
            channel = NotificationChannel(
                customer_id=customer_id,
                service_id=service_id,
                url=url,
                events=list(events),
                position=position,
                created_at=created_at,
            )
            session.add(channel)
        result.append(channel)
    gone = [ident for ident in current if ident not in kept]
    if gone:
        await session.execute(delete(NotificationChannel).where(NotificationChannel.id.in_(gone)))
    await session.flush()
    return result
