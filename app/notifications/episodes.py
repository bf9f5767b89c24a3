"""Notification episodes: what is going on, kept in the database
(``NotificationEpisode``: a service down, a monitor degraded, a budget burning, an
incident's response target close), and the per-event periodic checks that open and
close them. Inserting the episode row is the claim to announce it, so a restart or a
second process never announces one twice. The down episodes are opened and closed by
the state-change handler (app.notifications.notifier), which also runs these checks
as its periodic pass; they only write messages and pending deliveries
(app.notifications.outbox).

- **reminder**: every ``notify_reminder_seconds`` while a service's down episode lasts.
  An episode whose service is no longer down by its latest handled change (late
  results took the outage back) is closed without a reminder.
- **degraded**: a monitor whose latest fresh result at some location passed with a
  warning (slow, certificate expiring): one message per episode. The episode ends
  after ``notify_degraded_clear_seconds`` without a warning, so a monitor hovering
  at its threshold is not announced on every other check.
- **incident**: an incident not acknowledged whose response target is missed within
  ``notify_incident_warn_seconds`` (app.incidents' clocks, on its support calendar):
  one message per incident.
- **budget**: more than ``notify_budget_burn_share`` of the month's error budget
  spent within the last hour (app.sla.budget, from the current-month figures); one
  message per episode, which ends when the last hour's share falls back under it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from fractions import Fraction

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import transaction
from app.models import Customer, NotificationEpisode, Service, StateChange
from app.monitoring.latest import LatestResults
from app.monitoring.roster import MonitorRoster
from app.monitoring.state_changes import SERVICE
from app.notifications import messages
from app.notifications.channels import recipients
from app.notifications.incidents import respond_deadlines
from app.notifications.messages import Message, Subject
from app.notifications.outbox import enqueue
from app.reporting.cache import CurrentMonthFigures
from app.reporting.compute import ServiceMonth
from app.sla.budget import budget_remaining, budget_seconds, burn_share, spent_within

DOWN, DEGRADED, BUDGET, INCIDENT = "down", "degraded", "budget", "incident"
BURN_WINDOW = 3600  # seconds: "spent within the last hour"


async def service_subjects(
    session: AsyncSession, service_ids: Collection[int]
) -> dict[int, Subject]:
    rows = await session.execute(
        select(Service.id, Service.name, Customer.id, Customer.name)
        .join(Customer, Customer.id == Service.customer_id)
        .where(Service.id.in_(list(service_ids)))
    )
    return {
        sid: Subject(customer_id=cid, customer=cname, service_id=sid, service=sname)
        for sid, sname, cid, cname in rows
    }


async def episodes(
    session: AsyncSession, kind: str, subject_ids: Collection[int] | None = None
) -> dict[int, NotificationEpisode]:
    query = select(NotificationEpisode).where(NotificationEpisode.kind == kind)
    if subject_ids is not None:
        query = query.where(NotificationEpisode.subject_id.in_(list(subject_ids)))
    return {row.subject_id: row for row in await session.scalars(query)}


async def open_episode(
    session: AsyncSession, kind: str, subject_id: int, since: int, now: int, detail: str
) -> bool:
    """Insert the episode unless it is open already; whether this call opened it."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    result = await session.execute(
        insert(NotificationEpisode)
        .values(
            kind=kind,
            subject_id=subject_id,
            since=since,
            last_sent_at=now,
            reminders=0,
            clear_since=None,
            detail=detail[:500],
        )
        .on_conflict_do_nothing(index_elements=["kind", "subject_id"])
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def close_episode(session: AsyncSession, episode: NotificationEpisode) -> None:
    """Delete the episode through the session (it may hold changes to the row)."""
    await session.delete(episode)


