"""The plan: what applying a catalog file would do to the stored catalog, and how it
reads. Pure: it compares the objects a file declares with the stored ones (both in the
form of ``app.catalog_io.fields``) and decides, object by object, to create, update,
leave unchanged, delete (only with ``prune``) or keep.

Besides the changes, a plan holds what stops it from being applied:

- **problems**, in the file (exit status 2): a policy or calendar name nothing
  declares, a monitor's kind changed, an announcement in the future, a service whose default start
  (now) is after its end;
- **refusals**, from what is stored (exit status 1): a deletion the API would refuse
  (a service with closed statements: money records are kept for good), or a name that
  several stored objects share, so the file cannot say which one it means.

The rules are the API's: a PATCH of a service without ``starts_at`` keeps it; a
window's announcement is made when it is recorded (an earlier one only as an admin
import on create), stretching it re-announces it now and shrinking it does not;
changing ``failure_confirmations`` re-folds a monitor's history and ``quorum``
recomputes its state changes; deleting a monitor deletes its results and timeline.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from app.catalog_io.fields import KINDS, MONITOR, SERVICE, WINDOW, Key, label
from app.sla.periods import to_epoch, utc_text

CREATE, UPDATE, UNCHANGED, DELETE, KEEP = "create", "update", "unchanged", "delete", "keep"


@dataclass(frozen=True)
class Problem:
    """Something wrong in the file, where it was written."""

    line: int
    path: str
    message: str

    def render(self, name: str) -> str:
        return f"{name}:{self.line}: {self.path}: {self.message}"


@dataclass(frozen=True)
class Declared:
    """An object as the file declares it, validated by the API's request model."""

    kind: str
    key: Key
    fields: dict[str, Any]
    model: BaseModel  # what apply writes from (its ids are placeholders)
    path: str  # customers[0].services[1]
    lines: dict[str, int]  # the line of each field given; "" is the object's own
    # The objects it names: (kind, name, where), e.g. (POLICY, "Gold", "policy") or
    # (CALENDAR, "Office", "support_targets[0].calendar").
    references: tuple[tuple[str, str, str], ...] = ()

    def problem(self, name: str, message: str) -> Problem:
        where = f"{self.path}.{name}" if name else self.path
        line = self.lines.get(name) or self.lines.get(name.partition("[")[0]) or self.lines[""]
        return Problem(line, where, message)


@dataclass(frozen=True)
class Stored:
    """An object as the database holds it."""

    kind: str
    key: Key
    fields: dict[str, Any]
    id: int


@dataclass(frozen=True)
class References:
    """Rows outside the catalog that point at a stored object about to be deleted,
    as "3 incidents": those that keep it (the database restricts the deletion, and the
    API deletes none of them) and those deleted with it."""

    blocking: tuple[str, ...] = ()
    cascading: tuple[str, ...] = ()


@dataclass(frozen=True)
class Change:
    action: str
    kind: str
    key: Key
    diffs: tuple[tuple[str, Any, Any], ...] = ()
    notes: tuple[str, ...] = ()
    declared: Declared | None = None
    stored: Stored | None = None

    @property
    def label(self) -> str:
        """How the plan names the object; one it deletes or keeps by its id too (stored
        objects may share a name: the file cannot tell them apart, the plan can)."""
        text = label(self.kind, self.key)
        if self.stored is not None and self.action in (DELETE, KEEP):
            return f"{text} (id {self.stored.id})"
        return text


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for change in self.changes if change.action == action)

    def deletions(self) -> list[tuple[str, int]]:
        """(kind, stored id) of each object the plan deletes."""
        return [(c.kind, c.stored.id) for c in self.changes if c.action == DELETE and c.stored]

    @property
    def writes(self) -> bool:
        return any(change.action in (CREATE, UPDATE, DELETE) for change in self.changes)


