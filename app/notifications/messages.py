"""What each event says, and when a failed delivery is tried again. Pure: names,
instants and figures in, text out.

Each message has a ``key`` that names the event itself (the state change's row, the
episode and its start, the reminder's number), so deciding it twice, in two passes
or two processes, makes one message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from app.sla.periods import utc_text

# Apprise's notify types, by event: how a channel colours or flags the message.
FAILURE, SUCCESS, WARNING, INFO = "failure", "success", "warning", "info"
TYPES = {
    "down": FAILURE,
    "up": SUCCESS,
    "reminder": FAILURE,
    "degraded": WARNING,
    "budget": WARNING,
    "incident": WARNING,
}


@dataclass(frozen=True, slots=True)
class Subject:
    """Whom a message is about, by id and by name."""

    customer_id: int
    customer: str  # name
    service_id: int
    service: str  # name
    monitor_id: int | None = None
    monitor: str | None = None

    @property
    def where(self) -> str:
        text = f"{self.customer} / {self.service}"
        return f"{text} / {self.monitor}" if self.monitor else text


@dataclass(frozen=True, slots=True)
class Message:
    key: str
    event: str
    subject: Subject
    title: str
    body: str

    @property
    def notify_type(self) -> str:
        return TYPES.get(self.event, INFO)


def duration(seconds: int) -> str:
    """``2 h 5 min``, ``45 s``: how long, for a person."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days} d"] if days else []
    if hours:
        parts.append(f"{hours} h")
    if minutes and not days:
        parts.append(f"{minutes} min")
    if not parts:
        parts.append(f"{secs} s")
    return " ".join(parts)


def down(change_id: int, subject: Subject, at: int, reason: str) -> Message:
    return Message(
        key=f"change:{change_id}",
        event="down",
        subject=subject,
        title=f"DOWN: {subject.where}",
        body=f"{subject.service} ({subject.customer}) is down since {utc_text(at)}: {reason}",
    )


def up(change_id: int, subject: Subject, at: int, since: int) -> Message:
    return Message(
        key=f"change:{change_id}",
        event="up",
        subject=subject,
        title=f"UP: {subject.where}",
        body=f"{subject.service} ({subject.customer}) is up again since {utc_text(at)}, "
        f"after {duration(at - since)} down (from {utc_text(since)}).",
    )


def reminder(subject: Subject, since: int, number: int, now: int, detail: str) -> Message:
    return Message(
        key=f"reminder:{subject.service_id}:{since}:{number}",
        event="reminder",
        subject=subject,
        title=f"STILL DOWN: {subject.where}",
        body=f"{subject.service} ({subject.customer}) has been down for "
        f"{duration(now - since)}, since {utc_text(since)}. {detail}".rstrip(),
    )


def degraded(subject: Subject, since: int, location: str, warning: str) -> Message:
    return Message(
        key=f"degraded:{subject.monitor_id}:{since}",
        event="degraded",
        subject=subject,
        title=f"DEGRADED: {subject.where}",
        body=f"{subject.monitor} of {subject.service} ({subject.customer}) passes with a "
        f"warning at {location} since {utc_text(since)}: {warning}",
    )


def budget(
    subject: Subject,
    since: int,
    spent_seconds: int,
    share: Fraction,
    budget_seconds: Fraction,
    remaining_seconds: Fraction,
) -> Message:
    percent = math.floor(share * 1000) / 10  # 1 decimal, never rounded up
    left = math.floor(remaining_seconds)
    return Message(
        key=f"budget:{subject.service_id}:{since}",
        event="budget",
        subject=subject,
        title=f"ERROR BUDGET BURNING: {subject.where}",
        body=f"{subject.service} ({subject.customer}) had {duration(spent_seconds)} of "
        f"downtime in the last hour: {percent}% of this month's error budget "
        f"({duration(math.floor(budget_seconds))}). "
        + (
            f"{duration(left)} of it left."
            if left >= 0
            else f"The budget is spent: {duration(-left)} over."
        ),
    )


def incident(
    subject: Subject, incident_id: int, title: str, priority: str, due_at: int, now: int
) -> Message:
    left = due_at - now
    when = f"in {duration(left)}" if left > 0 else f"{duration(-left)} ago"
    return Message(
        key=f"incident:{incident_id}:respond",
        event="incident",
        subject=subject,
        title=f"RESPONSE DUE: {subject.where}: incident #{incident_id} ({priority})",
        body=f"Incident #{incident_id} ({priority}) on {subject.service} ({subject.customer}), "
        f"{title!r}, is not acknowledged: its response target is missed {when}, at "
        f"{utc_text(due_at)}.",
    )


def retry_delay(attempts: int, first: float, maximum: float) -> int:
    """Seconds before the next try after ``attempts`` failed ones: ``first``, doubled
    each time, at most ``maximum``; whole seconds, at least one."""
    delay = min(first * 2.0 ** max(0, attempts - 1), maximum)
    return max(1, math.ceil(delay))
