"""What is down now: monitors and services carry their state and since when, and
``?state=down`` lists exactly those down, on both databases."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.monitoring.folding import fold_pending
from app.sla.periods import utc_text
from tests.conftest import Api
from tests.helpers import make_key, make_monitor, make_other_customer


def rows(monitor_id: int, start: int, oks: list[bool]) -> list[dict[str, Any]]:
    return [
        {
            "monitor_id": monitor_id,
            "location": "local",
            "checked_at": utc_text(start + 60 * i),
            "ok": ok,
            "interval_seconds": 60,
        }
        for i, ok in enumerate(oks)
    ]


async def test_state_and_since_on_reads_and_the_down_filter(
    api: Api,
    db_url: str,
    catalog: dict[str, Any],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    healthy = catalog["monitor"]
    service_id = catalog["service"]["id"]
    broken = await make_monitor(api, service_id, "https://acme.example/api", name="api")
    idle = await make_monitor(api, service_id, "https://acme.example/idle", name="idle")
    assert (healthy["state"], healthy["state_since"]) == ("no_data", None)

    start = int(time.time()) // 60 * 60 - 240
    results = rows(healthy["id"], start, [True] * 5) + rows(broken["id"], start, [True] * 2)
    results += rows(broken["id"], start + 120, [False] * 3)
    await api.call("POST", "/api/v1/results", json={"results": results}, expect=202)
    await fold_pending(sessions)

    down = await api.page("/api/v1/monitors?state=down")
    assert [(m["id"], m["state"]) for m in down["items"]] == [(broken["id"], "down")]
    assert down["total"] == 1
    assert down["items"][0]["state_since"] == utc_text(start + 120)  # the first failure
    up = await api.items("/api/v1/monitors?state=up")
    assert [(m["id"], m["state_since"]) for m in up] == [(healthy["id"], utc_text(start))]
    assert [m["id"] for m in await api.items("/api/v1/monitors?state=no_data")] == [idle["id"]]
    read = (await api.call("GET", f"/api/v1/monitors/{broken['id']}", expect=200)).json()
    assert (read["state"], read["state_since"]) == ("down", utc_text(start + 120))

    service = (await api.call("GET", f"/api/v1/services/{service_id}", expect=200)).json()
    assert (service["state"], service["state_since"]) == ("down", utc_text(start + 120))
    assert [s["id"] for s in await api.items("/api/v1/services?state=down")] == [service_id]
    assert await api.items("/api/v1/services?state=up") == []
    await api.call("GET", "/api/v1/monitors?state=sideways", expect=422)

    # A read sent back as a patch still changes nothing: the state is observed, not set.
    patched = await api.call("PATCH", f"/api/v1/monitors/{broken['id']}", json=read, expect=200)
    assert patched.json() == read
    stale = {**read, "state": "up", "state_since": None}
    assert (
        await api.call("PATCH", f"/api/v1/monitors/{broken['id']}", json=stale, expect=200)
    ).json() == read

    # A customer key sees the state of its own monitors only.
    globex = await make_other_customer(api, catalog["policy"]["id"])
    other = await make_monitor(api, globex["service"]["id"], "https://globex.example/")
    await api.call(
        "POST",
        "/api/v1/results",
        json={"results": rows(other["id"], start + 120, [False] * 3)},
        expect=202,
    )
    await fold_pending(sessions)
    assert {m["id"] for m in await api.items("/api/v1/monitors?state=down")} == {
        broken["id"],
        other["id"],
    }
    token = await make_key(db_url, "customer", "acme")
    mine = await api.items("/api/v1/monitors?state=down", token=token)
    assert [m["id"] for m in mine] == [broken["id"]]
