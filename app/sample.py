"""A small sample catalog for a first look (``uptally serve --sample``)."""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Customer, Monitor, Service, SlaPolicy

log = logging.getLogger(__name__)

SAMPLE_TIERS = [
    {"from_percent": "0", "to_percent": "95", "credit_percent": "50"},
    {"from_percent": "95", "to_percent": "99", "credit_percent": "25"},
    {"from_percent": "99", "to_percent": "99.9", "credit_percent": "10"},
]


def standard_policy(now: datetime, name: str = "Standard 99.9 %") -> SlaPolicy:
    """A 99.9 % policy with the usual 10 / 25 / 50 % credit tiers and default terms."""
    return SlaPolicy(
        name=name,
        target_percent=Decimal("99.9"),
        credit_tiers=SAMPLE_TIERS,
        credit_formula="tiered",
        hourly_multiplier=Decimal(1),
        percent_per_hour=Decimal(0),
        credit_cap_percent=Decimal(100),
        min_credit_amount=Decimal(0),
        prorate_fee=True,
        min_downtime_seconds=60,
        maintenance_notice_seconds=86_400,
        maintenance_policy="not_downtime",
        no_data_policy="up",
        existence_policy="existence_window",
        created_at=now,
    )


async def seed_sample(session: AsyncSession) -> bool:
    """Create the sample catalog in an empty database; leave any other alone."""
    if await session.scalar(select(func.count()).select_from(Customer)):
        return False
    now = datetime.now(UTC)
    customer = Customer(
        slug="demo", name="Demo Hosting Customer", timezone="Europe/Berlin", created_at=now
    )
    policy = standard_policy(now)
    service = Service(
        customer=customer,
        policy=policy,
        name="Website",
        slug="website",
        monthly_fee=Decimal("100.00"),
        currency="EUR",
        starts_at=now,
        created_at=now,
    )
    monitor = Monitor(
        service=service,
        name="nightly backup",
        kind="heartbeat",
        target="backup cron",
        interval_seconds=3600,
        timeout_seconds=10,
        locations=["local"],
        quorum=1,
        failure_confirmations=1,
        options={"grace_seconds": 600},
        enabled=True,
        heartbeat_token=secrets.token_urlsafe(24),
        created_at=now,
        updated_at=now,
    )
    session.add_all([customer, policy, service, monitor])
    await session.flush()
    log.info("sample catalog created: customer 'demo', service 'website', heartbeat monitor")
    return True
