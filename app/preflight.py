"""What a command checks before it uses the database, and how a database that cannot
be used is reported: one line that names the database and the reason, never a
traceback.

- ``require_database``: for commands that work on an existing database (``uptally keys``,
  ``incidents``, ``status-link``): a SQLite file that does not exist is reported, not
  created empty; the database must answer and be migrated to this code's head.
- ``unusable``: the line for a database error raised anywhere (``uptally serve``
  migrating a database that is down, for one).
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from app.availability import unreachable


class DatabaseProblem(Exception):
    """The database cannot be used for this command; the message says why and what to do."""


def where(url: str) -> str:
    """The database as a person names it: a SQLite file's path, else host:port/name
    (never the password)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return str(Path(parsed.database or "").resolve())
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.host or 'localhost'}{port}/{parsed.database or ''}"


def reason(error: BaseException) -> str:
    """Why a connection failed, in a few words ("connection refused", "password
    authentication failed for user ...")."""
    error = getattr(error, "orig", None) or error
    if isinstance(error, socket.gaierror):
        return f"cannot resolve the host ({error.strerror})"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused (is the server running, on that port?)"
    if isinstance(error, TimeoutError):
        return "no answer (timed out)"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    message = str(error).strip().splitlines()
    return message[0] if message else type(error).__name__


def unusable(url: str, error: BaseException) -> str | None:
    """The one line for a database error (None: not the database's fault)."""
    if not unreachable(error):
        return None
    return f"cannot use the database at {where(url)}: {reason(error)}"


def require_database(url: str) -> None:
    """Raise ``DatabaseProblem`` unless ``url`` names an existing database that answers
    and is migrated to this code's head revision. Creates nothing."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        if parsed.database in (None, "", ":memory:") or not path.is_file():
            raise DatabaseProblem(
                f"no database at {where(url)} (UPTALLY_DATABASE_URL); create it with "
                "'uptally db upgrade' (or 'uptally serve'), or point UPTALLY_DATABASE_URL "
                "at yours. Nothing was written."
            )
    current = asyncio.run(_revision(url))
    head = _head()
    if current is None:
        raise DatabaseProblem(
            f"the database at {where(url)} has no Uptally schema; run 'uptally db upgrade' "
            "first. Nothing was written."
        )
    if current != head:
        raise DatabaseProblem(
            f"the database at {where(url)} is at revision {current}, this Uptally needs "
            f"{head}; run 'uptally db upgrade'. Nothing was written."
        )


async def _revision(url: str) -> str | None:
    from app.db import make_engine

    engine = make_engine(url, connect_timeout=5)
    try:
        async with engine.connect() as connection:
            try:
                revision = await connection.scalar(text("SELECT version_num FROM alembic_version"))
            except (OperationalError, ProgrammingError) as exc:
                if "alembic_version" not in str(exc):
                    raise
                return None  # no such table: never migrated
            return str(revision) if revision is not None else None
    except (DBAPIError, OSError) as exc:
        raise DatabaseProblem(f"cannot use the database at {where(url)}: {reason(exc)}") from None
    finally:
        await engine.dispose()


def _head() -> str:
    from alembic.script import ScriptDirectory

    from app.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    return str(head)
