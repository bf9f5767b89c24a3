"""Settings, read from the environment (prefix ``UPTALLY_``) when the app is built.

Nothing reads these at import time: ``Settings()`` is constructed by the CLI or the
test suite and passed to ``create_app(settings)``.
"""

from __future__ import annotations

import ipaddress

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="UPTALLY_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./uptally.db"
    admin_token: SecretStr | None = None
    location: str = "local"
    allow_private_targets: bool = False
    # CIDRs probes may reach even when private targets are refused, e.g. "10.20.0.0/16".
    allowed_target_cidrs: list[str] = Field(default_factory=list)
    # Set to false to run the API without probing (e.g. extra API processes).
    scheduler_enabled: bool = True
    # How often the background folder turns newly stored results into the timeline.
    fold_interval_seconds: float = Field(default=2.0, gt=0)
    # How long a read (GET /api/v1/credits) may spend folding results that are still
    # waiting, before it answers with what is folded and says so (pending_results).
    read_fold_budget_seconds: float = Field(default=0.25, ge=0)
    # How often confirmed state changes are handed to their consumers (log, next
    # notifications and incidents).
    dispatch_interval_seconds: float = Field(default=2.0, gt=0)
    # The current-month figures cache (status pages, metrics) is recomputed wholly at
    # least this often, and for changed services after every fold.
    figures_max_age_seconds: float = Field(default=60.0, gt=0)
    log_level: str = "info"
    # Request bodies over these caps are refused with a 413 before they are read or
    # parsed, and before authentication (app.api.limits). Every request but one has
    # `max_body_bytes` (the catalog's bodies are a few kB); POST /api/v1/results has
    # its own: a 10,000-row batch with every field set and a 1,000-character error on
    # every row is 11.8 MB.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_results_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    # A hung database never hangs a request for ever: connecting (and waiting for a
    # pooled connection) gives up after the first, a statement after the second
    # (PostgreSQL; SQLite waits for its lock at most its busy timeout). Either is a 503.
    db_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    db_statement_timeout_seconds: float = Field(default=30.0, gt=0)
    # Where results that could not be written on stop (the database was down) are kept
    # until the next start writes them: by default next to a SQLite database, or
    # ./uptally-spool.db for PostgreSQL.
    spool_path: str | None = None
    # The address customers reach this server at, for heartbeat URLs and links; by
    # default the address each request came in on.
    public_url: str | None = None

    @field_validator("allowed_target_cidrs")
    @classmethod
    def _valid_cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)
        return value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        # Accept the plain URLs people paste and pick the async driver we ship.
        if value.startswith("postgres://"):
            value = "postgresql://" + value.removeprefix("postgres://")
        if value.startswith("postgresql://"):
            return "postgresql+asyncpg://" + value.removeprefix("postgresql://")
        if value.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + value.removeprefix("sqlite:///")
        return value
