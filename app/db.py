"""Database plumbing: the declarative Base, exact column types and engine factories.

SQLite has no decimal or time-zone-aware types, so the two column types here store
decimals as text and instants as UTC on SQLite, and use NUMERIC / TIMESTAMPTZ on
PostgreSQL. Either way Python sees ``Decimal`` and aware ``datetime`` objects, never
floats or naive times.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Executable, MetaData, Numeric, String, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator, TypeEngine

from app.sqlite_writes import serialise_writes

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def plain_decimal(value: Decimal) -> Decimal:
    """``Decimal('99.9000')`` -> ``Decimal('99.9')`` and ``1E+2`` -> ``100``."""
    return Decimal(format(value.normalize(), "f"))


class ExactDecimal(TypeDecorator[Decimal]):
    """NUMERIC(precision, scale) on PostgreSQL, text on SQLite; never a float."""

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int, scale: int) -> None:
        super().__init__(precision, scale, asdecimal=True)
        self.precision = precision
        self.scale = scale

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(self.precision + 2))
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        quantized = Decimal(value).quantize(Decimal(1).scaleb(-self.scale))
        return str(quantized) if dialect.name == "sqlite" else quantized

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return plain_decimal(Decimal(value))


class Money(ExactDecimal):
    """An amount with two decimal places (cents)."""

    cache_ok = True

    def __init__(self, precision: int = 18, scale: int = 2) -> None:
        super().__init__(precision, scale)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(value).quantize(Decimal("0.01"))


class Percent(ExactDecimal):
    """A percentage with up to six decimal places, e.g. ``99.95``."""

    cache_ok = True

    def __init__(self, precision: int = 12, scale: int = 6) -> None:
        super().__init__(precision, scale)


class UTCDateTime(TypeDecorator[datetime]):
    """An instant: stored as UTC, always returned time-zone aware (UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; give a time zone")
        value = value.astimezone(UTC)
        # SQLite compares instants as text: store them all in one (UTC, naive) form.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# How long a SQLite connection waits for another process's write lock. Writers of this
# process never wait on it: they take turns first (app.sqlite_writes).
SQLITE_BUSY_TIMEOUT_MS = 10_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def make_engine(
    database_url: str,
    *,
    connect_timeout: float | None = None,
    statement_timeout: float | None = None,
    **kwargs: Any,
) -> AsyncEngine:
    """An engine; with timeouts (the server's settings), a database that hangs makes
    calls fail (a 503) instead of waiting for ever: on PostgreSQL, connecting and
    waiting for a pooled connection give up after ``connect_timeout`` seconds and a
    statement after ``statement_timeout`` (asyncpg's ``command_timeout``, client side,
    so it holds when the network hangs too). SQLite's busy timeout bounds its waits."""
    if make_url(database_url).get_backend_name() == "postgresql":
        connect_args = dict(kwargs.pop("connect_args", {}))
        if connect_timeout is not None:
            connect_args.setdefault("timeout", connect_timeout)
            kwargs.setdefault("pool_timeout", connect_timeout)
        if statement_timeout is not None:
            connect_args.setdefault("command_timeout", statement_timeout)
        # The planner, for Uptally's statements (short index probes by monitor):
        # - no JIT: its row guesses for the per-id queries (app.reporting.load.per_id)
        #   are large enough to trigger compiling them, 200 ms for a 2 ms query;
        # - random_page_cost 1.1 (SSD storage; PostgreSQL's 4.0 assumes spinning
        #   disks): else a fold chunk joins 500 monitors by hashing the whole monitors
        #   table (35 ms at 60,000 monitors) rather than 500 primary-key probes (2 ms).
        server = connect_args.setdefault("server_settings", {})
        server.setdefault("jit", "off")
        server.setdefault("random_page_cost", "1.1")
        kwargs["connect_args"] = connect_args
    engine = create_async_engine(database_url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        # Writers take turns in order, not by busy-polling (app.sqlite_writes).
        serialise_writes(engine, engine.url.database)
    return engine


# Rows of a big load handled between two turns of the event loop: building services'
# figures from 2,000 rows held it for ~40 ms at a time, 500 hold it for ~10.
BATCH_ROWS = 500


async def batches(
    session: AsyncSession, query: Executable, *, big: bool
) -> AsyncIterator[Sequence[Any]]:
    """A query's rows, a batch at a time. A big load (every service's month for credits
    or the figures cache, the whole monitor roster: 100,000s of rows) streams from a
    server-side cursor, so the process's other requests run between batches: read
    whole, 30,000 services' rows held its event loop for 100-200 ms at a time. A small
    one is one round trip."""
    if not big:
        yield (await session.execute(query)).all()
        return
    result = await session.stream(query)
    async for batch in result.partitions(BATCH_ROWS):
        yield batch


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A session whose work commits on success and rolls back on any error."""
    async with sessions() as session, session.begin():
        yield session
