"""The catalog: customers, their contracts (SLA policies), services, monitors,
maintenance windows and API keys."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, Money, Percent, UTCDateTime

Id = BigInteger().with_variant(Integer(), "sqlite")

# Every table with a surrogate id takes this: on SQLite an id is then never given twice,
# even after the row with the highest one is deleted (without AUTOINCREMENT SQLite hands
# out max(id) + 1 again, and an agent's late rows for a deleted monitor would land in
# the next one created). PostgreSQL's sequences never reuse a value anyway.
NEVER_REUSE_IDS = {"sqlite_autoincrement": True}


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # A private customer's status page, feed and badges answer 404 unless asked with
    # its key or a signed link.
    private: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    services: Mapped[list[Service]] = relationship(back_populates="customer")


class SlaPolicy(Base):
    """A contract: the target, how a breach turns into a credit, and the fine print."""

    __tablename__ = "sla_policies"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    target_percent: Mapped[Decimal] = mapped_column(Percent())
    # [{"from_percent": "99.0", "to_percent": "99.9", "credit_percent": "10"}, ...]
    # Kept as decimal strings so no float ever touches them.
    credit_tiers: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    credit_formula: Mapped[str] = mapped_column(String(40), default="tiered")
    hourly_multiplier: Mapped[Decimal] = mapped_column(Percent())
    percent_per_hour: Mapped[Decimal] = mapped_column(Percent())
    credit_cap_percent: Mapped[Decimal] = mapped_column(Percent())
    min_credit_amount: Mapped[Decimal] = mapped_column(Money())
    prorate_fee: Mapped[bool] = mapped_column(Boolean, default=True)
    min_downtime_seconds: Mapped[int] = mapped_column(Integer, default=60)
    maintenance_notice_seconds: Mapped[int] = mapped_column(Integer, default=86400)
    maintenance_policy: Mapped[str] = mapped_column(String(40), default="not_downtime")
    no_data_policy: Mapped[str] = mapped_column(String(20), default="up")
    existence_policy: Mapped[str] = mapped_column(String(40), default="existence_window")
    # SLA_RULES.md section 8, apart from the uptime credit:
    # [{"priority": "P1", "respond_minutes": 15, "resolve_minutes": 240, "calendar_id": null}]
    support_targets: Mapped[list[dict[str, Any]]] = mapped_column(
        JSON, default=list, server_default=text("'[]'")
    )
    support_compliance_target_percent: Mapped[Decimal] = mapped_column(
        Percent(), default=Decimal("95"), server_default=text("'95'")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Service(Base):
    __tablename__ = "services"
    __table_args__ = (
        UniqueConstraint("customer_id", "slug", name="uq_services_customer_slug"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="RESTRICT"), index=True
    )
    policy_id: Mapped[int] = mapped_column(
        ForeignKey("sla_policies.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(63))
    monthly_fee: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    customer: Mapped[Customer] = relationship(back_populates="services")
    policy: Mapped[SlaPolicy] = relationship()
    monitors: Mapped[list[Monitor]] = relationship(back_populates="service")


class Monitor(Base):
    __tablename__ = "monitors"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    target: Mapped[str] = mapped_column(String(2048))
    interval_seconds: Mapped[int] = mapped_column(Integer, default=60)
    timeout_seconds: Mapped[int] = mapped_column(Integer, default=10)
    locations: Mapped[list[str]] = mapped_column(JSON)
    quorum: Mapped[int] = mapped_column(Integer, default=1)
    failure_confirmations: Mapped[int] = mapped_column(Integer, default=1)
    # Kind-specific options, validated by app.schemas (expected statuses, keyword, ...).
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # The secret in a heartbeat monitor's ping URL. It only lets its holder record an
    # "ok" for this one monitor, so it is kept readable (the customer needs the URL
    # again later), unlike API keys, which are stored hashed.
    heartbeat_token: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    service: Mapped[Service] = relationship(back_populates="monitors")


class MaintenanceWindow(Base):
    __tablename__ = "maintenance_windows"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="RESTRICT"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # When the window counts as announced: the moment it was recorded, unless an admin
    # imported history with an earlier time (then `imported` says so).
    announced_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    imported: Mapped[bool] = mapped_column(Boolean, default=False)
    recorded_by: Mapped[str] = mapped_column(String(100))


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    scope: Mapped[str] = mapped_column(String(20))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), nullable=True, index=True
    )
    # The locations an agent key may read the assignment of and push results for
    # (sorted names). Other scopes have none. An agent key without any (made before keys
    # were bound to locations) may do nothing: it must be replaced by one created with
    # `uptally keys create --scope agent --location NAME`.
    locations: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    # SHA-256 of the token: tokens are 256 random bits, so a fast hash is enough and
    # lets a request find its key with one indexed lookup.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters, so an operator can tell keys apart without the secret.
    token_prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Refused from this instant on (none: never). Rotating with a grace period sets it.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # When a request last authenticated with the key, to within a minute: each process
    # notes uses in memory and writes them in the background (app.auth.KeyUsage), so a
    # request never waits for a write.
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
