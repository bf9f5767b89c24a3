"""What a probe reports: a frozen result. A failed check is a result, never an exception."""

from __future__ import annotations

import time
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
    details: Mapping[str, Any] = field(default_factory=dict)
    # Passed, but with something to act on (slow response, certificate expiring soon).
    warning: str | None = None

    @property
    def degraded(self) -> bool:
        return self.warning is not None

    @classmethod
    def failure(cls, error: str, **kwargs: Any) -> ProbeResult:
        return cls(ok=False, error=error, **kwargs)


def elapsed_ms(since: float) -> float:
    """Milliseconds since a ``time.perf_counter()`` reading, to the microsecond."""
    return round((time.perf_counter() - since) * 1000, 3)


def finished(
    ok: bool,
    started: float,
    error: str | None = None,
    *,
    timings: Mapping[str, float] | None = None,
    details: Mapping[str, Any] | None = None,
    warning: str | None = None,
) -> ProbeResult:
    """A result for a check begun at ``started``: total time added to the timings and
    used as the latency."""
    total = elapsed_ms(started)
    return ProbeResult(
        ok=ok,
        latency_ms=int(total),
        timings={**(timings or {}), "total": total},
        error=error,
        details=details or {},
        warning=warning,
    )
