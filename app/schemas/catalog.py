"""Request and response models for the catalog resources: customers, SLA policies,
services and maintenance windows (monitors: app.schemas.monitors)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal, Self

from pydantic import Field, StrictBool, field_validator, model_validator

from app.schemas.common import (
    Currency,
    DecimalStr,
    Ident,
    Instant,
    Money,
    MoneyStr,
    Multiplier,
    Name,
    Percent,
    ReadModel,
    Slug,
    Strict,
    Timezone,
    UTCTime,
)
from app.schemas.support import SupportTarget, SupportTargetRead, check_support_targets
from app.sla.policy import CreditTier, tier_problems

# ---------------------------------------------------------------- customers


class CustomerCreate(Strict):
    slug: Slug
    name: Name
    timezone: Timezone = "UTC"
    # A private status page (and its feed and badges) needs the customer's key or a
    # signed link (`uptally status-link`).
    private: StrictBool = False


class CustomerUpdate(Strict):
    slug: Slug | None = None
    name: Name | None = None
    timezone: Timezone | None = None
    private: StrictBool | None = None


class CustomerRead(ReadModel):
    id: int
    slug: str
    name: str
    timezone: str
    private: bool


# ---------------------------------------------------------------- SLA policies


class CreditTierIn(Strict):
    from_percent: Percent
    to_percent: Percent
    credit_percent: Percent


class CreditTierOut(ReadModel):
    from_percent: DecimalStr
    to_percent: DecimalStr
    credit_percent: DecimalStr


class SlaPolicyCreate(Strict):
    name: Name
    target_percent: Percent = Field(gt=0)
    credit_tiers: list[CreditTierIn] = Field(default_factory=list, max_length=50)
    credit_formula: Literal["tiered", "hourly", "per_started_hour_beyond_allowance"] = "tiered"
    hourly_multiplier: Multiplier = Decimal(1)
    percent_per_hour: Percent = Decimal(0)
    credit_cap_percent: Percent = Decimal(100)
    min_credit_amount: Money = Decimal(0)
    prorate_fee: bool = True
    min_downtime_seconds: int = Field(default=60, ge=0, le=86_400)
    maintenance_notice_seconds: int = Field(default=86_400, ge=0, le=90 * 86_400)
    maintenance_policy: Literal["not_downtime", "exclude_from_denominator"] = "not_downtime"
    no_data_policy: Literal["up", "excluded", "down"] = "up"
    existence_policy: Literal["existence_window", "assume_up"] = "existence_window"
    # Support (SLA_RULES.md section 8), apart from the uptime credit: per priority, the
    # minutes to respond and to resolve on a support calendar (null: 24/7).
    support_targets: list[SupportTarget] = Field(default_factory=list, max_length=4)
    support_compliance_target_percent: Percent = Decimal(95)

    @field_validator("support_targets")
    @classmethod
    def _one_target_per_priority(cls, value: list[SupportTarget]) -> list[SupportTarget]:
        return check_support_targets(value)

    @model_validator(mode="after")
    def _tiers_cover_target(self) -> Self:
        # Tiers are required for the tiered formula; when given for another formula
        # they must still make sense, since a later PATCH may switch formulas.
        if self.credit_formula == "tiered" or self.credit_tiers:
            tiers = [CreditTier(**t.model_dump()) for t in self.credit_tiers]
            problems = tier_problems(tiers, self.target_percent)
            if problems:
                raise ValueError("credit_tiers: " + "; ".join(problems))
        return self


class SlaPolicyUpdate(Strict):
    """Every field optional; the merged policy is validated as a whole."""

    name: Name | None = None
    target_percent: Percent | None = None
    credit_tiers: list[CreditTierIn] | None = None
    credit_formula: Literal["tiered", "hourly", "per_started_hour_beyond_allowance"] | None = None
    hourly_multiplier: Multiplier | None = None
    percent_per_hour: Percent | None = None
    credit_cap_percent: Percent | None = None
    min_credit_amount: Money | None = None
    prorate_fee: bool | None = None
    min_downtime_seconds: int | None = None
    maintenance_notice_seconds: int | None = None
    maintenance_policy: Literal["not_downtime", "exclude_from_denominator"] | None = None
    no_data_policy: Literal["up", "excluded", "down"] | None = None
    existence_policy: Literal["existence_window", "assume_up"] | None = None
    support_targets: list[SupportTarget] | None = None
    support_compliance_target_percent: Percent | None = None


class SlaPolicyRead(ReadModel):
    id: int
    name: str
    target_percent: DecimalStr
    credit_tiers: list[CreditTierOut]
    credit_formula: str
    hourly_multiplier: DecimalStr
    percent_per_hour: DecimalStr
    credit_cap_percent: DecimalStr
    min_credit_amount: MoneyStr
    prorate_fee: bool
    min_downtime_seconds: int
    maintenance_notice_seconds: int
    maintenance_policy: str
    no_data_policy: str
    existence_policy: str
    support_targets: list[SupportTargetRead]
    support_compliance_target_percent: DecimalStr


# ---------------------------------------------------------------- services


class ServiceCreate(Strict):
    customer_id: Ident
    name: Name
    slug: Slug
    policy_id: Ident
    monthly_fee: Money
    currency: Currency = "USD"
    starts_at: Instant | None = None
    ends_at: Instant | None = None

    @model_validator(mode="after")
    def _ends_after_start(self) -> Self:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class ServiceUpdate(Strict):
    name: Name | None = None
    slug: Slug | None = None
    policy_id: Ident | None = None
    monthly_fee: Money | None = None
    currency: Currency | None = None
    starts_at: Instant | None = None
    ends_at: Instant | None = None


class ServiceRead(ReadModel):
    id: int
    customer_id: int
    name: str
    slug: str
    policy_id: int
    monthly_fee: MoneyStr
    currency: str
    starts_at: UTCTime
    ends_at: UTCTime | None


class ServiceWithState(ServiceRead):
    """A service as read: with its state now (down when any monitor is down) and since
    when."""

    state: Literal["up", "down", "no_data"] = Field(
        description="what it is now, from its latest confirmed state change: down when any "
        "of its monitors is down, no_data when none is up, else up"
    )
    state_since: UTCTime | None = Field(description="when that state began (null: no data yet)")


# Monitors: app/schemas/monitors.py.


# ---------------------------------------------------------------- maintenance windows


class MaintenanceWindowCreate(Strict):
    service_id: Ident
    starts_at: Instant
    ends_at: Instant
    title: Name
    announced_at: Instant | None = None

    @model_validator(mode="after")
    def _ends_after_start(self) -> Self:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class MaintenanceWindowUpdate(Strict):
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    title: Name | None = None


class MaintenanceWindowRead(ReadModel):
    id: int
    service_id: int
    title: str
    starts_at: UTCTime
    ends_at: UTCTime
    announced_at: UTCTime
    recorded_at: UTCTime
    imported: bool
