"""Field types and checks shared by the request models."""

from __future__ import annotations

import math
import zoneinfo
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
)

from app import db
from app.sla.periods import to_epoch, utc_text

SLUG_RE = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
LOCATION_RE = r"^[a-z0-9][a-z0-9_.-]{0,62}$"


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored (PostgreSQL refuses NUL; a lone surrogate is not
    Unicode and cannot even be written as UTF-8), or None."""
    if "\x00" in text:
        return "must not contain NUL characters (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain lone surrogates (\\ud800-\\udfff): not valid Unicode"
    return None


MAX_NESTING = 32  # levels of lists and objects in a free-form JSON value


def value_problem(value: Any) -> str | None:
    """The first string, key or number inside ``value`` (strings, numbers, lists,
    dicts; models are checked by their own validators) that cannot be stored, or
    None. Iterative, so no input nests deep enough to exhaust the stack."""
    pending: list[tuple[Any, str, int]] = [(value, "", 0)]
    while pending:
        item, where, depth = pending.pop()
        if isinstance(item, str):
            problem = text_problem(item)
        elif isinstance(item, float):
            problem = None if math.isfinite(item) else "must be a finite number"
        elif isinstance(item, Decimal):
            problem = None if item.is_finite() else "must be a finite number"
        elif isinstance(item, dict | list | tuple):
            if depth >= MAX_NESTING:
                return f"{where or 'the value'} nests more than {MAX_NESTING} levels deep"
            if isinstance(item, dict):
                for key, member in item.items():
                    if isinstance(key, str) and (problem := text_problem(key)):
                        return f"{where}[{key!r}]: the key {problem}"
                    pending.append((member, f"{where}[{key!r}]", depth + 1))
            else:
                pending.extend(
                    (member, f"{where}[{i}]", depth + 1) for i, member in enumerate(item)
                )
            continue
        else:
            continue
        if problem is not None:
            return f"{where}: {problem}" if where else problem
    return None


def check_text(text: str) -> str:
    problem = text_problem(text)
    if problem is not None:
        raise ValueError(problem)
    return text


class Strict(BaseModel):
    """Request bodies refuse unknown fields, so a typo is an error, not a no-op. Every
    string in them (list items, dict keys and values included) must be storable: no
    NUL, no lone surrogate; every number finite. A 422 names the field."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        problem = value_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value


class ReadModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_timezone(name: str) -> str:
    if name not in _zones():
        raise ValueError(f"{name!r} is not an IANA time zone name (e.g. 'Europe/Berlin')")
    return name


def _max_places(places: int) -> AfterValidator:
    """At most ``places`` decimal places (the column's scale), so what is stored is
    exactly what was sent (``1e-400`` is refused, not stored as 0); the value is kept
    in positional form (``1E+2`` -> ``100``, ``-0`` -> ``0``), as a read shows it."""

    def check(value: Decimal) -> Decimal:
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -places:
            raise ValueError(f"at most {places} decimal places")
        return Decimal(0) if value.is_zero() else Decimal(format(value, "f"))

    return AfterValidator(check)


# The instants the API takes: from the epoch to the end of 9998 in UTC (the months the
# API reports on), so every instant converts to UTC and back without overflow.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9998, 12, 31, 23, 59, 59, tzinfo=UTC)
# Check results: from 2000 (a clock that says 1970 is wrong, not history).
EARLIEST_RESULT = datetime(2000, 1, 1, tzinfo=UTC)


def in_range(moment: datetime) -> datetime:
    """An instant within EARLIEST..LATEST, in UTC and floored to the whole second."""
    if not EARLIEST <= moment <= LATEST:
        raise ValueError(
            f"must be from {utc_text(to_epoch(EARLIEST))} to {utc_text(to_epoch(LATEST))} in UTC"
        )
    return whole_seconds(moment.astimezone(UTC))


def instant_text(value: Any) -> Any:
    """An instant is given as RFC 3339 text (or is already a datetime): a number, or
    text that is only a number, would be read as epoch seconds, which the OpenAPI
    document (a ``date-time`` string) does not allow (schemathesis found it)."""
    if isinstance(value, datetime) or (
        isinstance(value, str) and not value.strip().lstrip("+-").replace(".", "", 1).isdigit()
    ):
        return value
    raise ValueError("an instant is RFC 3339 text with an offset, e.g. 2025-06-01T12:00:00Z")


def whole_seconds(moment: datetime) -> datetime:
    """Floor to the whole second: the resolution of every instant the API stores and
    writes (the accounting counts whole seconds too), so a read sent back is unchanged."""
    return moment.replace(microsecond=0)


def utc_now() -> datetime:
    """Now, to the whole second: what handlers store for "now" (created_at, starts_at...)."""
    return whole_seconds(datetime.now(UTC))


def _instant_text(moment: datetime) -> str:
    return utc_text(to_epoch(moment))


# Output: decimals as strings and instants as RFC 3339 with "Z" (API_CONTRACT.md). Every
# instant in a response goes through app.sla.periods.utc_text: whole seconds, "Z".
DecimalStr = Annotated[Decimal, PlainSerializer(lambda v: str(v), return_type=str)]
MoneyStr = Annotated[
    Decimal, PlainSerializer(lambda v: str(v.quantize(Decimal("0.01"))), return_type=str)
]
UTCTime = Annotated[
    datetime,
    PlainSerializer(_instant_text, return_type=str),
    Field(json_schema_extra={"format": "date-time", "examples": ["2025-06-01T12:00:00Z"]}),
]

# Input.
Slug = Annotated[str, Field(pattern=SLUG_RE, description="lowercase letters, digits, hyphens")]
Timezone = Annotated[str, AfterValidator(check_timezone)]
# Decimals are bounded by their columns (app.db.Percent, app.db.Money): no more places
# than the column's scale, no more digits than its precision.
_PERCENT, _MONEY = db.Percent(), db.Money()
MAX_MONEY = Decimal(10) ** (_MONEY.precision - _MONEY.scale) - Decimal(1).scaleb(-_MONEY.scale)
MAX_MULTIPLIER = Decimal(1000)
Percent = Annotated[Decimal, Field(ge=0, le=100, allow_inf_nan=False), _max_places(_PERCENT.scale)]
Money = Annotated[
    Decimal, Field(ge=0, le=MAX_MONEY, allow_inf_nan=False), _max_places(_MONEY.scale)
]
# A Percent column holding a factor (hourly_multiplier).
Multiplier = Annotated[
    Decimal, Field(ge=0, le=MAX_MULTIPLIER, allow_inf_nan=False), _max_places(_PERCENT.scale)
]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
# An instant given to the API, with an explicit offset; kept to the whole second (floored)
# and refused outside EARLIEST..LATEST.
Instant = Annotated[AwareDatetime, BeforeValidator(instant_text), AfterValidator(in_range)]

# Ids are 64-bit in the database: a larger number is a 422, not a driver overflow.
MAX_ID = 2**63 - 1
Ident = Annotated[int, Field(ge=1, le=MAX_ID)]


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """Every list: one page of ``items``, the ``total`` matching the filters, and the
    ``limit`` and ``offset`` that chose the page."""

    items: list[T]
    total: int = Field(description="items matching the filters, over all pages")
    limit: int
    offset: int


def envelope(items: list[Any], total: int, limit: int | None, offset: int) -> dict[str, Any]:
    return {"items": items, "total": total, "limit": limit, "offset": offset}
