"""API keys and scopes: creating, finding, revoking and rotating keys, and deciding
who a request's token belongs to.

Tokens are 32 random bytes, shown once; only their SHA-256 is stored. ``admin`` may do
everything; ``billing`` reads figures and closes months; ``agent`` pushes results and
reads its assignments, for the locations it is bound to only; ``customer`` reads its own
customer's resources only.

Every request looks its key up in the database (one indexed read, no cache), so a key
revoked or expired is refused at once by every process. Only ``last_used_at`` is
written lazily (``KeyUsage``): uses are noted in memory and written in the background,
so that it is right to within ``KeyUsage.every`` seconds and a request never waits for
a write.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.availability import unreachable
from app.models import ApiKey, Customer
from app.schemas.common import LOCATION_RE

TOKEN_PREFIX = "upt_"

log = logging.getLogger(__name__)


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


def now_utc() -> datetime:
    """Now, to the second (instants are stored and shown to the second)."""
    return datetime.now(UTC).replace(microsecond=0)


def key_state(key: ApiKey, now: datetime) -> str:
    """``active``, ``revoked`` or ``expired``."""
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


async def create_key(
    session: AsyncSession,
    scope: Scope,
    *,
    customer_slug: str | None = None,
    customer_id: int | None = None,
    name: str = "",
    locations: Iterable[str] = (),
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Store a new key and return it with its token (the only time the token exists).

    An agent key is bound to the locations it names (at least one): it reads their
    assignments and pushes their results, and no other location's. A customer key
    names its customer by slug (the CLI) or id (the API)."""
    now = now or now_utc()
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
    if scope is Scope.CUSTOMER:
        if customer_id is None:
            if not customer_slug:
                raise ValueError("a customer key needs --customer SLUG")
            customer = await session.scalar(select(Customer).where(Customer.slug == customer_slug))
            if customer is None:
                raise ValueError(f"no customer with slug {customer_slug!r}")
            customer_id = customer.id
        elif await session.get(Customer, customer_id) is None:
            raise ValueError(f"no customer {customer_id}")
    elif customer_slug or customer_id is not None:
        raise ValueError("--customer applies to customer keys only")
    if expires_at is not None and expires_at <= now:
        raise ValueError(f"the expiry {expires_at.isoformat()} has passed already")
    token = new_token()
    key = ApiKey(
        name=name,
        scope=scope.value,
        customer_id=customer_id,
        locations=bound,
        token_hash=hash_token(token),
        token_prefix=token[:12],
        created_at=now,
        expires_at=expires_at,
    )
    session.add(key)
    await session.flush()
    return key, token


async def find_key(session: AsyncSession, ident: str) -> ApiKey:
    """A key by id (``12``) or by the start of its token as listed (``upt_AbCdEfGh``);
    ValueError naming what was not found or was ambiguous."""
    if ident.isdigit():
        key = await session.get(ApiKey, int(ident)) if int(ident) < 2**63 else None
        if key is None:
            raise ValueError(f"no API key {ident}")
        return key
    if len(ident) < 8:
        raise ValueError(f"{ident!r}: give a key's id or at least 8 characters of its prefix")
    prefix = ident[:12]
    keys = list(
        await session.scalars(
            select(ApiKey).where(ApiKey.token_prefix.startswith(prefix, autoescape=True))
        )
    )
    if len(keys) != 1:
        raise ValueError(
            f"no API key with prefix {ident!r}"
            if not keys
            else f"{ident!r} matches keys {', '.join(str(k.id) for k in keys)}: give the id"
        )
    return keys[0]


def revoke(key: ApiKey, now: datetime) -> bool:
    """Revoke ``key`` now; False if it was revoked already (the first revocation stands)."""
    if key.revoked_at is not None:
        return False
    key.revoked_at = now
    return True


