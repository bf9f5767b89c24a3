"""Deciding what to tell: the state-change handler (down, up) and the notifier's
periodic pass (degraded monitors, error budgets burning fast, reminders while down).

Both only write messages and pending deliveries (app.notifications.outbox); sending
is the delivery loop's. What is going on is kept as episodes in the database
(``NotificationEpisode``: a service down, a monitor degraded, a budget burning), so a
restart or a second process never announces one twice: inserting the episode row is
the claim to announce it.

- **down / up**: from confirmed service state changes (the folded timeline, never a
  single check), one message per change. A service that goes from DOWN to NO DATA
  stays in its down episode (no message) until it is UP again, which is announced
  with the outage's length. Changes older than ``notify_max_age_seconds`` when they
  are handed over (a backlog after a long stop) update episodes but are not sent.
- **reminder**, **degraded**, **incident**, **budget**: the periodic checks, with the
  episode store, are app.notifications.episodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from app.availability import unreachable
from app.db import transaction
from app.models import NotificationEpisode
from app.monitoring.dispatch import Change
from app.monitoring.state_changes import SERVICE
from app.notifications import messages
from app.notifications.episodes import (
    DOWN,
    PeriodicChecks,
    close_episode,
    episodes,
    open_episode,
    service_subjects,
)
from app.notifications.messages import Message
from app.sla.periods import utc_text

log = logging.getLogger(__name__)


class Notifier(PeriodicChecks):
    """Decides messages; ``handle_changes`` is a state-change handler
    (``Runtime.change_handlers``), ``run`` the periodic pass."""

    # --- down and up: confirmed state changes -------------------------------------

    async def handle_changes(self, changes: Sequence[Change]) -> None:
        """Down and up messages for services' state changes (monitors' changes make
        none: a service is down when one of its monitors is, and says which)."""
        mine = [c for c in changes if c.subject == SERVICE]
        if not mine:
            return
        now = int(self.clock())
        oldest = now - self.settings.notify_max_age_seconds
        async with transaction(self.sessions) as session:
            ids = {c.subject_id for c in mine}
            subjects = await service_subjects(session, ids)
            held = await episodes(session, DOWN, ids)
            for change in mine:
                subject = subjects.get(change.subject_id)
                if subject is None:
                    continue  # the service was deleted
                episode = held.get(change.subject_id)
                message: Message | None = None
                if change.new == DOWN and episode is None:
                    sid = change.subject_id
                    await open_episode(session, DOWN, sid, change.at, now, change.reason)
                    opened = await session.get(NotificationEpisode, (DOWN, sid))
                    if opened is not None:
                        held[sid] = opened
                    message = messages.down(change.id, subject, change.at, change.reason)
                elif change.new == DOWN and episode is not None:
                    episode.detail = change.reason[:500]  # down again after no data
                elif change.new == "up" and episode is not None:
                    message = messages.up(change.id, subject, change.at, episode.since)
                    await close_episode(session, episode)
                    del held[change.subject_id]
                elif episode is not None:  # down -> no data: still not up
                    episode.detail = f"No data since {utc_text(change.at)}."
                if message is not None and change.at >= oldest:
                    await self._send(session, message, now)

    # --- the periodic pass ----------------------------------------------------------

    async def evaluate(self) -> None:
        """One pass: degraded monitors, burning budgets, reminders and incidents due."""
        now = int(self.clock())
        await self.degraded(now)
        await self.budgets(now)
        await self.reminders(now)
        await self.incidents(now)

    async def run(self, stop: asyncio.Event) -> None:
        """The periodic pass every ``notify_interval_seconds`` until ``stop``."""
        while not stop.is_set():
            try:
                await self.evaluate()
            except Exception as exc:
                if not unreachable(exc):  # an outage is logged once (app.availability)
                    log.exception("deciding notifications failed; will retry")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.notify_interval_seconds)