def make_plan(
    declared: list[Declared], stored: list[Stored], *, prune: bool, now: datetime
) -> Plan:
    """What applying ``declared`` over ``stored`` does. ``now`` is the instant the
    API's defaults and checks would use (a service's start, an announcement)."""
    plan = Plan()
    by_key: dict[tuple[str, Key], list[Stored]] = defaultdict(list)
    for row in stored:
        by_key[(row.kind, row.key)].append(row)
    wanted = {(item.kind, item.key) for item in declared}

    for item in declared:
        matches = by_key.get((item.kind, item.key), [])
        if len(matches) > 1:
            ids = ", ".join(str(m.id) for m in matches)
            plan.refusals.append(
                f"{label(item.kind, item.key)}: {len(matches)} stored objects have this name "
                f"(ids {ids}), so the file cannot say which one it means; rename all but one "
                "through the API first"
            )
        elif matches:
            plan.changes.append(_compare(item, matches[0], plan))
        else:
            plan.changes.append(_create(item, now, plan))

    _check_references(declared, stored, prune, plan)

    for (kind, key), matches in by_key.items():
        if (kind, key) in wanted:
            continue
        for row in matches:
            if not prune:
                plan.changes.append(Change(KEEP, kind, key, stored=row))
                continue
            plan.changes.append(Change(DELETE, kind, key, stored=row))

    order = {kind: index for index, kind in enumerate(KINDS)}
    plan.changes.sort(key=lambda c: (order[c.kind], c.key, c.stored.id if c.stored else 0))
    return plan


def with_references(plan: Plan, found: dict[tuple[str, int], References]) -> Plan:
    """The plan with what points at each object it deletes: a deletion that other
    rows restrict is refused (as the API's DELETE would be: a service with closed
    statements or incidents, records kept for good); rows deleted with an object are
    noted on its line."""
    changes = []
    refusals = list(plan.refusals)
    for change in plan.changes:
        refs = found.get((change.kind, change.stored.id)) if change.stored else None
        if change.action != DELETE or refs is None:
            changes.append(change)
            continue
        if refs.blocking:
            refusals.append(
                f"{change.label} cannot be deleted: {', '.join(refs.blocking)} refer to it "
                "and are kept for good; keep it in the file"
                + (" (an `ends_at` ends it)" if change.kind == SERVICE else "")
            )
        notes = change.notes
        if refs.cascading:
            notes = (*notes, f"deleted with it: {', '.join(refs.cascading)}")
        changes.append(replace(change, notes=notes))
    return Plan(changes, list(plan.problems), refusals, list(plan.warnings))


def _create(item: Declared, now: datetime, plan: Plan) -> Change:
    values = item.fields
    if item.kind == SERVICE and values["starts_at"] is None:
        ends = values["ends_at"]
        if ends is not None and ends <= now:
            plan.problems.append(
                item.problem("ends_at", "ends_at must be after starts_at (which defaults to now)")
            )
    notes: tuple[str, ...] = ()
    if item.kind == WINDOW:
        announced = values["announced_at"]
        if announced is not None and announced > now:
            plan.problems.append(
                item.problem("announced_at", "announced_at cannot be in the future")
            )
        elif announced is not None and announced < now:
            notes = (f"imported: announced at {show(announced)}",)
    if item.kind == MONITOR and values["kind"] == "heartbeat":
        notes = ("its ping URL is printed once it is created",)
    return Change(CREATE, item.kind, item.key, notes=notes, declared=item)


