"""A catalog file's objects through the API's request models.

Each object is validated by the model its ``POST`` takes (with the ids it would carry
replaced by names and nesting), so a value the API refuses is refused here with the
same message, and every problem names the file, the line and the field::

    catalog.yaml:14: customers[0].services[2].monthly_fee: Input should be a valid decimal

Every problem in the file is collected, not only the first; the caller writes nothing
unless there are none.

The file's shape::

    support_calendars:   # SupportCalendarCreate fields
      - name: Office hours
        ...
    policies:            # SlaPolicyCreate fields, `calendar: NAME` for calendar_id
      - name: Standard
        ...
    customers:           # CustomerCreate fields
      - slug: acme
        ...
        services:        # ServiceCreate fields, `policy: NAME` for policy_id
          - slug: web
            ...
            monitors:              # MonitorCreate fields, kind options at the top
              - name: home
                ...
            maintenance_windows:   # MaintenanceWindowCreate fields
              - title: Upgrade
                ...
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from app.catalog_io.fields import (
    CALENDAR,
    CUSTOMER,
    MONITOR,
    PLACEHOLDER_ID,
    POLICY,
    SERVICE,
    WINDOW,
    Key,
    calendar_fields,
    calendar_key,
    customer_fields,
    customer_key,
    label,
    monitor_fields,
    monitor_key,
    policy_fields,
    policy_key,
    service_fields,
    service_key,
    window_fields,
    window_key,
)
from app.catalog_io.load import FieldPath, Source, show_path
from app.catalog_io.plan import Declared, Problem
from app.schemas.catalog import (
    CustomerCreate,
    MaintenanceWindowCreate,
    ServiceCreate,
    SlaPolicyCreate,
)
from app.schemas.monitors import MonitorCreate
from app.schemas.support import SupportCalendarCreate

M = TypeVar("M", bound=BaseModel)

TOP_LEVEL = ("support_calendars", "policies", "customers")
# Fields of the API's reads and writes that a catalog file names otherwise.
_NAMED_OTHERWISE = {
    "id": "objects are known by their slugs and names, not ids",
    "customer_id": "a service belongs to the customer it is listed under",
    "policy_id": "name the SLA policy with `policy: NAME`",
    "service_id": "monitors and windows belong to the service they are listed under",
    "heartbeat_url": "the ping URL is made when the monitor is created (it holds a secret)",
    "options": "give kind options at the top level of the monitor, as on create",
    "calendar_id": "name the support calendar with `calendar: NAME` (none: 24/7)",
}
_SECTIONS = ", ".join(f"`{name}`" for name in TOP_LEVEL)
_FIRST_WORD = re.compile(r"^([a-z_]+)\b")


@dataclass
class Validated:
    declared: list[Declared] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def validate(source: Source) -> Validated:
    """The file's objects, validated, in creation order (parents first)."""
    return _Validator(source).run()


