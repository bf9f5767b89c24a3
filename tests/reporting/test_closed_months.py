"""A closed month moves only with late data, and then under the terms it froze; the
next month starts where it ended (both databases).

June 2025 in Europe/Berlin, fee 100.00, target 99.9, tiers 10/25/50 %: down 44 min on
June 10 -> 99.8981 %, breached, 10 % -> 10.00 (tests.test_api_sla's fixture).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.conftest import Api
from tests.helpers import TIERS, Catalog, make_key
from tests.test_api_sla import june_with_44_minutes_down, push, sla

Edit = Callable[[Api, Catalog], Awaitable[None]]


async def patch(api: Api, path: str, body: dict[str, Any]) -> None:
    await api.call("PATCH", path, json=body, expect=200)


async def tiers(api: Api, c: Catalog) -> None:
    harsher = [{**TIERS[0], "credit_percent": "50"}, *TIERS[1:]]
    await patch(api, f"/api/v1/sla-policies/{c['policy']['id']}", {"credit_tiers": harsher})


async def target(api: Api, c: Catalog) -> None:
    body = {
        "target_percent": "99.5",
        "credit_tiers": [
            {"from_percent": "95.0", "to_percent": "99.5", "credit_percent": "25"},
            {"from_percent": "0", "to_percent": "95.0", "credit_percent": "50"},
        ],
    }
    await patch(api, f"/api/v1/sla-policies/{c['policy']['id']}", body)


async def minimum(api: Api, c: Catalog) -> None:
    await patch(api, f"/api/v1/sla-policies/{c['policy']['id']}", {"min_downtime_seconds": 3600})


async def fee(api: Api, c: Catalog) -> None:
    await patch(api, f"/api/v1/services/{c['service']['id']}", {"monthly_fee": "1000.00"})


async def service_end(api: Api, c: Catalog) -> None:
    await patch(api, f"/api/v1/services/{c['service']['id']}", {"ends_at": "2025-06-15T00:00:00Z"})


async def timezone(api: Api, c: Catalog) -> None:
    await patch(api, f"/api/v1/customers/{c['customer']['id']}", {"timezone": "Pacific/Kiritimati"})


async def quorum(api: Api, c: Catalog) -> None:
    body = {"locations": ["local", "fra"], "quorum": 2}
    await patch(api, f"/api/v1/monitors/{c['monitor']['id']}", body)


async def confirmations(api: Api, c: Catalog) -> None:
    await patch(api, f"/api/v1/monitors/{c['monitor']['id']}", {"failure_confirmations": 3})


async def delete_monitor(api: Api, c: Catalog) -> None:
    await api.call("DELETE", f"/api/v1/monitors/{c['monitor']['id']}", expect=204)


async def add_monitor(api: Api, c: Catalog) -> None:
    body = {"service_id": c["service"]["id"], "name": "db", "kind": "tcp", "target": "db.x:5432"}
    await api.call("POST", "/api/v1/monitors", json=body, expect=201)


async def maintenance(api: Api, c: Catalog) -> None:
    """An imported window over the outage, announced long before: it would excuse it."""
    body = {
        "service_id": c["service"]["id"],
        "title": "imported",
        "starts_at": "2025-06-10T11:00:00Z",
        "ends_at": "2025-06-10T14:00:00Z",
        "announced_at": "2025-06-01T00:00:00Z",
    }
    await api.call("POST", "/api/v1/maintenance-windows", json=body, expect=201)


EDITS: dict[str, Edit] = {
    "tiers": tiers,
    "target": target,
    "min_downtime": minimum,
    "fee": fee,
    "service_end": service_end,
    "timezone": timezone,
    "quorum": quorum,
    "confirmations": confirmations,
    "delete_monitor": delete_monitor,
    "add_monitor": add_monitor,
    "maintenance": maintenance,
}


async def closed_june(api: Api, db_url: str, catalog: Catalog) -> dict[str, Any]:
    await push(api, june_with_44_minutes_down(catalog["monitor"]["id"]))
    billing = await make_key(db_url, "billing")
    await api.call("POST", "/api/v1/months/2025-06/close", token=billing, expect=200)
    june = await sla(api, catalog["service"]["id"])
    assert june["status"] == "closed" and june["credit_amount"] == "10.00"
    assert june["adjustment"] is None
    return june


async def credit_delta(api: Api) -> Any:
    page = (await api.call("GET", "/api/v1/credits?month=2025-06", expect=200)).json()
    return [item["adjustment_credit_delta"] for item in page["items"]]


@pytest.mark.parametrize("edits", [[name] for name in EDITS] + [list(EDITS)], ids=str)
async def test_a_catalog_edit_after_the_close_moves_nothing(
    api: Api, db_url: str, catalog: Catalog, edits: list[str]
) -> None:
    before = await closed_june(api, db_url, catalog)
    for name in edits:
        await EDITS[name](api, catalog)
    after = await sla(api, catalog["service"]["id"])
    assert after == {**before, "as_of": after["as_of"]}
    assert after["as_of"] == before["as_of"]  # the close, not now
    assert await credit_delta(api) == [None]


async def test_late_data_is_adjusted_under_the_frozen_terms(
    api: Api, db_url: str, catalog: Catalog
) -> None:
    await closed_june(api, db_url, catalog)
    for name in ("fee", "tiers", "maintenance", "min_downtime"):
        await EDITS[name](api, catalog)
    # Late: a failure at June 20 00:00 UTC replaces that hour's success: 60 more minutes.
    late = {
        "monitor_id": catalog["monitor"]["id"],
        "location": "local",
        "checked_at": "2025-06-20T00:00:00Z",
        "ok": False,
        "interval_seconds": 3600,
    }
    await push(api, [late])
    june = await sla(api, catalog["service"]["id"])
    change = june["adjustment"]
    assert change is not None
    # Under the frozen terms (fee 100, 10 % tier, no window, 60 s minimum):
    # 104 min down -> 43,096 / 43,200 = 99.7592... -> 10 % of 100.00 = 10.00.
    assert change["downtime_seconds"] == 104 * 60
    assert change["uptime_percent"] == "99.7592"
    assert change["credit_amount"] == "10.00" and change["credit_amount_delta"] == "0.00"
    assert june["credit_amount"] == "10.00"  # the statement itself never moves
    assert await credit_delta(api) == ["0.00"]


async def test_late_data_after_a_confirmations_edit_counts_under_the_frozen_count(
    api: Api, db_url: str, catalog: Catalog
) -> None:
    """Three confirmations now: June's one-result outage and a late single failure are
    blips under today's count, and the stored timeline says so. The statement froze 1:
    the adjustment refolds June's results under it."""
    await closed_june(api, db_url, catalog)
    await confirmations(api, catalog)
    late = {
        "monitor_id": catalog["monitor"]["id"],
        "location": "local",
        "checked_at": "2025-06-20T00:00:00Z",
        "ok": False,
        "interval_seconds": 3600,
    }
    await push(api, [late])
    change = (await sla(api, catalog["service"]["id"]))["adjustment"]
    assert change is not None
    assert change["downtime_seconds"] == 104 * 60  # 44 min frozen + the late hour
    assert [p["start"] for p in change["downtime_periods"]] == [
        "2025-06-10T12:00:00Z",
        "2025-06-20T00:00:00Z",
    ]
    assert change["credit_amount_delta"] == "0.00"
    assert await credit_delta(api) == ["0.00"]


async def test_the_next_month_starts_where_the_closed_one_ended(
    api: Api, db_url: str, catalog: Catalog
) -> None:
    june = await closed_june(api, db_url, catalog)
    assert june["period_end"] == "2025-06-30T22:00:00Z"  # midnight in Berlin
    await timezone(api, catalog)  # UTC+14: its July would begin at 06-30 10:00 UTC
    july = await sla(api, catalog["service"]["id"], month="2025-07")
    assert july["period_start"] == june["period_end"]
    assert july["period_end"] == "2025-07-31T10:00:00Z"  # midnight in Kiritimati


async def test_a_service_moved_out_of_a_closed_month_is_still_listed(
    api: Api, db_url: str, catalog: Catalog
) -> None:
    await closed_june(api, db_url, catalog)
    body = {"starts_at": "2025-07-01T00:00:00Z"}
    await patch(api, f"/api/v1/services/{catalog['service']['id']}", body)
    page = (await api.call("GET", "/api/v1/credits?month=2025-06", expect=200)).json()
    assert [(i["service_slug"], i["credit_amount"], i["status"]) for i in page["items"]] == [
        ("web", "10.00", "closed")
    ]
    assert page["total"] == 1