def _compare(item: Declared, current: Stored, plan: Plan) -> Change:
    new = dict(item.fields)
    old = current.fields
    notes: list[str] = []
    if item.kind == SERVICE and new["starts_at"] is None:
        new["starts_at"] = old["starts_at"]  # as a PATCH without it: kept
    if item.kind == WINDOW:
        announced = new.pop("announced_at")
        if announced is not None and announced != old["announced_at"]:
            plan.warnings.append(
                item.problem(
                    "announced_at",
                    f"differs from the stored {show(old['announced_at'])} and is ignored: a "
                    "window is announced when it is recorded (stretching it re-announces it)",
                )
            )
    if item.kind == MONITOR and new["kind"] != old["kind"]:
        plan.problems.append(
            item.problem(
                "kind",
                f"a monitor's kind cannot be changed (stored: {old['kind']}); give the new "
                "monitor another name (the old one is deleted only with --prune)",
            )
        )
    names = list(new) + [name for name in old if name not in new and name != "announced_at"]
    diffs = tuple(
        (name, old.get(name), new.get(name))
        for name in names
        if not same(old.get(name), new.get(name))
    )
    if not diffs:
        return Change(UNCHANGED, item.kind, item.key, declared=item, stored=current)
    changed = {name for name, _, _ in diffs}
    if item.kind == WINDOW:
        shrunk = new["ends_at"] <= old["ends_at"]
        notes.append("shrunk: the announcement stands" if shrunk else "stretched: re-announced now")
    if item.kind == MONITOR:
        if "failure_confirmations" in changed:
            notes.append("its history is re-folded under the new confirmations")
        if "quorum" in changed:
            notes.append("its state changes are recomputed under the new quorum")
    return Change(UPDATE, item.kind, item.key, diffs, tuple(notes), item, current)


def _check_references(
    declared: list[Declared], stored: list[Stored], prune: bool, plan: Plan
) -> None:
    """What each object names (a service its policy, a support target its calendar)
    is declared, or stored and not deleted by --prune."""
    in_file = {(item.kind, item.key[0]) for item in declared}
    in_db = Counter((item.kind, item.key[0]) for item in stored)
    for item in declared:
        for kind, name, where in item.references:
            if (kind, name) in in_file:
                continue
            what = label(kind, (name,))
            if not in_db[(kind, name)]:
                known = sorted({n for k, n in in_file | set(in_db) if k == kind})
                hint = f" (known: {', '.join(map(repr, known))})" if known else ""
                plan.problems.append(item.problem(where, f"no {what}{hint}"))
            elif prune:
                plan.problems.append(
                    item.problem(
                        where, f"{what} is not in the file, so --prune would delete it: declare it"
                    )
                )
            elif in_db[(kind, name)] > 1:
                plan.refusals.append(
                    f"{label(item.kind, item.key)}: {in_db[(kind, name)]} stored objects are "
                    f"named as its {what}; rename all but one through the API, or declare it"
                )


def same(a: Any, b: Any) -> bool:
    """Equal as stored values: ``99.9 == 99.90``, but ``true`` is not ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def show(value: Any) -> str:
    """A value as a plan line shows it."""
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return utc_text(to_epoch(value))
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list | dict):
        text = json.dumps(value, default=show, ensure_ascii=False, separators=(", ", ": "))
        return text if len(text) <= 120 else text[:117] + "..."
    return str(value)


_SIGN = {CREATE: "+", UPDATE: "~", DELETE: "-", UNCHANGED: "=", KEEP: "·"}


def render(plan: Plan, name: str, *, verbose: bool = False) -> list[str]:
    """The plan as lines: every create, update (field by field) and delete; unchanged
    objects and those kept without --prune are counted, and listed when ``verbose``."""
    lines = []
    for change in plan.changes:
        if change.action in (UNCHANGED, KEEP) and not verbose:
            continue
        verb = {KEEP: "keep (not in the file; --prune deletes)"}.get(change.action, change.action)
        text = f"{_SIGN[change.action]} {verb} {change.label}"
        if change.notes:
            text += f" ({'; '.join(change.notes)})"
        lines.append(text)
        lines.extend(f"    {field}: {show(old)} -> {show(new)}" for field, old, new in change.diffs)
    kept = plan.count(KEEP)
    kept_text = f"; {kept} stored but not in the file, kept (--prune deletes them)" if kept else ""
    if not plan.writes:
        lines.append(
            f"No changes: the database matches {name} "
            f"({plan.count(UNCHANGED)} unchanged{kept_text})."
        )
    else:
        lines.append(
            f"Plan: {plan.count(CREATE)} to create, {plan.count(UPDATE)} to update, "
            f"{plan.count(DELETE)} to delete, {plan.count(UNCHANGED)} unchanged{kept_text}."
        )
    return lines
