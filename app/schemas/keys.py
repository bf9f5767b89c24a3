"""API keys as the admin API takes and shows them (``/api/v1/keys``). A token is shown
once, in the answer that creates it (``KeyCreated``); reads show its first characters."""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import Field, model_validator

from app.schemas.common import LOCATION_RE, Ident, Instant, ReadModel, Strict, UTCTime

KeyScope = Literal["admin", "billing", "agent", "customer"]
KeyState = Literal["active", "revoked", "expired"]


class KeyCreate(Strict):
    scope: KeyScope
    name: str = Field(default="", max_length=200, description="a label, e.g. the host or system")
    customer_id: Ident | None = Field(default=None, description="customer keys: the customer")
    locations: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="agent keys: the locations it probes for (at least one)",
    )
    expires_at: Instant | None = Field(default=None, description="refused from then on")

    @model_validator(mode="after")
    def _scope_rules(self) -> Self:
        for location in self.locations:
            if not re.fullmatch(LOCATION_RE, location):
                raise ValueError(
                    f"locations: {location!r} is not a location name (lowercase letters, "
                    "digits, '.', '_', '-'; at most 63)"
                )
        if self.scope == "agent" and not self.locations:
            raise ValueError("locations: an agent key needs at least one location")
        if self.scope != "agent" and self.locations:
            raise ValueError("locations: only agent keys are bound to locations")
        if self.scope == "customer" and self.customer_id is None:
            raise ValueError("customer_id: a customer key needs its customer")
        if self.scope != "customer" and self.customer_id is not None:
            raise ValueError("customer_id: only customer keys belong to a customer")
        return self


class KeyRotate(Strict):
    grace_seconds: int = Field(
        default=0,
        ge=0,
        le=30 * 86400,
        description="0: the old key is revoked at once; else it expires this many seconds "
        "from now (time to hand the new token out)",
    )


class KeyRead(ReadModel):
    id: int
    name: str
    scope: KeyScope
    customer_id: int | None
    locations: list[str]
    token_prefix: str = Field(description="the token's first characters, to tell keys apart")
    state: KeyState
    created_at: UTCTime
    expires_at: UTCTime | None
    revoked_at: UTCTime | None
    last_used_at: UTCTime | None = Field(
        description="the last request made with it, to within a minute (null: never)"
    )


class KeyCreated(KeyRead):
    token: str = Field(description="the secret: shown this once, stored only as a hash")


class KeyRotated(KeyCreated):
    replaces: KeyRead = Field(description="the old key, revoked or expiring")


def key_read(key: object, state: str, **extra: object) -> dict[str, object]:
    """A stored key as ``KeyRead`` fields (its state decided by the caller's now)."""
    fields = {name: getattr(key, name) for name in KeyRead.model_fields if name != "state"}
    return {**fields, "state": state, **extra}