class _Validator:
    def __init__(self, source: Source) -> None:
        self.source = source
        self.out = Validated()
        self.seen: dict[tuple[str, Key], int] = {}

    def run(self) -> Validated:
        data = self.source.data
        if not isinstance(data, dict):
            self.problem((), f"a catalog is a mapping of {_SECTIONS} lists")
            return self.out
        for name in data:
            if name not in TOP_LEVEL:
                self.problem((name,), f"unknown section (a catalog has {_SECTIONS})")
        for path, item in self.items(data, ("support_calendars",), "support calendars"):
            self.calendar(path, item)
        for path, item in self.items(data, ("policies",), "SLA policies"):
            self.policy(path, item)
        for path, item in self.items(data, ("customers",), "customers"):
            self.customer(path, item)
        return self.out

    # -- the kinds

    def calendar(self, path: FieldPath, data: dict[str, Any]) -> None:
        unique = self.unique(CALENDAR, (_text(data.get("name")),), path, "name")
        model = self.model(SupportCalendarCreate, path, data)
        if model is not None and unique:
            values = calendar_fields(model.model_dump())
            self.declare(CALENDAR, calendar_key(values), values, model, path, data)

    def policy(self, path: FieldPath, data: dict[str, Any]) -> None:
        unique = self.unique(POLICY, (_text(data.get("name")),), path, "name")
        given, calendars, references = self.support_targets(path, data)
        model = self.model(SlaPolicyCreate, path, given)
        if model is not None and unique and references is not None:
            values = policy_fields(model.model_dump(), calendars)
            self.declare(POLICY, policy_key(values), values, model, path, data, references)

    def support_targets(
        self, path: FieldPath, data: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[int, str], tuple[tuple[str, str, str], ...] | None]:
        """The policy with each support target's `calendar: NAME` made a stand-in id
        for the model (one per name, so they survive its sorting), the names by those
        ids, and the references (None if a target names its calendar wrongly)."""
        targets = data.get("support_targets")
        if not isinstance(targets, list):
            return data, {}, ()
        ids: dict[str, int] = {}
        references: list[tuple[str, str, str]] | None = []
        given = []
        for index, target in enumerate(targets):
            if not isinstance(target, dict):
                given.append(target)
                continue
            target = dict(target)
            where = (*path, "support_targets", index)
            if "calendar_id" in target:
                message = f"not a catalog field: {_NAMED_OTHERWISE['calendar_id']}"
                self.problem((*where, "calendar_id"), message)
                del target["calendar_id"]
                references = None
            name = target.pop("calendar", None)
            if name is not None and (not isinstance(name, str) or not name.strip()):
                message = "the name of a support calendar (text), or null for 24/7"
                self.problem((*where, "calendar"), message)
                references = None
            elif name is not None:
                target["calendar_id"] = ids.setdefault(name.strip(), PLACEHOLDER_ID + len(ids))
                if references is not None:
                    relative = show_path((*where[len(path) :], "calendar"))
                    references.append((CALENDAR, name.strip(), relative))
            given.append(target)
        names = {ident: name for name, ident in ids.items()}
        found = tuple(references) if references is not None else None
        return data | {"support_targets": given}, names, found

    def customer(self, path: FieldPath, data: dict[str, Any]) -> None:
        slug = _text(data.get("slug"))
        unique = self.unique(CUSTOMER, (slug,), path, "slug")
        own = {k: v for k, v in data.items() if k != "services"}
        model = self.model(CustomerCreate, path, own)
        if model is not None and unique:
            values = customer_fields(model.model_dump())
            self.declare(CUSTOMER, customer_key(values), values, model, path, data)
        for child_path, item in self.items(data, (*path, "services"), "services"):
            self.service(child_path, item, slug)

    def service(self, path: FieldPath, data: dict[str, Any], customer: str) -> None:
        key = (customer, _text(data.get("slug")))
        unique = self.unique(SERVICE, key, path, "slug")
        own = {
            k: v for k, v in data.items() if k not in ("policy", "monitors", "maintenance_windows")
        }
        policy = data.get("policy")
        if "policy" not in data:
            self.problem(path, "policy: Field required (the name of an SLA policy)")
        elif not isinstance(policy, str) or not policy.strip():
            self.problem((*path, "policy"), "the name of an SLA policy (text)")
        placeholders = {"customer_id": PLACEHOLDER_ID, "policy_id": PLACEHOLDER_ID}
        model = self.model(ServiceCreate, path, own, placeholders)
        if model is not None and unique and isinstance(policy, str) and policy.strip():
            values = service_fields(model.model_dump(), policy.strip())
            references = ((POLICY, policy.strip(), "policy"),)
            self.declare(
                SERVICE, service_key(customer, values), values, model, path, data, references
            )
        for child_path, item in self.items(data, (*path, "monitors"), "monitors"):
            self.monitor(child_path, item, key)
        for child_path, item in self.items(
            data, (*path, "maintenance_windows"), "maintenance windows"
        ):
            self.window(child_path, item, key)

    def monitor(self, path: FieldPath, data: dict[str, Any], service: Key) -> None:
        unique = self.unique(MONITOR, (*service, _text(data.get("name"))), path, "name")
        given = dict(data)
        if "json_expected" in given:
            # A free-form JSON value: its numbers are what JSON would make of them.
            given["json_expected"] = _as_json(given["json_expected"])
        model = self.model(MonitorCreate, path, given, {"service_id": PLACEHOLDER_ID})
        if model is not None and unique:
            values = monitor_fields(model.model_dump())
            self.declare(MONITOR, monitor_key(service, values), values, model, path, data)

    def window(self, path: FieldPath, data: dict[str, Any], service: Key) -> None:
        model = self.model(MaintenanceWindowCreate, path, data, {"service_id": PLACEHOLDER_ID})
        if model is not None:
            values = window_fields(model.model_dump())
            key = window_key(service, values)  # its start as the API reads it
            if self.unique(WINDOW, key, path, "starts_at"):
                self.declare(WINDOW, key, values, model, path, data)

    # -- plumbing

    def items(
        self, parent: dict[str, Any], path: FieldPath, what: str
    ) -> list[tuple[FieldPath, dict[str, Any]]]:
        """The mappings listed under ``path`` (absent or null: none)."""
        value = parent.get(str(path[-1]))
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(path, f"a list of {what}")
            return []
        found = []
        for index, item in enumerate(value):
            if isinstance(item, dict):
                found.append(((*path, index), item))
            else:
                self.problem((*path, index), f"each of the {what} is a mapping of its fields")
        return found

    def model(
        self,
        model: type[M],
        path: FieldPath,
        data: dict[str, Any],
        placeholders: dict[str, Any] | None = None,
    ) -> M | None:
        placeholders = placeholders or {}
        refused = [
            name
            for name in data
            if name in _NAMED_OTHERWISE and (name not in model.model_fields or name in placeholders)
        ]
        for name in refused:
            self.problem((*path, name), f"not a catalog field: {_NAMED_OTHERWISE[name]}")
        given = {k: v for k, v in data.items() if k not in refused}
        try:
            validated = model.model_validate({**given, **placeholders})
        except ValidationError as exc:
            for error in exc.errors():
                self.pydantic_problem(path, data, error)
            return None
        return None if refused else validated

    def pydantic_problem(self, path: FieldPath, data: dict[str, Any], error: Any) -> None:
        message: str = error["msg"].removeprefix("Value error, ")
        loc = tuple(error["loc"])
        if not loc:
            # A rule across fields: its message starts with the field it is about
            # ("quorum: 3 is more than...", "ends_at must be after starts_at").
            match = _FIRST_WORD.match(message)
            if match and match.group(1) in data:
                loc = (match.group(1),)
                message = message.removeprefix(f"{match.group(1)}: ")
        self.problem((*path, *loc), message)

    def unique(self, kind: str, key: Key, path: FieldPath, key_field: str) -> bool:
        """Whether no object of ``kind`` before this one has ``key``: names are keys,
        so a second one is a problem (at its own line, naming the first one's)."""
        if "" in key:  # no usable name: its own problem says so
            return True
        line = self.source.line((*path, key_field))
        first = self.seen.setdefault((kind, key), line)
        if first != line:
            self.problem((*path, key_field), f"{label(kind, key)} is declared twice (line {first})")
        return first == line

    def declare(
        self,
        kind: str,
        key: Key,
        values: dict[str, Any],
        model: BaseModel,
        path: FieldPath,
        data: dict[str, Any],
        references: tuple[tuple[str, str, str], ...] = (),
    ) -> None:
        lines = {"": self.source.line(path)} | {
            name: self.source.line((*path, name)) for name in data
        }
        for _, _, where in references:  # nested ones: support_targets[0].calendar
            lines[where] = self.source.line((*path, *_parse_path(where)))
        self.out.declared.append(
            Declared(kind, key, values, model, show_path(path), lines, references)
        )

    def problem(self, path: FieldPath, message: str) -> None:
        where = show_path(path) or "(the document)"
        self.out.problems.append(Problem(self.source.line(path), where, message))


def _parse_path(text: str) -> FieldPath:
    """``support_targets[0].calendar`` -> ``('support_targets', 0, 'calendar')``."""
    parts: list[str | int] = []
    for name in text.split("."):
        head, *indexes = name.split("[")
        parts.append(head)
        parts.extend(int(index.rstrip("]")) for index in indexes)
    return tuple(parts)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _as_json(value: Any) -> Any:
    """Numbers as ``json.loads`` makes them: the loader's exact decimals become floats
    in a free-form JSON value (an integer stays an integer)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list):
        return [_as_json(item) for item in value]
    if isinstance(value, dict):
        return {key: _as_json(item) for key, item in value.items()}
    return value