async def rotate_key(
    session: AsyncSession, key: ApiKey, *, grace_seconds: int = 0, now: datetime | None = None
) -> tuple[ApiKey, str]:
    """A new key with the old one's scope, customer, locations and name, and the same
    lifetime if it had one; the old key is revoked now, or with ``grace_seconds``
    expires then (so agents can be given the new token first). A key revoked or
    expired already cannot be rotated (create a new one)."""
    now = now or now_utc()
    state = key_state(key, now)
    if state != "active":
        raise ValueError(f"key {key.id} is {state}: create a new key instead")
    lifetime = key.expires_at - key.created_at if key.expires_at is not None else None
    new, token = await create_key(
        session,
        Scope(key.scope),
        customer_id=key.customer_id,
        name=key.name,
        locations=key.locations,
        expires_at=now + lifetime if lifetime is not None else None,
        now=now,
    )
    if grace_seconds > 0:
        until = now + timedelta(seconds=grace_seconds)
        key.expires_at = until if key.expires_at is None else min(key.expires_at, until)
    else:
        revoke(key, now)
    await session.flush()
    return new, token


class KeyUsage:
    """When this process's requests last used each key, written to ``last_used_at``
    every ``every`` seconds (and when the app stops): at most one small write per key
    and period, never one per request."""

    def __init__(self, every: float = 30.0) -> None:
        self.every = every
        self._seen: dict[int, datetime] = {}

    def note(self, key_id: int, at: datetime) -> None:
        self._seen[key_id] = at

    async def flush(self, sessions: async_sessionmaker[AsyncSession]) -> int:
        """Write the uses noted since the last flush; kept for the next one if the
        database cannot be reached. Returns the keys written."""
        seen, self._seen = self._seen, {}
        if not seen:
            return 0
        try:
            async with sessions() as session, session.begin():
                for key_id, at in sorted(seen.items()):
                    await session.execute(
                        update(ApiKey)
                        .where(
                            ApiKey.id == key_id,
                            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < at),
                        )
                        .values(last_used_at=at)
                        .execution_options(synchronize_session=False)
                    )
        except BaseException:
            for key_id, at in seen.items():  # newer notes win
                self._seen.setdefault(key_id, at)
            raise
        return len(seen)

    async def run(self, sessions: async_sessionmaker[AsyncSession], stop: asyncio.Event) -> None:
        """Flush every ``every`` seconds until ``stop``, then once more."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every)
            try:
                await self.flush(sessions)
            except Exception as exc:
                if not unreachable(exc):  # an outage is logged once (app.availability)
                    log.exception("recording when keys were last used failed; will retry")
            if stop.is_set():
                return


@dataclass(frozen=True, slots=True)
class Refused:
    """A known key that may not be used (revoked or expired): the 401 says which, so
    whoever holds the token knows to ask for a new one."""

    reason: str


async def identify(
    session: AsyncSession, token: str, admin_token: str | None, now: datetime | None = None
) -> Principal | Refused | None:
    """Who ``token`` belongs to; ``Refused`` for a key revoked or expired, None for a
    token that is nobody's."""
    if admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
        return Principal(Scope.ADMIN)
    key = await session.scalar(select(ApiKey).where(ApiKey.token_hash == hash_token(token)))
    if key is None:
        return None
    now = now or now_utc()
    if key.revoked_at is not None:
        return Refused(f"key {key.token_prefix}... was revoked at {_text(key.revoked_at)}")
    if key.expires_at is not None and key.expires_at <= now:
        return Refused(f"key {key.token_prefix}... expired at {_text(key.expires_at)}")
    scope = Scope(key.scope)
    return Principal(
        scope,
        key_id=key.id,
        customer_id=key.customer_id,
        # Agent keys are confined to their locations; one without any may do nothing.
        locations=frozenset(key.locations) if scope is Scope.AGENT else None,
    )


async def authenticate(
    session: AsyncSession, token: str, admin_token: str | None, now: datetime | None = None
) -> Principal | None:
    """Who ``token`` belongs to, if anyone may use it now."""
    who = await identify(session, token, admin_token, now)
    return who if isinstance(who, Principal) else None


def _text(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
