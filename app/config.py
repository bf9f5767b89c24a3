"""Settings, read from the environment (prefix ``UPTALLY_``) when the app is built.

Nothing reads these at import time: ``Settings()`` is constructed by the CLI or the
test suite and passed to ``create_app(settings)``.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

PREFIX = "UPTALLY_"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
MIN_RETENTION_DAYS = 7


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore")

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
    # Raw check results are kept this many days (0: for ever), then pruned in the
    # background (app.monitoring.retention); the timeline, state changes, statements
    # and incidents are kept for good. A pass runs every `retention_interval_seconds`
    # and deletes at most `retention_batch_rows` rows per transaction.
    result_retention_days: int = Field(default=90, ge=0)
    retention_interval_seconds: float = Field(default=3600.0, gt=0)
    retention_batch_rows: int = Field(default=1000, ge=100, le=100_000)
    # Logging: the level (debug also shows each check's scheduler and HTTP lines), and
    # text or one JSON object per line (app.logs).
    log_level: str = "info"
    log_format: Literal["text", "json"] = "text"
    # `uptally serve` and `uptally agent` run on uvloop where it is installed (app.loop):
    # about half the event loop's CPU per check. False: asyncio's own loop.
    uvloop: bool = True
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
    # Status pages, their JSON and feed, and badges are computed at most this often
    # per customer (app.status.cache); a page also reloads itself at this pace.
    status_max_age_seconds: float = Field(default=30.0, gt=0)
    # Signs links to private status pages (`uptally status-link`); changing it revokes
    # every link. Without it, private pages open only with the customer's key.
    secret_key: SecretStr | None = None
    # The priority of the incident opened when a service goes DOWN (app.incidents.outages).
    incident_outage_priority: Literal["P1", "P2", "P3", "P4"] = "P1"
    # Notifications (app.notifications): Apprise URLs told of every event of every
    # customer (the provider's own on-call), besides the per-customer and per-service
    # lists set through the API.
    notify_urls: list[str] = Field(default_factory=list)
    # How often the notifier looks for degraded monitors, burning budgets and reminders
    # due, and the delivery loop for messages to send.
    notify_interval_seconds: float = Field(default=2.0, gt=0)
    # A reminder while a service stays down, this often (0: no reminders).
    notify_reminder_seconds: int = Field(default=3600, ge=0)
    # "Error budget burning fast": more than this share of the month's error budget
    # spent within the last hour.
    notify_budget_burn_share: Decimal = Field(default=Decimal("0.05"), gt=0, le=1)
    # A degraded episode ends after this long without a warning (so a monitor hovering
    # at its latency threshold is not announced again and again).
    notify_degraded_clear_seconds: int = Field(default=600, ge=0)
    # A failed delivery is retried after this, doubling each time up to the maximum,
    # and given up after that many attempts.
    notify_retry_seconds: float = Field(default=30.0, gt=0)
    notify_retry_max_seconds: float = Field(default=3600.0, gt=0)
    notify_max_attempts: int = Field(default=10, ge=1)
    # How long one delivery may take before it counts as failed.
    notify_timeout_seconds: float = Field(default=15.0, gt=0)
    # State changes older than this when they are handed over (a backlog after a long
    # stop) are recorded but not announced: no storm of stale news.
    notify_max_age_seconds: int = Field(default=86_400, ge=0)
    # Messages and their deliveries are kept this many days.
    notify_keep_days: int = Field(default=90, ge=1)
    # Tell of an unacknowledged incident this long before it misses its response target.
    notify_incident_warn_seconds: int = Field(default=900, ge=0)

    @field_validator("allowed_target_cidrs")
    @classmethod
    def _valid_cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)
        return value

    @field_validator("result_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if 0 < value < MIN_RETENTION_DAYS:
            raise ValueError(
                f"keep results at least {MIN_RETENTION_DAYS} days (an agent cut off for "
                "days still sends what it buffered), or 0 to keep them for ever"
            )
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.lower() not in LOG_LEVELS:
            raise ValueError(f"{value!r} is not a log level ({', '.join(LOG_LEVELS)})")
        return value.lower()

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


class BadSetting(Exception):
    """An UPTALLY_* variable that does not validate; the message is one line per
    variable, each naming it (``UPTALLY_X: what is wrong``)."""


def load_settings() -> Settings:
    """``Settings()`` from the environment, or ``BadSetting`` naming each bad variable
    (a value that is not even JSON, where JSON is expected, included)."""
    try:
        return Settings()
    except ValidationError as exc:
        raise BadSetting(
            "; ".join(
                f"{PREFIX}{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
                for e in exc.errors()
            )
        ) from None
    except SettingsError as exc:  # pydantic-settings could not parse a complex value
        found = re.search(r'field "(\w+)"', str(exc))
        name = f"{PREFIX}{found.group(1).upper()}" if found else "a setting"
        cause = exc.__cause__
        why = f"not valid JSON ({cause})" if isinstance(cause, json.JSONDecodeError) else str(exc)
        raise BadSetting(f"{name}: {why}; expected JSON, e.g. {name}='[\"10.0.0.0/8\"]'") from None


# UPTALLY_* variables that are not settings but are read on purpose: the agent's
# token, and the test suite's PostgreSQL.
OTHER_VARIABLES = frozenset(
    {"UPTALLY_AGENT_TOKEN", "UPTALLY_TEST_POSTGRES_URL", "UPTALLY_TEST_POSTGRES"}
)


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A warning for each ``UPTALLY_*`` variable that is no setting (a typo is
    otherwise silently ignored), with the closest setting's name when there is one."""
    known = {f"{PREFIX}{name.upper()}" for name in Settings.model_fields} | OTHER_VARIABLES
    warnings = []
    for name in sorted(environ):
        if not name.upper().startswith(PREFIX) or name.upper() in known:
            continue
        close = difflib.get_close_matches(name.upper(), sorted(known), n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]}?)" if close else ""
        warnings.append(f"{name} is not an Uptally setting and is ignored{hint}")
    return warnings
