"""The agent's disk buffer: results waiting to be sent, and the last assignment, in
one SQLite file (the standard library's ``sqlite3``, not the server's database layer).

Each call is one transaction, so a write costs one fsync however many rows it holds.
The runner calls it from a worker thread (``asyncio.to_thread``), never on the event
loop: a lock serialises the calls, and the connection may be used from any thread.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.monitoring.checks import ResultIn

_FIELDS = ResultIn.__slots__  # the row's fields, for a cheap dict (asdict deep-copies)


def encode(row: ResultIn) -> str:
    return json.dumps({name: getattr(row, name) for name in _FIELDS})


class DiskBuffer:
    """Results in the order they were added, and small named values (the assignment)."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.lock = threading.Lock()
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS pending (seq INTEGER PRIMARY KEY AUTOINCREMENT, row TEXT)"
        )
        self.db.execute("CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT)")
        # Rows waiting, kept in step by add and remove (for /metrics: no count(*) scan).
        self.pending: int = self.db.execute("SELECT count(*) FROM pending").fetchone()[0]

    def add(self, row: ResultIn) -> None:
        self.add_many([row])

    def add_many(self, rows: Sequence[ResultIn]) -> None:
        """Add rows in one transaction (all of them or none)."""
        encoded = [(encode(r),) for r in rows]
        with self.lock, self.db:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT INTO pending (row) VALUES (?)", encoded)
            self.pending += len(encoded)

    def oldest(self, limit: int) -> list[tuple[int, ResultIn]]:
        with self.lock:
            rows = self.db.execute(
                "SELECT seq, row FROM pending ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [(seq, ResultIn(**json.loads(text))) for seq, text in rows]

    def remove(self, seqs: Sequence[int]) -> None:
        """Remove rows in one transaction (one fsync, not one per row)."""
        with self.lock, self.db:
            self.db.execute("BEGIN")
            removed = self.db.executemany(
                "DELETE FROM pending WHERE seq = ?", [(s,) for s in seqs]
            ).rowcount
            self.pending -= max(0, removed)

    def count(self) -> int:
        with self.lock:
            count: int = self.db.execute("SELECT count(*) FROM pending").fetchone()[0]
        return count

    def save(self, key: str, value: Any) -> None:
        text = json.dumps(value)
        with self.lock:
            self.db.execute(
                "INSERT INTO state (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, text),
            )

    def load(self, key: str) -> Any:
        with self.lock:
            row = self.db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def close(self) -> None:
        with self.lock:
            self.db.close()
