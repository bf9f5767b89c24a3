"""PostgreSQL plans per_id's LATERAL join as one index probe per id, even when the
table's statistics are older than its rows (app.reporting.load.per_id), in the
statement the fold reads state changes with (built once, run with parameters)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.monitoring.state_changes import MONITOR, _probes

SUBJECTS = 20_000


async def test_stale_statistics_do_not_turn_the_probes_into_a_scan(
    sessions: async_sessionmaker[AsyncSession], db_url: str
) -> None:
    """Statistics taken while state_changes was empty (as after a fresh install or a
    bench's seeding) make every range look tiny: without the fence the planner pulled
    the subquery up and hash-joined the ids against every subject's rows."""
    if not db_url.startswith("postgresql"):
        pytest.skip("per_id is PostgreSQL's")
    async with sessions() as session, session.begin():
        await session.execute(text("ANALYZE state_changes"))  # empty: stale from now on
        await session.execute(
            text(
                "INSERT INTO state_changes (subject, subject_id, at, old, new, reason) "
                "SELECT 'monitor', i, 1000 + i, 'up', 'no_data', '' "
                "FROM generate_series(1, :n) AS i"
            ),
            {"n": SUBJECTS},
        )
        compiled = _probes(MONITOR).compile(dialect=session.get_bind().dialect)
        given = compiled.construct_params({"ids": list(range(1, 501)), "since": 0})
        params = tuple(given[name] for name in compiled.positiontup or ())
        connection = await session.connection()
        plan = "\n".join(
            row[0]
            for row in await connection.exec_driver_sql(
                f"EXPLAIN (ANALYZE, COSTS OFF) {compiled}", params
            )
        )
        found = await connection.exec_driver_sql(str(compiled), params)
        assert len(found.all()) == 500
        await session.rollback()
    assert "Hash Join" not in plan, plan
    assert "Index Scan using ix_state_changes_subject_at" in plan, plan
    # One probe per id, each finding its one row, not one scan over every subject's.
    assert "rows=1 loops=500" in plan, plan
