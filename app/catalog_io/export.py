"""The stored catalog as a catalog file: every support calendar, SLA policy, customer,
service, monitor and maintenance window, named by slugs and names, in a stable order
(calendars and policies by name, customers and services by slug, monitors by name,
windows by start), so that an export
kept in version control changes only where the catalog did, and applying it back
changes nothing.

Every field is written, defaults too: the file says what the contract is without the
reader knowing today's defaults. Ids and secrets are not: a heartbeat monitor's ping
URL holds its token, so a catalog applied to another database makes new ping URLs.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

import yaml

from app.catalog_io.fields import CALENDAR, CUSTOMER, MONITOR, POLICY, SERVICE, WINDOW, Key, label
from app.catalog_io.load import core_schema
from app.catalog_io.plan import Stored
from app.db import plain_decimal
from app.sla.periods import to_epoch, utc_text

HEADER = (
    "# An Uptally catalog: apply it with `uptally apply -f FILE` (see the README,\n"
    '# "Configuration as code"). Objects are named by slugs and names, never ids.\n'
)
# Amounts of money are written with their cents, as the API shows them.
MONEY_FIELDS = frozenset({"monthly_fee", "min_credit_amount"})


class Ambiguous(Exception):
    """Stored objects that share a name: a catalog file could not tell them apart."""


class _Flow(list[Any]):
    """A list written on one line: ``[ams, fra]``."""


class _FlowMap(dict[str, Any]):
    """A mapping written on one line: ``{from_percent: 99, to_percent: 99.9}``."""


@core_schema
class CatalogDumper(yaml.SafeDumper):
    """SafeDumper with the loader's core schema, so text that would read back as
    something else (``'99.9'``, ``'true'``, ``''``) is quoted, and nothing else is."""


def _decimal(dumper: CatalogDumper, value: Decimal) -> yaml.ScalarNode:
    text = format(value, "f")
    tag = "tag:yaml.org,2002:float" if "." in text else "tag:yaml.org,2002:int"
    return dumper.represent_scalar(tag, text)


def _text(dumper: CatalogDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None  # a request body reads best as a block
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _flow(dumper: CatalogDumper, value: _Flow) -> yaml.SequenceNode:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


def _flow_map(dumper: CatalogDumper, value: _FlowMap) -> yaml.MappingNode:
    return dumper.represent_mapping("tag:yaml.org,2002:map", value, flow_style=True)


def _representers(dumper: type[Any]) -> None:
    dumper.add_representer(Decimal, _decimal)
    dumper.add_representer(str, _text)
    dumper.add_representer(_Flow, _flow)
    dumper.add_representer(_FlowMap, _flow_map)


_representers(CatalogDumper)
# libyaml's emitter where PyYAML was built with it: the same text (the Python emitter
# is its port; a test compares them), four times faster: 10,000 monitors in 2 s, not 8.
_DUMPER: type[Any] = CatalogDumper
try:

    @core_schema
    class _FastCatalogDumper(yaml.CSafeDumper):
        """CSafeDumper with the core schema."""

    _representers(_FastCatalogDumper)
    _DUMPER = _FastCatalogDumper
except AttributeError:  # PyYAML without libyaml
    pass


def ambiguities(items: list[Stored]) -> list[str]:
    """Stored objects a catalog file could not tell apart, as messages."""
    ids: dict[tuple[str, Key], list[int]] = defaultdict(list)
    for item in items:
        ids[(item.kind, item.key)].append(item.id)
    return [
        f"{len(found)} {label(kind, key)}s (ids {', '.join(map(str, found))}): a catalog "
        "names objects, so rename all but one through the API"
        for (kind, key), found in ids.items()
        if len(found) > 1
    ]


def document(items: list[Stored]) -> dict[str, Any]:
    """The catalog file's content for ``items`` (none of them ambiguous)."""
    problems = ambiguities(items)
    if problems:
        raise Ambiguous("; ".join(problems))
    children: dict[tuple[str, Key], list[Stored]] = defaultdict(list)
    for item in items:
        if item.kind == SERVICE:
            children[(CUSTOMER, item.key[:1])].append(item)
        elif item.kind in (MONITOR, WINDOW):
            children[(SERVICE, item.key[:2])].append(item)

    def kids(kind: str, key: Key, child: str) -> list[Stored]:
        found = [item for item in children[(kind, key)] if item.kind == child]
        if child == WINDOW:  # by start, then title
            return sorted(found, key=lambda item: (item.key[3], item.key[2]))
        return sorted(found, key=lambda item: item.key)

    customers = []
    for customer in sorted((i for i in items if i.kind == CUSTOMER), key=lambda i: i.key):
        entry = _values(customer.fields)
        services = []
        for service in kids(CUSTOMER, customer.key, SERVICE):
            values = _values(service.fields)
            monitors = [_values(m.fields) for m in kids(SERVICE, service.key, MONITOR)]
            windows = [_values(w.fields) for w in kids(SERVICE, service.key, WINDOW)]
            if monitors:
                values["monitors"] = monitors
            if windows:
                values["maintenance_windows"] = windows
            services.append(values)
        if services:
            entry["services"] = services
        customers.append(entry)

    def top(kind: str) -> list[dict[str, Any]]:
        return [
            _values(item.fields)
            for item in sorted((i for i in items if i.kind == kind), key=lambda i: i.key)
        ]

    calendars = top(CALENDAR)
    content = {"support_calendars": calendars} if calendars else {}
    return content | {"policies": top(POLICY), "customers": customers}


def dump(content: dict[str, Any], *, dumper: type[Any] | None = None) -> str:
    body = yaml.dump(
        content,
        Dumper=dumper or _DUMPER,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )
    return HEADER + body


def _values(fields: dict[str, Any]) -> dict[str, Any]:
    """One object's fields as YAML values; an unset (null) field is left out, which
    reads back as the same default."""
    return {
        name: _value(name, value, top=True) for name, value in fields.items() if value is not None
    }


def _value(name: str, value: Any, *, top: bool = False) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, Decimal):
        if name in MONEY_FIELDS:
            return value.quantize(Decimal("0.01"))
        return plain_decimal(value)
    if isinstance(value, datetime):
        return utc_text(to_epoch(value))
    if name == "json_expected":
        return value  # free-form JSON, written as it is
    if isinstance(value, list):
        items = [_value(name, item) for item in value]
        if all(isinstance(item, dict) for item in items) and items:
            return [_FlowMap({k: v for k, v in item.items() if v is not None}) for item in items]
        if all(not isinstance(item, list | dict) for item in items):
            return _Flow(items)
        return items
    if isinstance(value, dict):
        return {key: _value(key, item) for key, item in value.items()}
    return value
