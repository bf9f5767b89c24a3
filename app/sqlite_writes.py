"""One writer at a time on SQLite, in arrival order, within a process.

SQLite lets one connection write at a time. A connection that finds the write lock
taken sleeps and polls (its busy handler: 1, 2, 5 ... 100 ms) and gives up with
``database is locked`` after ``busy_timeout``. The polling is not a queue: with a dozen
writers (agents pushing batches, the folder, heartbeats, catalog writes) the lock goes
to whoever polls at the right moment, and an unlucky writer can lose for the whole
10 s, so valid input got a 5xx (issue 8, item 9).

So every SQLite engine made by ``app.db.make_engine`` gets a FIFO ``asyncio.Lock`` (one
per database file and event loop, shared by the engines on it) that mirrors SQLite's
own write lock. Python's sqlite3 module (which aiosqlite drives)
opens a transaction only before the first INSERT, UPDATE, DELETE or REPLACE; reads
before it run in autocommit and hold nothing. The lock is taken at that same moment
(``before_cursor_execute``: the statement waits, its greenlet suspended, while other
tasks run) and given back when that connection commits, rolls back, is closed or is
terminated (the dialect's ``do_*`` calls, after the database has done it), or at once
after a write that did not open a transaction (autocommit). Reads never wait for it,
and a session that only reads never takes it, so nesting a writing session inside a
reading one (a report that folds first) cannot deadlock.

Writers therefore wait their turn in order and without a time limit, instead of
polling against each other; SQLite's busy timeout is left for other processes
(``uptally keys create``, a second server), which are rare writers.

A task that already holds the lock through one connection and writes through another
(a write nested in an unfinished write, which SQLite itself cannot serve) does not
wait for itself: that write goes to SQLite as before and its busy timeout decides.
PostgreSQL engines are left alone (row locks, no database-wide writer lock).
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util.concurrency import await_, in_greenlet

# The statements before which Python's sqlite3 module opens a transaction.
_WRITES = ("insert", "update", "delete", "replace")


@dataclass(eq=False)
class _Turn:
    """One event loop's writer lock and who holds it."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    holder: Any = None  # the DBAPI connection in a write transaction
    task: asyncio.Task[Any] | None = None  # the task that took the lock


class WriteTurns:
    """The writer lock of one SQLite engine (one per event loop using it)."""

    def __init__(self) -> None:
        self._turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Turn] = (
            weakref.WeakKeyDictionary()
        )

    def _turn(self) -> _Turn | None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None  # used synchronously: nothing to order
        turn = self._turns.get(loop)
        if turn is None:
            turn = self._turns[loop] = _Turn()
        return turn

    def before_write(self, dbapi_connection: Any) -> None:
        """Wait for the turn of this connection, about to open a write transaction.
        Runs in SQLAlchemy's greenlet, so it may await."""
        turn = self._turn()
        if turn is None or turn.holder is dbapi_connection or not in_greenlet():
            return
        task = asyncio.current_task()
        if turn.holder is not None and turn.task is task:
            return  # a write nested in this task's own: SQLite decides, as before
        await_(turn.lock.acquire())
        turn.holder, turn.task = dbapi_connection, task

    def ended(self, dbapi_connection: Any) -> None:
        """This connection's transaction is over (or it is gone): next writer."""
        for turn in list(self._turns.values()):
            if turn.holder is dbapi_connection:
                turn.holder, turn.task = None, None
                turn.lock.release()

    def settle(self, dbapi_connection: Any, driver_connection: Any) -> None:
        """After a write: if it opened no transaction (autocommit), it is over."""
        if not getattr(driver_connection, "in_transaction", True):
            self.ended(dbapi_connection)

    @property
    def held(self) -> bool:
        turn = self._turn()
        return turn is not None and turn.holder is not None


def _dbapi(connection: Any) -> Any:
    """The DBAPI connection behind a pool proxy, or the connection itself."""
    return getattr(connection, "dbapi_connection", connection)


def _after(turns: WriteTurns, method: Callable[[Any], None]) -> Callable[[Any], None]:
    def call(connection: Any) -> None:
        try:
            method(connection)
        finally:
            turns.ended(_dbapi(connection))

    return call


# One lock per database file, whichever engines of this process open it.
_FILES: dict[str, WriteTurns] = {}


def turns_for(database: str | None) -> WriteTurns:
    """The writer lock of a database file (a new one for an in-memory database)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return WriteTurns()
    path = os.path.realpath(database)
    turns = _FILES.get(path)
    if turns is None:
        turns = _FILES[path] = WriteTurns()
    return turns


def serialise_writes(engine: AsyncEngine, database: str | None) -> WriteTurns:
    """Give a SQLite engine the FIFO writer lock of its database file (see the
    module's docstring)."""
    turns = turns_for(database)
    sync_engine = engine.sync_engine

    def before_cursor_execute(conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip()[:7].lower().startswith(_WRITES):
            turns.before_write(conn.connection.dbapi_connection)

    def after_cursor_execute(conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        if turns.held and statement.lstrip()[:7].lower().startswith(_WRITES):
            proxied = conn.connection
            turns.settle(proxied.dbapi_connection, proxied.driver_connection)

    event.listen(sync_engine, "before_cursor_execute", before_cursor_execute)
    event.listen(sync_engine, "after_cursor_execute", after_cursor_execute)
    # After the database committed (or rolled back, or the connection went away): the
    # dialect's own calls, so the next writer never finds the previous one finishing.
    dialect: Dialect = sync_engine.dialect
    for name in ("do_commit", "do_rollback", "do_close", "do_terminate"):
        setattr(dialect, name, _after(turns, getattr(dialect, name)))
    return turns
