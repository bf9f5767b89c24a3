"""The agent's disk buffer: results waiting to be sent, and the last assignment, in
one SQLite file (the standard library's ``sqlite3``, not the server's database layer)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict
from pathlib import Path
from typing import Any

from app.monitoring.checks import ResultIn


class DiskBuffer:
    """Results in the order they were added, and small named values (the assignment).

    Calls are synchronous and short (one small transaction each): fine for a probe
    agent, and every result is on disk before the check is considered done.
    """

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS pending (seq INTEGER PRIMARY KEY AUTOINCREMENT, row TEXT)"
        )
        self.db.execute("CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT)")

    def add(self, row: ResultIn) -> None:
        self.db.execute("INSERT INTO pending (row) VALUES (?)", (json.dumps(asdict(row)),))

    def add_many(self, rows: list[ResultIn]) -> None:
        """Add rows in one transaction (all of them or none)."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT INTO pending (row) VALUES (?)", [(json.dumps(asdict(r)),) for r in rows]
            )

    def oldest(self, limit: int) -> list[tuple[int, ResultIn]]:
        rows = self.db.execute(
            "SELECT seq, row FROM pending ORDER BY seq LIMIT ?", (limit,)
        ).fetchall()
        return [(seq, ResultIn(**json.loads(text))) for seq, text in rows]

    def remove(self, seqs: list[int]) -> None:
        self.db.executemany("DELETE FROM pending WHERE seq = ?", [(s,) for s in seqs])

    def count(self) -> int:
        count: int = self.db.execute("SELECT count(*) FROM pending").fetchone()[0]
        return count

    def save(self, key: str, value: Any) -> None:
        self.db.execute(
            "INSERT INTO state (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    def load(self, key: str) -> Any:
        row = self.db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def close(self) -> None:
        self.db.close()
