"""Request and response models for monitors: their kinds' options (with the bounds
that keep a monitor small enough for every agent to read), and the validation a
one-off check (``uptally check``) shares with them."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, Field, model_validator

from app.schemas.common import (
    LOCATION_RE,
    Ident,
    Name,
    ReadModel,
    Strict,
    UTCTime,
    value_problem,
)
from probes.targets import TargetError, parse_host_port, validate_host, validate_http_url

MonitorKind = Literal["http", "tcp", "dns", "tls", "icmp", "heartbeat"]

# Which optional fields each kind understands; any other kind-specific field is an error.
KIND_OPTIONS: dict[str, frozenset[str]] = {
    "http": frozenset(
        {
            "method",
            "headers",
            "body",
            "expected_status",
            "keyword",
            "keyword_absent",
            "json_path",
            "json_expected",
            "degraded_latency_ms",
            "follow_redirects",
            "verify_tls",
        }
    ),
    "tcp": frozenset({"send", "expect"}),
    "dns": frozenset({"record_type", "expected_answers", "resolver"}),
    "tls": frozenset({"warn_days", "min_days_left", "server_name"}),
    "icmp": frozenset({"packet_count"}),
    "heartbeat": frozenset({"grace_seconds"}),
}
ALL_OPTIONS = frozenset().union(*KIND_OPTIONS.values())

# Option sizes are bounded: a monitor is read by every agent of its locations on
# every assignment change, so one must stay small.
MAX_HEADERS = 50
# An HTTP field name is a token (RFC 9110); a value is visible ASCII, spaces and tabs
# (no CR/LF to split the request, nothing the HTTP client would refuse when probing).
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")


def _header_name(name: str) -> str:
    if not _HEADER_NAME.fullmatch(name):
        raise ValueError(
            "a header name is 1-256 letters, digits or !#$%&'*+.^_`|~- (no spaces, no colon)"
        )
    return name


def _header_value(value: str) -> str:
    if not _HEADER_VALUE.fullmatch(value):
        raise ValueError(
            "a header value is printable ASCII, spaces and tabs (no CR, LF or other controls)"
        )
    return value


HeaderName = Annotated[str, AfterValidator(_header_name)]
HeaderValue = Annotated[str, Field(max_length=4096), AfterValidator(_header_value)]
Answer = Annotated[str, Field(min_length=1, max_length=1024)]
MAX_JSON_EXPECTED = 4096  # characters of json_expected as compact JSON


def _json_expected(value: Any) -> Any:
    if value is None:
        return value
    problem = value_problem(value)  # before dumping: nesting, NaN, invalid text
    if problem is not None:
        raise ValueError(problem)
    if len(json.dumps(value, separators=(",", ":"), ensure_ascii=False)) > MAX_JSON_EXPECTED:
        raise ValueError(f"at most {MAX_JSON_EXPECTED} characters as JSON")
    return value


class OptionFields(Strict):
    """Kind-specific options; each applies only to the kinds in KIND_OPTIONS."""

    # http
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] | None = None
    headers: dict[HeaderName, HeaderValue] | None = Field(default=None, max_length=MAX_HEADERS)
    body: str | None = Field(default=None, max_length=65_536)
    expected_status: list[int] | None = Field(default=None, min_length=1, max_length=100)
    keyword: str | None = Field(default=None, min_length=1, max_length=1000)
    keyword_absent: bool | None = None
    json_path: str | None = Field(
        default=None, max_length=1000, pattern=r"^\$(\.[A-Za-z0-9_-]+|\[\d+\])*$"
    )
    json_expected: Annotated[Any, AfterValidator(_json_expected)] = None
    degraded_latency_ms: int | None = Field(default=None, ge=1, le=600_000)
    follow_redirects: bool | None = None
    verify_tls: bool | None = None
    # tcp
    send: str | None = Field(default=None, max_length=4096)
    expect: str | None = Field(default=None, max_length=4096)
    # dns
    record_type: Literal["A", "AAAA", "CNAME", "MX", "NS", "TXT", "SOA", "CAA", "SRV", "PTR"] | (
        None
    ) = None
    expected_answers: list[Answer] | None = Field(default=None, max_length=100)
    resolver: str | None = Field(default=None, max_length=300)
    # tls
    warn_days: int | None = Field(default=None, ge=0, le=365)
    min_days_left: int | None = Field(default=None, ge=0, le=365)
    server_name: str | None = Field(default=None, max_length=253)
    # icmp
    packet_count: int | None = Field(default=None, ge=1, le=10)
    # heartbeat
    grace_seconds: int | None = Field(default=None, ge=0, le=7 * 86_400)


class MonitorOptions(OptionFields):
    """The options with the checks between them (a patch is checked once merged)."""

    @model_validator(mode="after")
    def _option_values(self) -> Self:
        if self.expected_status is not None:
            bad = [code for code in self.expected_status if not 100 <= code <= 599]
            if bad:
                raise ValueError(f"expected_status: {bad} are not HTTP status codes (100-599)")
        if self.resolver is not None:
            try:
                parse_host_port(self.resolver, default_port=53)
            except TargetError as exc:
                raise ValueError(f"resolver: {exc}") from None
        if self.server_name is not None:
            try:
                validate_host(self.server_name)
            except TargetError as exc:
                raise ValueError(f"server_name: {exc}") from None
        if self.json_expected is not None and self.json_path is None:
            raise ValueError("json_expected needs json_path")
        return self


# The monitor fields' bounds, shared by create and patch (so both document them).
Target = Annotated[str, Field(max_length=2048)]
IntervalSeconds = Annotated[int, Field(ge=10, le=31 * 86_400)]
TimeoutSeconds = Annotated[int, Field(ge=1, le=120)]
Locations = Annotated[list[str], Field(min_length=1, max_length=20)]
Quorum = Annotated[int, Field(ge=1, le=20)]
Confirmations = Annotated[int, Field(ge=1, le=20)]


class MonitorCreate(MonitorOptions):
    service_id: Ident
    name: Name
    kind: MonitorKind
    target: Target = ""
    interval_seconds: IntervalSeconds = 60
    timeout_seconds: TimeoutSeconds = 10
    locations: Locations = Field(default_factory=lambda: ["local"])
    quorum: Quorum = 1
    failure_confirmations: Confirmations = 1
    enabled: bool = True

    @model_validator(mode="after")
    def _kind_rules(self) -> Self:
        for location in self.locations:
            if not re.match(LOCATION_RE, location):
                raise ValueError(
                    f"locations: {location!r} is not a location name "
                    "(lowercase letters, digits, '-', '_', '.')"
                )
        if len(set(self.locations)) != len(self.locations):
            raise ValueError("locations: each location may be listed once")
        if self.quorum > len(self.locations):
            raise ValueError(
                f"quorum: {self.quorum} is more than the {len(self.locations)} location(s) listed"
            )
        if self.kind != "heartbeat" and self.timeout_seconds > self.interval_seconds:
            raise ValueError("timeout_seconds must not exceed interval_seconds")
        self.target = fit_kind(self.kind, self.target, self)
        return self

    def options(self) -> dict[str, Any]:
        return given_options(self)


class CheckOptions(MonitorOptions):
    """One check's kind, target, timeout and kind options, held to a monitor's rules
    (``uptally check``): what a monitor says about probing, without its service,
    schedule or locations."""

    kind: MonitorKind
    target: Target = ""
    timeout_seconds: TimeoutSeconds = 10

    @model_validator(mode="after")
    def _fits_kind(self) -> Self:
        self.target = fit_kind(self.kind, self.target, self)
        return self

    def options(self) -> dict[str, Any]:
        return given_options(self)


def given_options(options: OptionFields) -> dict[str, Any]:
    """The options that were given, by name."""
    return {
        name: getattr(options, name)
        for name in sorted(ALL_OPTIONS)
        if getattr(options, name) is not None
    }


def fit_kind(kind: str, target: str, options: OptionFields) -> str:
    """Check that every option given applies to ``kind`` and that ``target`` is one of
    its targets; returns the target, normalised. Monitors and one-off checks share it."""
    foreign = sorted(set(given_options(options)) - KIND_OPTIONS[kind])
    if foreign:
        raise ValueError(f"{', '.join(foreign)} do(es) not apply to {kind} monitors")
    try:
        return _validated_target(kind, target)
    except TargetError as exc:
        raise ValueError(f"target: {exc}") from None


def _validated_target(kind: str, target: str) -> str:
    match kind:
        case "http":
            return validate_http_url(target)
        case "tcp":
            parse_host_port(target)
        case "tls":
            parse_host_port(target, default_port=443)
        case "dns" | "icmp":
            validate_host(target.strip())
        case "heartbeat":
            return target  # passive: the target is only a label
    return target.strip()


class MonitorUpdate(OptionFields):
    """A partial monitor, validated merged with the stored one by every create rule.

    Kind options go at the top level as on create (``null`` removes one), or all at once
    as ``options`` (the read's shape: it replaces the stored set; top-level options are
    applied over it). The read-only fields of a read (``id``, ``service_id``, ``kind``,
    ``heartbeat_url``) are accepted when unchanged, so a GET can be sent back as a PATCH;
    changing them is a 422."""

    name: Name | None = None
    target: Target | None = None
    interval_seconds: IntervalSeconds | None = None
    timeout_seconds: TimeoutSeconds | None = None
    locations: Locations | None = None
    quorum: Quorum | None = None
    failure_confirmations: Confirmations | None = None
    enabled: bool | None = None
    options: OptionFields | None = Field(
        default=None, description="every kind option at once, replacing the stored set"
    )
    id: int | None = Field(default=None, description="read-only: accepted when unchanged")
    service_id: int | None = Field(default=None, description="read-only: accepted when unchanged")
    kind: MonitorKind | None = Field(default=None, description="read-only: accepted when unchanged")
    heartbeat_url: str | None = Field(
        default=None, max_length=2048, description="read-only: accepted when unchanged"
    )
    state: str | None = Field(default=None, description="observed, not set: ignored")
    state_since: str | None = Field(default=None, description="observed, not set: ignored")


class MonitorRead(ReadModel):
    id: int
    service_id: int
    name: str
    kind: str
    target: str
    interval_seconds: int
    timeout_seconds: int
    locations: list[str]
    quorum: int
    failure_confirmations: int
    enabled: bool
    options: dict[str, Any]
    heartbeat_url: str | None = None


StateName = Literal["up", "down", "no_data"]
STATE_DESCRIPTION = (
    "what it is now, from its latest confirmed state change: up, down (its quorum of "
    "locations failing) or no_data"
)
SINCE_DESCRIPTION = "when that state began (null: no result yet)"


class MonitorWithState(MonitorRead):
    """A monitor as admins and customers read it: with its state now, and since when."""

    state: StateName = Field(description=STATE_DESCRIPTION)
    state_since: UTCTime | None = Field(description=SINCE_DESCRIPTION)
