"""Field types and checks shared by the request models."""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer

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


def _utc_text(value: datetime) -> str:
    return value.astimezone(zoneinfo.ZoneInfo("UTC")).isoformat().replace("+00:00", "Z")


# Output: decimals as strings and instants as RFC 3339 with "Z" (API_CONTRACT.md).
DecimalStr = Annotated[Decimal, PlainSerializer(lambda v: str(v), return_type=str)]
MoneyStr = Annotated[
    Decimal, PlainSerializer(lambda v: str(v.quantize(Decimal("0.01"))), return_type=str)
]
UTCTime = Annotated[datetime, PlainSerializer(_utc_text, return_type=str)]

# Input.
Slug = Annotated[str, Field(pattern=SLUG_RE, description="lowercase letters, digits, hyphens")]
Timezone = Annotated[str, AfterValidator(check_timezone)]
Percent = Annotated[Decimal, Field(ge=0, le=100, allow_inf_nan=False), _max_places(6)]
Money = Annotated[Decimal, Field(ge=0, allow_inf_nan=False), _max_places(2)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Instant = AwareDatetime

# Ids are 64-bit in the database: a larger number is a 422, not a driver overflow.
MAX_ID = 2**63 - 1
Ident = Annotated[int, Field(ge=1, le=MAX_ID)]