class PeriodicChecks:
    """The periodic checks (degraded, budgets, reminders, incidents), one method
    each, and what they share with the state-change handler: the parts and
    ``_send``. ``Notifier`` (app.notifications.notifier) runs them as its pass."""

    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        roster: MonitorRoster,
        latest: LatestResults,
        figures: CurrentMonthFigures,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.roster = roster
        self.latest = latest
        self.figures = figures
        self.clock = clock
        self._figures_seen: dict[int, ServiceMonth] = {}

    async def _send(self, session: AsyncSession, message: Message, now: int) -> bool:
        subject = message.subject
        found = await recipients(
            session,
            [(subject.service_id, subject.customer_id)],
            message.event,
            self.settings.notify_urls,
        )
        return await enqueue(session, message, found[subject.service_id], now)

    async def degraded(self, now: int) -> None:
        changed = self.latest.take_changed()
        try:
            async with transaction(self.sessions) as session:
                held = await episodes(session, DEGRADED)
                for monitor_id in sorted(changed | set(held)):
                    await self._degraded_one(session, monitor_id, held.get(monitor_id), now)
        except BaseException:
            self.latest.changed |= changed  # look again next pass
            raise

    def _warnings(self, monitor_id: int, now: int) -> list[tuple[str, str]]:
        entry = self.roster.get(monitor_id)
        if entry is None or not entry.enabled:
            return []
        found = []
        for location, result in sorted(self.latest.of_monitor(monitor_id).items()):
            interval = result.interval_seconds or entry.interval_seconds
            fresh = result.checked_at >= now - 2 * interval
            if location in entry.locations and fresh and result.ok and result.warning:
                found.append((location, result.warning))
        return found

    async def _degraded_one(
        self,
        session: AsyncSession,
        monitor_id: int,
        episode: NotificationEpisode | None,
        now: int,
    ) -> None:
        warnings = self._warnings(monitor_id, now)
        entry = self.roster.get(monitor_id)
        if warnings and entry is not None:
            if episode is None:
                location, warning = warnings[0]
                if await open_episode(session, DEGRADED, monitor_id, now, now, warning):
                    subject = Subject(
                        customer_id=entry.customer_id,
                        customer=entry.customer_name,
                        service_id=entry.service_id,
                        service=entry.service_name,
                        monitor_id=entry.id,
                        monitor=entry.name,
                    )
                    await self._send(
                        session, messages.degraded(subject, now, location, warning), now
                    )
            elif episode.clear_since is not None:
                episode.clear_since = None  # degraded again within the quiet spell
        elif episode is not None:
            if entry is None or not entry.enabled:
                await close_episode(session, episode)  # deleted or paused
            elif episode.clear_since is None:
                episode.clear_since = now
            elif now - episode.clear_since >= self.settings.notify_degraded_clear_seconds:
                await close_episode(session, episode)

    async def budgets(self, now: int) -> None:
        """Services whose figures changed since the last pass (the cache replaces
        them then, and keeps the object while they are equal: unchanged figures hold
        no new downtime, so their burn can only fall), and those with an episode open
        (the hour slides on)."""
        items = dict(self.figures.items())
        changed = {sid for sid, item in items.items() if self._figures_seen.get(sid) is not item}
        async with transaction(self.sessions) as session:
            held = await episodes(session, BUDGET)
            burning = {
                sid
                for sid in changed | set(held)
                if sid in items and self._burning(items[sid], now)
            }
            for service_id, episode in held.items():
                if service_id not in burning:
                    await close_episode(session, episode)
            fresh = burning - set(held)
            if fresh:
                subjects = await service_subjects(session, fresh)
                for service_id in sorted(fresh):
                    if service_id in subjects:
                        await self._budget_message(
                            session, items[service_id], subjects[service_id], now
                        )
        self._figures_seen = items

    def _burning(self, item: ServiceMonth, now: int) -> bool:
        figures = item.figures
        window = (now - BURN_WINDOW, now)
        if not spent_within(figures.downtime_periods, window):
            return False  # the usual case, without fractions
        share = burn_share(
            figures.downtime_periods, window, figures.available_seconds, item.policy.target_percent
        )
        return share is not None and share > Fraction(self.settings.notify_budget_burn_share)

    async def _budget_message(
        self, session: AsyncSession, item: ServiceMonth, subject: Subject, now: int
    ) -> None:
        if not await open_episode(session, BUDGET, subject.service_id, now, now, ""):
            return  # another process announced it
        figures, target = item.figures, item.policy.target_percent
        window = (now - BURN_WINDOW, now)
        share = burn_share(figures.downtime_periods, window, figures.available_seconds, target)
        assert share is not None
        message = messages.budget(
            subject,
            now,
            spent_within(figures.downtime_periods, window),
            share,
            budget_seconds(figures.available_seconds, target),
            budget_remaining(figures.available_seconds, target, figures.downtime_seconds),
        )
        await self._send(session, message, now)

    async def reminders(self, now: int) -> None:
        every = self.settings.notify_reminder_seconds
        if not every:
            return
        async with transaction(self.sessions) as session:
            due = list(
                await session.scalars(
                    select(NotificationEpisode).where(
                        NotificationEpisode.kind == DOWN,
                        NotificationEpisode.last_sent_at <= now - every,
                    )
                )
            )
            if not due:
                return
            ids = [e.subject_id for e in due]
            states = await latest_handled_states(session, ids)
            subjects = await service_subjects(session, ids)
            for episode in due:
                subject = subjects.get(episode.subject_id)
                if subject is None or states.get(episode.subject_id) == "up":
                    # Deleted, or no longer down by the changes handed over (late
                    # results took the outage back): nothing to remind of.
                    await close_episode(session, episode)
                    continue
                claimed = await session.execute(
                    update(NotificationEpisode)
                    .where(
                        NotificationEpisode.kind == DOWN,
                        NotificationEpisode.subject_id == episode.subject_id,
                        NotificationEpisode.last_sent_at == episode.last_sent_at,
                    )
                    .values(last_sent_at=now, reminders=episode.reminders + 1)
                    .execution_options(synchronize_session=False)
                )
                if claimed.rowcount:  # type: ignore[attr-defined]
                    detail = episode.detail if episode.detail.startswith("No data") else ""
                    message = messages.reminder(
                        subject, episode.since, episode.reminders + 1, now, detail
                    )
                    await self._send(session, message, now)

    async def incidents(self, now: int) -> None:
        """Incidents whose response target is missed within
        ``notify_incident_warn_seconds`` (or already), not acknowledged: one message
        each. The episode goes when the incident is acknowledged or resolved."""
        warn = self.settings.notify_incident_warn_seconds
        async with transaction(self.sessions) as session:
            held = await episodes(session, INCIDENT)
            deadlines = {d.incident_id: d for d in await respond_deadlines(session, now)}
            for incident_id, episode in held.items():
                if incident_id not in deadlines:
                    await close_episode(session, episode)
            due = [
                d
                for d in deadlines.values()
                if d.due_at - now <= warn and d.incident_id not in held
            ]
            if not due:
                return
            subjects = await service_subjects(session, {d.service_id for d in due})
            for deadline in due:
                subject = subjects.get(deadline.service_id)
                if subject is None:
                    continue
                if await open_episode(session, INCIDENT, deadline.incident_id, now, now, ""):
                    message = messages.incident(
                        subject,
                        deadline.incident_id,
                        deadline.title,
                        deadline.priority,
                        deadline.due_at,
                        now,
                    )
                    await self._send(session, message, now)


async def latest_handled_states(
    session: AsyncSession, service_ids: Collection[int]
) -> dict[int, str]:
    """Each service's state after its latest state change handed over (processed)."""
    rows = await session.execute(
        select(StateChange.subject_id, StateChange.new)
        .where(
            StateChange.subject == SERVICE,
            StateChange.subject_id.in_(list(service_ids)),
            StateChange.processed_at.is_not(None),
        )
        .order_by(StateChange.subject_id, StateChange.at.desc(), StateChange.id.desc())
    )
    found: dict[int, str] = {}
    for subject_id, new in rows:
        found.setdefault(subject_id, new)
    return found
