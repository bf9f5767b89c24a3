"""The one comparable form of each kind of catalog object.

Whether it comes from a catalog file or from the database, an object is first
validated by the API's own request model (``SupportCalendarCreate``,
``SlaPolicyCreate``, ``CustomerCreate``, ``ServiceCreate``, ``MonitorCreate``,
``MaintenanceWindowCreate``) and then reduced here to a flat dict of plain values
(Decimal, aware datetime, text, numbers, lists). The plan compares two such dicts; the
export writes one out. Ids never appear: a service names its policy, a support target
its calendar, and objects are known by their keys (below).

Fields come from the models, so a field added to a model is compared, applied and
exported without a change here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.schemas.monitors import ALL_OPTIONS
from app.sla.periods import to_epoch, utc_text

CALENDAR, POLICY, CUSTOMER = "calendar", "policy", "customer"
SERVICE, MONITOR, WINDOW = "service", "monitor", "window"
# In the order they are created (a policy needs its calendars, a service its policy
# and customer); deletions go the other way.
KINDS = (CALENDAR, POLICY, CUSTOMER, SERVICE, MONITOR, WINDOW)

Key = tuple[str, ...]

# Ids the file never gives, put into the models where they require one: the objects
# they point at are named instead (a service's `policy`, the nesting for the rest).
PLACEHOLDER_ID = 1


# Each takes a model's dump (``model.model_dump()``; a stored row that today's rules
# refuse is passed as read) and gives the comparable form.


def calendar_fields(values: dict[str, Any]) -> dict[str, Any]:
    return dict(values)


def policy_fields(values: dict[str, Any], calendars: Mapping[int, str]) -> dict[str, Any]:
    """A policy's fields, each support target naming its calendar (``calendars``: the
    name of each calendar id) where the model has ``calendar_id``."""
    # Stored sorted (app/api/policies.py), so the order they are written in is no change.
    tiers = sorted(values.get("credit_tiers") or [], key=lambda t: t["from_percent"])
    result = values | {"credit_tiers": tiers}
    if "support_targets" in values:
        result["support_targets"] = [
            {k: v for k, v in target.items() if k != "calendar_id"}
            | {"calendar": _calendar(target.get("calendar_id"), calendars)}
            for target in values["support_targets"]
        ]
    return result


def _calendar(ident: int | None, calendars: Mapping[int, str]) -> str | None:
    if ident is None:
        return None  # 24/7
    return calendars.get(ident, f"(missing calendar {ident})")


def customer_fields(values: dict[str, Any]) -> dict[str, Any]:
    return dict(values)


# A service's fields in the file: its policy by name where the model has policy_id.
SERVICE_ORDER = ("slug", "name", "policy", "monthly_fee", "currency", "starts_at", "ends_at")


def service_fields(values: dict[str, Any], policy: str) -> dict[str, Any]:
    rest = {k: v for k, v in values.items() if k not in ("customer_id", "policy_id")}
    rest["policy"] = policy
    ordered = {name: rest.pop(name) for name in SERVICE_ORDER if name in rest}
    return ordered | rest  # fields added to the model later come last


def monitor_fields(values: dict[str, Any]) -> dict[str, Any]:
    """The monitor's own fields, then the kind options that were given (as on
    create: options at the top level; an absent one is not set)."""
    own = {k: v for k, v in values.items() if k != "service_id" and k not in ALL_OPTIONS}
    options = {k: values[k] for k in sorted(ALL_OPTIONS) if values.get(k) is not None}
    return own | options


def window_fields(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k != "service_id"}


def calendar_key(fields: dict[str, Any]) -> Key:
    return (fields["name"],)


def policy_key(fields: dict[str, Any]) -> Key:
    return (fields["name"],)


def customer_key(fields: dict[str, Any]) -> Key:
    return (fields["slug"],)


def service_key(customer: str, fields: dict[str, Any]) -> Key:
    return (customer, fields["slug"])


def monitor_key(service: Key, fields: dict[str, Any]) -> Key:
    return (*service, fields["name"])


def window_key(service: Key, fields: dict[str, Any]) -> Key:
    """A window is known by its service, title and start: moving its start makes
    another window (the API re-announces a moved window anyway)."""
    return (*service, fields["title"], utc_text(to_epoch(fields["starts_at"])))


def label(kind: str, key: Key) -> str:
    """How the plan and the messages name an object."""
    match kind:
        case "calendar":
            return f"support calendar {key[0]!r}"
        case "policy":
            return f"SLA policy {key[0]!r}"
        case "customer":
            return f"customer {key[0]}"
        case "service":
            return f"service {key[0]}/{key[1]}"
        case "monitor":
            return f"monitor {key[0]}/{key[1]} {key[2]!r}"
        case _:
            return f"maintenance window {key[0]}/{key[1]} {key[2]!r} at {key[3]}"
