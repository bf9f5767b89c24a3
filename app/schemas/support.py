"""Request and response models for support (API_CONTRACT.md "Support and incidents"):
support calendars, the support targets of SLA policies, incidents and their events,
and a customer's monthly compliance."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    Field,
    SerializerFunctionWrapHandler,
    StrictBool,
    field_validator,
    model_serializer,
    model_validator,
)

from app.incidents.clocks import PRIORITIES
from app.schemas.common import (
    DecimalStr,
    Ident,
    Instant,
    Name,
    ReadModel,
    Strict,
    Timezone,
    UTCTime,
)
from app.sla.calendars import WEEKDAYS, CalendarError, day_ranges, parse_date

Priority = Literal["P1", "P2", "P3", "P4"]
EventKind = Literal["acknowledge", "comment", "pause", "resume", "priority", "resolve", "reopen"]
assert PRIORITIES == ("P1", "P2", "P3", "P4")

# A target of up to a year of minutes: on an 8-hour calendar that is three years of
# wall-clock time, and every due date stays far inside the instants the API handles.
Minutes = Annotated[int, Field(ge=1, le=366 * 24 * 60)]
MAX_HOLIDAYS = 2000  # about fifty years of a generous country's public holidays
Message = Annotated[str, Field(min_length=1, max_length=4000)]
Clock = Annotated[str, Field(pattern=r"^(?:(?:[01]\d|2[0-3]):[0-5]\d|24:00)$", examples=["09:00"])]

# ---------------------------------------------------------------- support calendars


Ranges = list[Annotated[list[Clock], Field(min_length=2, max_length=2)]]


class WeeklyHours(Strict):
    """A week's support hours: per day, ranges ``["HH:MM", "HH:MM"]`` (start, end) from
    00:00 to 24:00, each ending after it starts, none overlapping. A day left out (or
    empty) has no support hours."""

    mon: Ranges | None = Field(default=None, max_length=24, examples=[[["09:00", "17:00"]]])
    tue: Ranges | None = Field(default=None, max_length=24)
    wed: Ranges | None = Field(default=None, max_length=24)
    thu: Ranges | None = Field(default=None, max_length=24)
    fri: Ranges | None = Field(default=None, max_length=24)
    sat: Ranges | None = Field(default=None, max_length=24)
    sun: Ranges | None = Field(default=None, max_length=24)

    @model_validator(mode="after")
    def _ranges(self) -> Self:
        for day in WEEKDAYS:
            ranges = getattr(self, day)
            if ranges is None:
                continue
            try:
                day_ranges(ranges, (day,))
            except CalendarError as exc:
                where = "".join(f"[{part!r}]" for part in exc.loc[1:])
                raise ValueError(f"{day}{where}: {exc.message}") from None
            setattr(self, day, sorted(ranges))
        return self

    def stored(self) -> dict[str, list[list[str]]]:
        """The days that have hours, Monday first."""
        return {day: getattr(self, day) for day in WEEKDAYS if getattr(self, day)}

    @model_serializer(mode="wrap")
    def _days_with_hours(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Dumped as stored: a day without hours is left out, not null.
        dumped: dict[str, Any] = handler(self)
        return {day: ranges for day, ranges in dumped.items() if ranges}


def _check_holidays(holidays: list[str]) -> list[str]:
    for i, holiday in enumerate(holidays):
        try:
            parse_date(holiday)
        except CalendarError as exc:
            raise ValueError(f"holidays[{i}]: {exc.message}") from None
    return sorted(set(holidays))


class SupportCalendarCreate(Strict):
    name: Name
    timezone: Timezone
    hours: WeeklyHours = Field(
        description='weekly hours: {"mon": [["09:00", "12:00"], ["13:00", "17:00"]], ...}; '
        "a day not listed has no support hours; 24:00 ends a day",
    )
    holidays: list[str] = Field(
        default_factory=list,
        max_length=MAX_HOLIDAYS,
        description="dates (YYYY-MM-DD) in the calendar's time zone",
    )

    @field_validator("holidays")
    @classmethod
    def _holidays(cls, value: list[str]) -> list[str]:
        return _check_holidays(value)


class SupportCalendarUpdate(Strict):
    name: Name | None = None
    timezone: Timezone | None = None
    hours: WeeklyHours | None = None
    holidays: list[str] | None = None


class SupportCalendarRead(ReadModel):
    id: int
    name: str
    timezone: str
    hours: dict[str, list[list[str]]]
    holidays: list[str]
    created_at: UTCTime


# ---------------------------------------------------------------- support targets


class SupportTarget(Strict):
    """One priority's promise: minutes to respond and to resolve, counted on a support
    calendar (``calendar_id``) or 24/7 (null)."""

    priority: Priority
    respond_minutes: Minutes
    resolve_minutes: Minutes
    calendar_id: Ident | None = None


def check_support_targets(targets: list[SupportTarget]) -> list[SupportTarget]:
    seen: set[str] = set()
    for target in targets:
        if target.priority in seen:
            raise ValueError(f"priority {target.priority} has more than one target")
        seen.add(target.priority)
    return sorted(targets, key=lambda t: t.priority)


class SupportTargetRead(BaseModel):
    priority: str
    respond_minutes: int
    resolve_minutes: int
    calendar_id: int | None


# ---------------------------------------------------------------- incidents


class IncidentCreate(Strict):
    service_id: Ident
    title: Name
    priority: Priority
    opened_at: Instant | None = Field(
        default=None, description="defaults to now; an earlier value is admin-only (import)"
    )


class IncidentUpdate(Strict):
    """What an operator may change besides events: the title, and whether an outage's
    incident stays open once the service is UP again."""

    title: Name | None = None
    keep_open: StrictBool | None = None


class IncidentEventCreate(Strict):
    kind: EventKind
    at: Instant | None = Field(
        default=None, description="defaults to now; an earlier value is admin-only"
    )
    priority: Priority | None = None
    message: Message | None = None
    public: StrictBool = False

    @model_validator(mode="after")
    def _fits_the_kind(self) -> Self:
        if self.kind == "priority" and self.priority is None:
            raise ValueError("a priority event needs priority (P1..P4)")
        if self.kind != "priority" and self.priority is not None:
            raise ValueError(f"priority is only for a priority event, not {self.kind!r}")
        if self.kind == "comment" and self.message is None:
            raise ValueError("a comment needs a message")
        if self.public and self.kind != "comment":
            raise ValueError("only comments can be public")
        return self


class IncidentEventRead(BaseModel):
    id: int
    kind: str
    at: str
    priority: str | None = None
    message: str | None = None
    public: bool
    automatic: bool = Field(description="written by the system (an outage ended)")
    actor: str | None = None
    imported: bool = False


class ClockRead(BaseModel):
    target_minutes: int | None
    elapsed_seconds: int
    due_at: str | None
    met: bool | None


class IncidentRead(BaseModel):
    id: int
    service_id: int
    customer_id: int
    title: str
    priority: str
    source: Literal["monitor", "operator", "customer"]
    state: Literal["open", "acknowledged", "paused", "resolved"]
    opened_at: str
    acknowledged_at: str | None
    resolved_at: str | None
    restore_seconds: int | None = Field(
        description="outage incidents: wall-clock time from the first DOWN instant to the "
        "first UP one"
    )
    outage_started_at: str | None
    restored_at: str | None
    keep_open: bool
    imported: bool
    respond: ClockRead
    resolve: ClockRead
    events: list[IncidentEventRead]


# ---------------------------------------------------------------- compliance


class TallyRead(BaseModel):
    evaluated: int
    met: int
    percent: str | None = Field(description="met / evaluated, truncated to 4 decimals")
    passing: bool | None


class PriorityComplianceRead(BaseModel):
    priority: str
    respond: TallyRead
    resolve: TallyRead


class SupportMonthRead(BaseModel):
    customer_id: int
    month: str
    target_percent: DecimalStr | None
    respond: TallyRead
    resolve: TallyRead
    by_priority: list[PriorityComplianceRead]
