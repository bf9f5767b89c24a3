"""What a check is about and what it produced: the value types shared by the check
scheduler, the remote agent and ingestion.

Standard library only (no database, no web framework), so the remote agent can use
them without loading either. A monitor row becomes a ``MonitorSpec`` in
app.monitoring.server; an agent builds one from the API with ``MonitorSpec.from_api``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
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
    # Seen by /metrics only, never stored: phase durations in milliseconds (names from
    # PHASES) and a TLS certificate's expiry (epoch seconds).
    timings: dict[str, float] | None = None
    cert_expires_at: int | None = None


# The phases a probe times (probes.result.ProbeResult.timings), the only values of
# /metrics' `phase` label: a bounded set, whatever an agent sends.
PHASES = ("dns", "connect", "tls", "first_byte", "total")


def known_timings(timings: Mapping[str, float] | None) -> dict[str, float] | None:
    """The timings of the known phases, or None when there are none."""
    if not timings:
        return None
    known = {name: float(timings[name]) for name in PHASES if name in timings}
    return known or None


def cert_expiry(details: Mapping[str, Any]) -> int | None:
    """A TLS probe's certificate expiry (``details["expires_at"]``, RFC 3339) in epoch
    seconds, or None."""
    text = details.get("expires_at")
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())
