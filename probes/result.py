"""What a probe reports: a frozen result. A failed check is a result, never an exception."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ProbeResult:
    ok: bool
    latency_ms: int | None = None
    # Phase durations in milliseconds: dns, connect, tls, first_byte, total.
    timings: Mapping[str, float] = field(default_factory=dict)
    status_code: int | None = None
    error: str | None = None
    # Slower than the monitor's degraded threshold, though it passed.
    degraded: bool = False
    details: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def failure(cls, error: str, **kwargs: Any) -> ProbeResult:
        return cls(ok=False, error=error, **kwargs)
