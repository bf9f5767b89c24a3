"""What a probe reports: a frozen result. A failed check is a result, never an exception."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_MESSAGE = 1000  # characters of an error or warning, as the server stores them


def clean_message(text: str | None, limit: int = MAX_MESSAGE) -> str | None:
    """``text`` as a result's error or warning can always be stored and sent: a NUL
    (which PostgreSQL refuses) written as ``\\x00``, a lone surrogate (not Unicode, so
    not JSON) as ``\\udXXX``, and at most ``limit`` characters. A message quoting what a
    target sent must not make its result one the server can never accept."""
    if text is None:
        return None
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text[:limit]


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

    def __post_init__(self) -> None:
        # Cleaned where made, so no probe's message can wedge a buffer or a batch.
        object.__setattr__(self, "error", clean_message(self.error))
        object.__setattr__(self, "warning", clean_message(self.warning))

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
