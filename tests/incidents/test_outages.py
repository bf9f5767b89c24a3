"""Incidents of outages through the real app, on both databases: results pushed through
the API are folded into state changes, the dispatcher hands them to the app's own
handlers (app.incidents.outages among them), and the incident opens at the first
DOWN instant and resolves itself at the first UP one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from app.models import StateChange
from app.monitoring.dispatch import Change, dispatch_once
from app.monitoring.folding import fold_pending
from app.sla.periods import month_of, to_epoch, utc_text
from tests.conftest import Api
from tests.helpers import Catalog

INTERVAL = 60


def rows(monitor_id: int, start: int, outcomes: list[tuple[int, bool]]) -> list[dict[str, Any]]:
    return [
        {
            "monitor_id": monitor_id,
            "location": "local",
            "checked_at": utc_text(start + offset),
            "ok": ok,
            "interval_seconds": INTERVAL,
        }
        for offset, ok in outcomes
    ]


async def settle(api: Api, app: Any, results: list[dict[str, Any]]) -> None:
    """Push, fold and dispatch through the app's runtime (its background loops may
    get there first: claims keep every change handled once)."""
    await api.call("POST", "/api/v1/results", json={"results": results}, expect=202)
    runtime = app.state.runtime
    await fold_pending(runtime.sessions)
    now = to_epoch(datetime.now(UTC))
    while await dispatch_once(runtime.sessions, runtime.change_handlers, "test", now):
        pass


async def incidents(api: Api, service_id: int) -> list[dict[str, Any]]:
    return await api.items(f"/api/v1/incidents?service_id={service_id}")


def start_of_test() -> int:
    # An hour ago, on a whole minute: every instant below lies in the past.
    return (to_epoch(datetime.now(UTC)) - 3600) // 60 * 60


async def test_an_outage_opens_one_incident_that_resolves_itself(
    api: Api, app: Any, catalog: Catalog
) -> None:
    service_id, monitor_id = catalog["service"]["id"], catalog["monitor"]["id"]
    target = {"priority": "P1", "respond_minutes": 15, "resolve_minutes": 60}
    policy = f"/api/v1/sla-policies/{catalog['policy']['id']}"
    await api.call("PATCH", policy, json={"support_targets": [target]}, expect=200)
    t0 = start_of_test()
    # UP, then three failed checks (one outage, not three incidents).
    await settle(api, app, rows(monitor_id, t0, [(0, True), (60, True), (120, False),
                                                 (180, False), (240, False)]))  # fmt: skip
    [opened] = await incidents(api, service_id)
    assert opened["source"] == "monitor" and opened["priority"] == "P1"
    assert opened["opened_at"] == opened["outage_started_at"] == utc_text(t0 + 120)
    assert opened["state"] == "open" and opened["restore_seconds"] is None
    [note] = opened["events"]
    assert note["kind"] == "comment" and note["automatic"] and not note["public"]
    # An operator acknowledges it.
    await api.call(
        "POST", f"/api/v1/incidents/{opened['id']}/events", json={"kind": "acknowledge"},
        expect=201,
    )  # fmt: skip
    # The service is UP again at t0 + 300: the incident resolves itself.
    await settle(api, app, rows(monitor_id, t0, [(300, True), (360, True)]))
    [closed] = await incidents(api, service_id)
    assert closed["state"] == "resolved"
    assert closed["resolved_at"] == closed["restored_at"] == utc_text(t0 + 300)
    assert closed["restore_seconds"] == 180
    # (The results are an hour old: the resolution at t0 + 300 comes before the
    # acknowledgement made just now, and stopped the response clock first.)
    [resolve] = [e for e in closed["events"] if e["kind"] == "resolve"]
    assert resolve["automatic"] and resolve["actor"] == "system"
    assert resolve["at"] == utc_text(t0 + 300)
    assert closed["respond"] == {
        "target_minutes": 15, "elapsed_seconds": 180, "due_at": utc_text(t0 + 120 + 900),
        "met": True,
    }  # fmt: skip
    # The same length as the SLA endpoint's downtime period.
    month = month_of(t0 + 120, "Europe/Berlin")
    sla = (await api.call("GET", f"/api/v1/services/{service_id}/sla?month={month}")).json()
    [period] = [p for p in sla["downtime_periods"] if p["start"] == utc_text(t0 + 120)]
    assert period["seconds"] == closed["restore_seconds"]


async def test_a_change_delivered_twice_opens_nothing_more(
    api: Api, app: Any, catalog: Catalog
) -> None:
    service_id, monitor_id = catalog["service"]["id"], catalog["monitor"]["id"]
    t0 = start_of_test()
    await settle(api, app, rows(monitor_id, t0, [(0, True), (60, False), (120, False),
                                                 (180, True), (240, True)]))  # fmt: skip
    [first] = await incidents(api, service_id)
    runtime = app.state.runtime
    async with runtime.sessions() as session:
        stored = [Change.of(row) for row in await session.scalars(select(StateChange))]
    assert any(c.new == "down" for c in stored)
    for handler in runtime.change_handlers:  # the lease ran out: everything again
        await handler(stored)
    assert await incidents(api, service_id) == [first]
    assert first["restore_seconds"] == 120 and len(first["events"]) == 2


async def test_a_gap_of_no_data_inside_an_outage_is_still_one_incident(
    api: Api, app: Any, catalog: Catalog
) -> None:
    service_id, monitor_id = catalog["service"]["id"], catalog["monitor"]["id"]
    t0 = start_of_test()
    # Failing from 60; the failure goes stale at 180 (NO DATA); failing again at 600;
    # UP at 660. First DOWN to first UP: 600 seconds.
    await settle(api, app, rows(monitor_id, t0, [(0, True), (60, False), (600, False),
                                                 (660, True), (720, True)]))  # fmt: skip
    [only] = await incidents(api, service_id)
    assert only["opened_at"] == utc_text(t0 + 60)
    assert only["restore_seconds"] == 600 and only["state"] == "resolved"


async def test_an_incident_kept_open_waits_for_the_operator(
    api: Api, app: Any, catalog: Catalog
) -> None:
    service_id, monitor_id = catalog["service"]["id"], catalog["monitor"]["id"]
    t0 = start_of_test()
    await settle(api, app, rows(monitor_id, t0, [(0, True), (60, False), (120, False)]))
    [opened] = await incidents(api, service_id)
    path = f"/api/v1/incidents/{opened['id']}"
    await api.call("PATCH", path, json={"keep_open": True}, expect=200)
    await settle(api, app, rows(monitor_id, t0, [(180, True), (240, True)]))
    [kept] = await incidents(api, service_id)
    assert kept["state"] == "open" and kept["restore_seconds"] == 120
    await api.call("POST", f"{path}/events", json={"kind": "resolve"}, expect=201)
    # The next outage is a new incident.
    await settle(api, app, rows(monitor_id, t0, [(300, False), (360, False), (420, True)]))
    first, second = await incidents(api, service_id)
    assert first["state"] == "resolved" and first["id"] == opened["id"]
    assert second["opened_at"] == utc_text(t0 + 300) and second["restore_seconds"] == 120
