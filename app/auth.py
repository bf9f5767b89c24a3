"""API keys and scopes.

Tokens are 32 random bytes, shown once; only their SHA-256 is stored. ``admin`` may do
everything; ``billing`` reads figures and closes months; ``agent`` pushes results and
reads its assignments, for the locations it is bound to only; ``customer`` reads its own
customer's resources only.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ApiKey, Customer
from app.schemas.common import LOCATION_RE

TOKEN_PREFIX = "upt_"


class Scope(StrEnum):
    ADMIN = "admin"
    BILLING = "billing"
    AGENT = "agent"
    CUSTOMER = "customer"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a scope, for customer keys the one customer they may see, and
    for agent keys the locations they may probe for (None: every location)."""

    scope: Scope
    key_id: int | None = None
    customer_id: int | None = None
    locations: frozenset[str] | None = None

    @property
    def label(self) -> str:
        return f"key:{self.key_id}" if self.key_id else "admin-token"

    def may_probe(self, location: str) -> bool:
        """Whether this caller may read ``location``'s assignment and push its results."""
        return self.locations is None or location in self.locations

    def bound_to(self) -> str:
        """The locations this key is bound to, for a 403 that says what it may do."""
        if not self.locations:
            return (
                "this agent key is bound to no location (it predates location binding); "
                "create one with 'uptally keys create --scope agent --location NAME'"
            )
        return f"this agent key is bound to location(s) {', '.join(sorted(self.locations))}"


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
    locations: Iterable[str] = (),
) -> tuple[ApiKey, str]:
    """Store a new key and return it with its token (the only time the token exists).

    An agent key is bound to the locations it names (at least one): it reads their
    assignments and pushes their results, and no other location's."""
    bound = sorted(set(locations))
    if scope is Scope.AGENT:
        if not bound:
            raise ValueError("an agent key needs --location NAME (the locations it probes for)")
        for location in bound:
            if not re.fullmatch(LOCATION_RE, location):
                raise ValueError(
                    f"--location {location!r}: expected a location name "
                    "(lowercase letters, digits, '.', '_', '-'; at most 63)"
                )
    elif bound:
        raise ValueError("--location applies to agent keys only")
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
        locations=bound,
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
    scope = Scope(key.scope)
    return Principal(
        scope,
        key_id=key.id,
        customer_id=key.customer_id,
        # Agent keys are confined to their locations; one without any may do nothing.
        locations=frozenset(key.locations) if scope is Scope.AGENT else None,
    )
