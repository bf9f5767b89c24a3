"""SIGTERM during a database outage loses nothing: what the result buffer could not
write is spilled to a local spool file on stop, and the next start writes it through
the normal ingestion and deletes the file (both databases)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.config import Settings
from app.db import make_engine, make_sessionmaker
from app.main import create_app, spool_path
from app.models import CheckResult
from app.monitoring.checks import ResultIn
from app.sla.periods import to_epoch
from tests.conftest import asgi_api
from tests.helpers import make_service, until
from tests.monitoring.test_outage import broken_url, heartbeat_monitor


def spooled(path: Path) -> list[int]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT seq FROM pending")]


async def test_results_pending_at_stop_during_an_outage_are_spooled_and_written_on_start(
    settings: Settings, db_url: str, tmp_path: Path
) -> None:
    spool = tmp_path / "spool" / "results.db"
    spool.parent.mkdir()
    running = settings.model_copy(update={"scheduler_enabled": True, "spool_path": str(spool)})
    now = to_epoch(datetime.now(UTC))

    application = create_app(running)
    runtime: Any = application.state.runtime
    broken = make_engine(broken_url(db_url))
    try:
        async with application.router.lifespan_context(application), asgi_api(application) as api:
            monitor = await heartbeat_monitor(api, await make_service(api))
            path = "/heartbeat/" + monitor["heartbeat_url"].rsplit("/", 1)[1]
            await api.call("POST", path, token=None, expect=200)  # seen before
            buffer = runtime.buffer
            # The database goes away; results keep coming, then SIGTERM.
            runtime.sessions = buffer.sessions = make_sessionmaker(broken)
            await api.call("POST", path, token=None, expect=202)
            for offset in range(1, 6):
                buffer.add(
                    ResultIn(
                        monitor_id=monitor["id"],
                        location="local",
                        checked_at=now - 600 * offset,
                        ok=True,
                        interval_seconds=600,
                    )
                )
            assert len(buffer.pending) == 6
    finally:
        await broken.dispose()
    assert len(spooled(spool)) == 6  # nothing lost: on disk

    # The database is back: the next start writes the spool and deletes it.
    application = create_app(running)
    runtime = application.state.runtime
    async with application.router.lifespan_context(application):
        await until(lambda: not spool.exists(), "the spool to be written and deleted")

        async with runtime.sessions() as session:
            stored = set(
                await session.scalars(
                    select(CheckResult.checked_at).where(CheckResult.monitor_id == monitor["id"])
                )
            )
    assert {now - 600 * offset for offset in range(1, 6)} <= stored
    assert len(stored) >= 6  # and the two pings (one stored row if in the same second)


def test_the_spool_lives_next_to_a_sqlite_database_or_where_it_is_told() -> None:
    assert spool_path(Settings(database_url="sqlite:///data/uptally.db")) == Path(
        "data/uptally.spool.db"
    )
    assert spool_path(Settings(database_url="postgresql://u@db/uptally")) == Path(
        "uptally-spool.db"
    )
    assert spool_path(
        Settings(database_url="postgresql://u@db/uptally", spool_path="/var/lib/u/s.db")
    ) == Path("/var/lib/u/s.db")
