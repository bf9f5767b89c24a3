"""The heartbeat rules: when a silent heartbeat monitor has failed, and how a ping is
stored. Pure functions of a ``MonitorSpec`` and instants (``now`` is an argument).

A heartbeat monitor has no probe: ``POST /heartbeat/{token}`` records an ``ok``
(app.api.heartbeat), and the server scheduler's watchdog records the failures these
rules name while pings are overdue (app.monitoring.server).
"""

from __future__ import annotations

import math

from app.monitoring.checks import MonitorSpec

DEFAULT_GRACE = 60  # seconds a heartbeat may be late before it is a failure


def grace_seconds(spec: MonitorSpec) -> int:
    """How late a ping may be before the monitor is DOWN."""
    return int(spec.options.get("grace_seconds", DEFAULT_GRACE))


def heartbeat_interval(spec: MonitorSpec) -> int:
    """The interval stored with a ping: a result stays fresh for twice its interval,
    so a ping holds exactly until the deadline (interval plus grace)."""
    return math.ceil((spec.interval_seconds + grace_seconds(spec)) / 2)


def overdue_failures(
    spec: MonitorSpec,
    last: tuple[int, bool] | None,
    now: int,
    limit: int = 1000,
    listening_since: int | None = None,
) -> list[int]:
    """The instants at which a silent heartbeat monitor failed, up to ``now``.

    The first failure is at the deadline (last ping + interval + grace, or creation +
    interval + grace if it never pinged); while the silence lasts, one more every
    interval, so the outage never goes stale into NO DATA.

    ``listening_since`` is when this server last started to be able to record pings
    (its start, or the end of a database outage): pings sent before could have been
    lost by us, so no failure is dated before a full interval plus grace after it. The
    silence until then is NO DATA, never the customer's downtime.
    """
    if last is None:
        due = spec.created_at + spec.interval_seconds + grace_seconds(spec)
    elif last[1]:
        due = last[0] + spec.interval_seconds + grace_seconds(spec)
    else:
        due = last[0] + spec.interval_seconds
    if listening_since is not None:
        due = max(due, listening_since + spec.interval_seconds + grace_seconds(spec))
    failures: list[int] = []
    while due <= now and len(failures) < limit:
        failures.append(due)
        due += spec.interval_seconds
    return failures


def overdue_error(spec: MonitorSpec) -> str:
    """The error stored with a watchdog's failure."""
    return f"no heartbeat for {spec.interval_seconds + grace_seconds(spec)} s"


def heartbeat_location(locations: tuple[str, ...] | list[str], here: str) -> str:
    """Where a heartbeat is recorded: this server's location if the monitor lists it."""
    return here if here in locations else locations[0]
