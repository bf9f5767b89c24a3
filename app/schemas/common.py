"""Field types and checks shared by the request models."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer

from app.sla.periods import to_epoch, utc_text

SLUG_RE = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
LOCATION_RE = r"^[a-z0-9][a-z0-9_.-]{0,62}$"


class Strict(BaseModel):
    """Request bodies refuse unknown fields, so a typo is an error, not a no-op."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


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
    def check(value: Decimal) -> Decimal:
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -places:
            raise ValueError(f"at most {places} decimal places")
        return value

    return AfterValidator(check)


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
Percent = Annotated[Decimal, Field(ge=0, le=100, allow_inf_nan=False), _max_places(6)]
Money = Annotated[Decimal, Field(ge=0, allow_inf_nan=False), _max_places(2)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
# An instant given to the API, with an explicit offset; kept to the whole second (floored).
Instant = Annotated[AwareDatetime, AfterValidator(whole_seconds)]

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
