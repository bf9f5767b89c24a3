"""API keys and scopes.

Tokens are 32 random bytes, shown once; only their SHA-256 is stored. ``admin`` may do
everything; ``billing`` reads figures and closes months; ``agent`` pushes results and
reads its assignments; ``customer`` reads its own customer's resources only.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ApiKey, Customer

TOKEN_PREFIX = "upt_"


class Scope(StrEnum):
    ADMIN = "admin"
    BILLING = "billing"
    AGENT = "agent"
    CUSTOMER = "customer"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a scope, and for customer keys the one customer they may see."""

    scope: Scope
    key_id: int | None = None
    customer_id: int | None = None

    @property
    def label(self) -> str:
        return f"key:{self.key_id}" if self.key_id else "admin-token"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


async def create_key(
    session: AsyncSession,
    scope: Scope,
    *,
    customer_slug: str | None = None,
    name: str = "",
) -> tuple[ApiKey, str]:
    """Store a new key and return it with its token (the only time the token exists)."""
    customer_id = None
    if scope is Scope.CUSTOMER:
        if not customer_slug:
            raise ValueError("a customer key needs --customer SLUG")
        customer = await session.scalar(select(Customer).where(Customer.slug == customer_slug))
        if customer is None:
            raise ValueError(f"no customer with slug {customer_slug!r}")
        customer_id = customer.id
    elif customer_slug:
        raise ValueError("--customer applies to customer keys only")
    token = new_token()
    key = ApiKey(
        name=name,
        scope=scope.value,
        customer_id=customer_id,
        token_hash=hash_token(token),
        token_prefix=token[:12],
        created_at=datetime.now(UTC),
    )
    session.add(key)
    await session.flush()
    return key, token


async def authenticate(
    session: AsyncSession, token: str, admin_token: str | None
) -> Principal | None:
    if admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
        return Principal(Scope.ADMIN)
    key = await session.scalar(
        select(ApiKey).where(ApiKey.token_hash == hash_token(token), ApiKey.revoked_at.is_(None))
    )
    if key is None:
        return None
    return Principal(Scope(key.scope), key_id=key.id, customer_id=key.customer_id)
