"""The Alembic migrations: up, down, up again, and no drift from the models."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from app.db import Base, make_engine
from app.migrate import downgrade, upgrade
from tests.conftest import blocking


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


async def test_migrations_round_trip_and_match_the_models(db_url: str) -> None:
    # db_url arrives migrated to head.
    engine = make_engine(db_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
            assert await conn.run_sync(_tables) == set(Base.metadata.tables)
        blocking(downgrade, db_url, "base")
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == set()
        blocking(upgrade, db_url, "head")
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()
