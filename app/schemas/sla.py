"""Request and response models for results ingestion and the billing figures."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from app.schemas.common import (
    EARLIEST_RESULT,
    LATEST,
    LOCATION_RE,
    Ident,
    ReadModel,
    UTCTime,
    check_text,
)

Phase = Literal["dns", "connect", "tls", "first_byte", "total"]  # app.monitoring.checks.PHASES

# Free text of a result: storable (no NUL; the body is parsed as JSON by pydantic-core,
# which refuses lone surrogates), checked in Python only when present.
ResultText = Annotated[str, Field(max_length=1000), AfterValidator(check_text)]


class ResultRow(BaseModel):
    # Batches hold thousands of rows: not `Strict` (no whitespace stripping, no Python
    # validator per field); unknown fields are still refused.
    model_config = ConfigDict(extra="forbid")

    monitor_id: Ident
    location: str = Field(pattern=LOCATION_RE)
    # Not `Instant`: a Python validator per row costs ingestion; the bounds are checked
    # by pydantic-core and the endpoint floors it.
    checked_at: AwareDatetime = Field(
        ge=EARLIEST_RESULT,
        le=LATEST,
        description="kept to the whole second; from 2000-01-01T00:00:00Z, and at most "
        "5 minutes ahead of the server's clock",
    )
    ok: bool
    latency_ms: int | None = Field(default=None, ge=0, le=3_600_000)
    status_code: int | None = Field(default=None, ge=100, le=599)
    error: ResultText | None = None
    warning: ResultText | None = Field(
        default=None, description="a passing check's warning (e.g. TLS expiry)"
    )
    interval_seconds: int | None = Field(
        default=None, ge=1, le=31 * 86_400, description="default: the monitor's interval"
    )
    # For /metrics only (kept in memory as the latest result, never stored).
    timings: dict[Phase, Annotated[float, Field(ge=0, le=3_600_000)]] | None = Field(
        default=None,
        description="phase durations in milliseconds (dns, connect, tls, first_byte, "
        "total), as the probe measured them; shown by /metrics, not stored",
    )
    cert_expires_at: AwareDatetime | None = Field(
        default=None,
        description="the TLS certificate's expiry, as the probe read it; shown by "
        "/metrics, not stored",
    )


class ResultRead(ReadModel):
    location: str
    checked_at: UTCTime
    ok: bool
    latency_ms: int | None
    status_code: int | None
    error: str | None
    warning: str | None
    interval_seconds: int


class ResultBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    results: list[ResultRow] = Field(min_length=1, max_length=10_000)


class Accepted(BaseModel):
    accepted: int


class HeartbeatReply(BaseModel):
    ok: bool
    monitor_id: int
    next_due_before: UTCTime = Field(description="ping again before this instant")


class DowntimePeriod(BaseModel):
    start: str
    end: str
    seconds: int


class Figures(BaseModel):
    """The figures of a month; what an adjustment restates."""

    uptime_percent: str | None = Field(description="truncated to 4 decimals; null if A = 0")
    downtime_seconds: int
    excused_seconds: int
    no_data_seconds: int
    coverage_percent: str
    breached: bool
    needs_review: bool
    credit_percent: str
    credit_amount: str
    downtime_periods: list[DowntimePeriod]


class Adjustment(Figures):
    """What a closed month's figures would be now; the statement itself never changes."""

    credit_amount_delta: str


class SlaRead(Figures):
    service_id: int
    service_slug: str
    customer_id: int
    customer_slug: str
    month: str
    timezone: str
    period_start: str
    period_end: str
    target_percent: str
    currency: str
    status: str = Field(description="open, or closed (frozen statement)")
    as_of: str = Field(description="open: the time of computation; closed: when it closed")
    statement_digest: str | None = None
    adjustment: Adjustment | None = None
    pending_results: bool = Field(
        default=False,
        description="true: another process was folding this service's newest results "
        "and the read did not wait for it; they are not in these figures yet",
    )


class CreditItem(BaseModel):
    customer_id: int
    customer_slug: str
    service_id: int
    service_slug: str
    uptime_percent: str | None
    target_percent: str
    breached: bool
    needs_review: bool
    credit_percent: str
    credit_amount: str
    currency: str
    status: str
    adjustment_credit_delta: str | None = None


class CreditsPage(BaseModel):
    """The contract's ``{month, items}`` with the list envelope's fields beside them."""

    month: str
    items: list[CreditItem]
    total: int = Field(description="services that existed in the month, over all pages")
    limit: int | None = Field(description="null: no limit was given, every row is here")
    offset: int
    pending_results: bool = Field(
        description="true: stored results were still waiting to be folded when the read's "
        "time budget ran out (a burst); these figures do not include them yet"
    )


class CloseResult(BaseModel):
    month: str
    statements_written: int
    already_closed: bool
