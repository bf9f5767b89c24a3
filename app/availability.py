"""Whether this process can reach its database, and since when it has been listening
without a break.

The monitor's own outage is never the customer's downtime (SLA_RULES). While the
database is down, heartbeat pings cannot be recorded; after it (or the process) comes
back, a silent heartbeat monitor may only be failed once its cron has had a full
interval plus grace to ping again: until then its silence is NO DATA. The watchdog
reads ``listening_since`` for that. The outage is logged once when it starts and once
when it ends, however many requests fail meanwhile.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

# What a call raises when the database cannot be reached or answers no more (the
# drivers' errors come wrapped in DBAPIError; a refused or reset connection may come as
# OSError, a hang as TimeoutError, which is an OSError; every pooled connection stuck
# in a hung database as the pool's TimeoutError). IntegrityError is bad input.
UNREACHABLE: tuple[type[Exception], ...] = (DBAPIError, OSError, PoolTimeoutError)


def unreachable(error: BaseException) -> bool:
    return isinstance(error, UNREACHABLE) and not isinstance(error, IntegrityError)


log = logging.getLogger("uptally.database")


class DatabaseHealth:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.listening_since = int(clock())  # the process starts listening now
        self.down_since: int | None = None

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def failed(self, error: BaseException) -> None:
        """A database call failed for want of the database (not for bad input)."""
        if self.down_since is None:
            self.down_since = int(self.clock())
            log.error("database unreachable: %s: %s", type(error).__name__, error)

    def succeeded(self) -> None:
        """A database call went through: if it was down, listening starts again now."""
        if self.down_since is not None:
            now = int(self.clock())
            log.warning("database reachable again after %d s", now - self.down_since)
            self.listening_since = now
            self.down_since = None
