"""What a check is about and what it produced: the value types shared by the check
scheduler, the remote agent and ingestion.

Standard library only (no database, no web framework), so the remote agent can use
them without loading either. A monitor row becomes a ``MonitorSpec`` in
app.monitoring.server; an agent builds one from the API with ``MonitorSpec.from_api``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MonitorSpec:
    """What a job needs of a monitor, copied so a job never touches the ORM."""

    id: int
    kind: str
    target: str
    options: dict[str, Any]
    interval_seconds: int
    timeout_seconds: int
    locations: tuple[str, ...]
    created_at: int  # epoch seconds; 0 when unknown (an agent is not told)

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> MonitorSpec:
        """From a ``GET /api/v1/agent/monitors`` item (what a remote agent receives)."""
        return cls(
            id=int(item["id"]),
            kind=item["kind"],
            target=item["target"],
            options=dict(item.get("options") or {}),
            interval_seconds=int(item["interval_seconds"]),
            timeout_seconds=int(item["timeout_seconds"]),
            locations=tuple(item["locations"]),
            created_at=0,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ResultIn:
    """One check result on its way to storage, from a probe, a heartbeat or an agent.

    Keyword-only: nine fields, several of the same type, are too easy to misplace.
    """

    monitor_id: int
    location: str
    checked_at: int  # epoch seconds
    ok: bool
    interval_seconds: int | None = None
    latency_ms: int | None = None
    status_code: int | None = None
    error: str | None = None
    warning: str | None = None
