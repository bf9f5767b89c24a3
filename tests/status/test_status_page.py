"""The status page and its JSON twin through the real app, on both databases.

The customer "acme" is in Europe/Berlin (tests.helpers.make_service); "now" is
2025-11-30 12:00 UTC (tests.status.helpers.NOW).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.monitoring.dispatch import dispatch_once
from tests.conftest import Api
from tests.helpers import Catalog
from tests.status.helpers import (
    NOW,
    around_outage,
    at,
    checks,
    day_of,
    push,
    service_of,
    status_json,
)


async def test_a_customer_without_results(api: Api, catalog: Catalog, fixed_now: Any) -> None:
    document = await status_json(api)
    web = service_of(document)
    assert document["customer"] == {"slug": "acme", "name": "Acme"}
    assert len(web["days"]) == 90
    assert web["days"][0]["date"] == "2025-09-02" and web["days"][-1]["date"] == "2025-11-30"
    assert web["status"] == "no_data"
    assert document["status"] == "degraded"
    # No data counts as up under the default policy, but every second of a past day
    # is missing: the bar says so.
    assert web["days"][0]["no_data_seconds"] == 86_400
    assert web["days"][0]["downtime_seconds"] == 0


async def test_an_outage_across_midnight(
    api: Api, app: Any, catalog: Catalog, fixed_now: Any
) -> None:
    monitor = catalog["monitor"]["id"]
    start = NOW - timedelta(days=95)
    # Down from 2025-11-10 23:30 to 2025-11-11 00:30 Berlin (22:30-23:30 UTC).
    outage = (at("2025-11-10 22:30"), at("2025-11-10 23:30"))
    await push(
        api,
        app,
        checks(monitor, start, outage[0])
        + checks(monitor, *outage, ok=False)
        + checks(monitor, outage[1], NOW),
    )
    web = service_of(await status_json(api))
    assert day_of(web, "2025-11-10")["downtime_seconds"] == 1800
    assert day_of(web, "2025-11-11")["downtime_seconds"] == 1800
    # 1,800 s of 86,400: 97.9166 (truncated).
    assert day_of(web, "2025-11-10")["uptime_percent"] == "97.9166"
    assert day_of(web, "2025-11-12")["uptime_percent"] == "100.0000"
    assert web["status"] == "operational"
    [incident] = (await status_json(api))["incidents"]
    assert incident["started_at"] == "2025-11-10T22:30:00Z"
    assert incident["ended_at"] == "2025-11-10T23:30:00Z"
    assert incident["duration_seconds"] == 3600 and not incident["ongoing"]


async def test_dst_days_last_25_and_23_hours(
    api: Api, app: Any, catalog: Catalog, fixed_now: Any
) -> None:
    # Berlin left summer time on 2025-10-26 (25 hours: 22:00 UTC on the 25th to 23:00
    # UTC on the 26th); Sydney entered it on 2025-10-05 (23 hours: 14:00 UTC on the
    # 4th to 13:00 UTC on the 5th). One hour down in each.
    monitor = catalog["monitor"]["id"]
    down = (at("2025-10-26 09:00"), at("2025-10-26 10:00"))
    await push(
        api,
        app,
        around_outage(monitor, down),
    )
    web = service_of(await status_json(api))
    berlin = day_of(web, "2025-10-26")
    # 3,600 of 90,000 s down: 96.0000.
    assert (berlin["downtime_seconds"], berlin["uptime_percent"]) == (3600, "96.0000")

    sydney = await api.create(
        "/api/v1/customers", {"slug": "koala", "name": "Koala", "timezone": "Australia/Sydney"}
    )
    service = await api.create(
        "/api/v1/services",
        {
            "customer_id": sydney["id"],
            "name": "Shop",
            "slug": "shop",
            "policy_id": catalog["policy"]["id"],
            "monthly_fee": "10.00",
            "starts_at": "2025-01-01T00:00:00Z",
        },
    )
    other = await api.create(
        "/api/v1/monitors",
        {"service_id": service["id"], "name": "shop", "kind": "tcp", "target": "shop.example:443"},
    )
    down = (at("2025-10-05 01:00"), at("2025-10-05 02:00"))
    await push(
        api,
        app,
        around_outage(other["id"], down),
    )
    shop = service_of(await status_json(api, "koala"), "shop")
    day = day_of(shop, "2025-10-05")
    # 3,600 of 82,800 s down: 1 - 0.0434782... = 95.6521 (truncated).
    assert (day["downtime_seconds"], day["uptime_percent"]) == (3600, "95.6521")
    assert shop["days"][-1]["date"] == "2025-11-30"  # 23:00 Sydney on the 30th


async def test_maintenance_excused_in_progress_and_scheduled(
    api: Api, app: Any, catalog: Catalog, fixed_now: Any
) -> None:
    service_id = catalog["service"]["id"]
    monitor = catalog["monitor"]["id"]
    # Down 10:00-10:30 UTC on 2025-11-20, inside a window announced three weeks before.
    down = (at("2025-11-20 10:00"), at("2025-11-20 10:30"))
    await push(
        api,
        app,
        around_outage(monitor, down),
    )
    windows = [
        ("Kernel upgrade", "2025-11-20T10:00:00Z", "2025-11-20T11:00:00Z"),
        ("Network work", "2025-11-30T11:00:00Z", "2025-11-30T14:00:00Z"),
        ("Storage swap", "2025-12-02T01:00:00Z", "2025-12-02T02:00:00Z"),
    ]
    for title, start, end in windows:
        await api.create(
            "/api/v1/maintenance-windows",
            {
                "service_id": service_id,
                "title": title,
                "starts_at": start,
                "ends_at": end,
                "announced_at": "2025-11-01T00:00:00Z",
            },
        )
    document = await status_json(api)
    web = service_of(document)
    day = day_of(web, "2025-11-20")
    assert (day["downtime_seconds"], day["excused_seconds"]) == (0, 3600)
    assert day["uptime_percent"] == "100.0000"
    assert document["incidents"] == []
    assert [(m["title"], m["state"]) for m in document["maintenance"]] == [
        ("Kernel upgrade", "completed"),
        ("Network work", "in_progress"),
        ("Storage swap", "scheduled"),
    ]
    assert document["maintenance"][0]["announced_at"] == "2025-11-01T00:00:00Z"
    assert web["status"] == "maintenance" and document["status"] == "maintenance"


async def test_a_service_that_starts_mid_window(
    api: Api, app: Any, catalog: Catalog, fixed_now: Any
) -> None:
    await api.call(
        "PATCH",
        f"/api/v1/services/{catalog['service']['id']}",
        json={"starts_at": "2025-11-15T11:00:00Z"},  # noon in Berlin
        expect=200,
    )
    monitor = catalog["monitor"]["id"]
    await push(api, app, checks(monitor, at("2025-11-15 11:00"), NOW))
    web = service_of(await status_json(api))
    before = [d for d in web["days"] if d["date"] < "2025-11-15"]
    assert len(before) == 74 and all(d["uptime_percent"] is None for d in before)
    first = day_of(web, "2025-11-15")
    # Its first day counts from noon: all of that half day up, none missing.
    assert (first["uptime_percent"], first["no_data_seconds"]) == ("100.0000", 0)
    assert web["status"] == "operational" and web["window"]["uptime_percent"] == "100.0000"


async def test_an_ongoing_outage_and_the_banner(
    api: Api, app: Any, catalog: Catalog, fixed_now: Any
) -> None:
    first = catalog["monitor"]["id"]
    second_service = await api.create(
        "/api/v1/services",
        {
            "customer_id": catalog["customer"]["id"],
            "name": "Mail",
            "slug": "mail",
            "policy_id": catalog["policy"]["id"],
            "monthly_fee": "20.00",
            "starts_at": "2025-01-01T00:00:00Z",
        },
    )
    second = await api.create(
        "/api/v1/monitors",
        {
            "service_id": second_service["id"],
            "name": "smtp",
            "kind": "tcp",
            "target": "mx.example:25",
        },
    )
    await push(api, app, checks(first, NOW - timedelta(days=2), NOW))
    await push(
        api,
        app,
        checks(second["id"], NOW - timedelta(days=2), NOW - timedelta(minutes=40))
        + checks(second["id"], NOW - timedelta(minutes=40), NOW, ok=False),
    )
    document = await status_json(api)
    assert document["status"] == "partial_outage"
    assert service_of(document, "mail")["status"] == "down"
    [ongoing] = [i for i in document["incidents"] if i["ongoing"]]
    assert ongoing["service"] == "mail" and ongoing["ended_at"] is None
    assert ongoing["duration_seconds"] == 2400

    await push(api, app, checks(first, NOW - timedelta(minutes=40), NOW, ok=False))
    app.state.runtime.status.clear()  # the page is cached for status_max_age_seconds
    assert (await status_json(api))["status"] == "major_outage"


async def test_a_warning_makes_a_service_degraded(
    api: Api, app: Any, catalog: Catalog, fixed_now: Any
) -> None:
    monitor = catalog["monitor"]["id"]
    await push(
        api,
        app,
        checks(monitor, NOW - timedelta(days=1), NOW - timedelta(minutes=30))
        + checks(
            monitor, NOW - timedelta(minutes=30), NOW, warning="certificate expires in 5 days"
        ),
    )
    document = await status_json(api)
    assert service_of(document)["status"] == "degraded" and document["status"] == "degraded"


async def test_the_html_page(api: Api, app: Any, catalog: Catalog, fixed_now: Any) -> None:
    monitor = catalog["monitor"]["id"]
    await push(api, app, checks(monitor, NOW - timedelta(days=10), NOW))
    response = await api.call("GET", "/status/acme", token=None, expect=200)
    html = response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "public, max-age=30"
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org", "")
    assert html.count('class="bar ') == 90
    assert 'data-status="operational">All systems operational' in html
    # Results since 2025-11-20 12:00 UTC: the 79 days from 2025-09-02 have no data.
    assert html.count('class="bar nodata"') == 79
    assert 'http-equiv="refresh"' in html and "Acme" in html and ">Web<" in html
    assert 'aria-label="Sun 30 Nov 2025: 100.0000 % uptime, no downtime' in html


async def test_unknown_pages_are_404(api: Api, catalog: Catalog) -> None:
    for path in ("/status/nobody", "/api/v1/status/nobody", "/status/nobody/feed.atom"):
        response = await api.call("GET", path, token=None)
        assert response.status_code == 404, path
    assert (await api.call("GET", "/status/Not_A_Slug", token=None)).status_code == 422


async def test_incidents_show_public_comments_only(
    api: Api, app: Any, catalog: Catalog, fixed_now: Any
) -> None:
    monitor = catalog["monitor"]["id"]
    await push(api, app, checks(monitor, NOW - timedelta(days=2), NOW))
    incident = await api.create(
        "/api/v1/incidents",
        {
            "service_id": catalog["service"]["id"],
            "title": "Degraded e-mail delivery",
            "priority": "P3",
            "opened_at": "2025-11-30T10:00:00Z",
        },
    )
    for event in (
        {
            "kind": "comment",
            "message": "Queues are draining",
            "public": True,
            "at": "2025-11-30T10:30:00Z",
        },
        {
            "kind": "comment",
            "message": "mx2 disk full",
            "public": False,
            "at": "2025-11-30T10:31:00Z",
        },
    ):
        await api.call("POST", f"/api/v1/incidents/{incident['id']}/events", json=event, expect=201)
    document = await status_json(api)
    [entry] = [i for i in document["incidents"] if i["kind"] == "incident"]
    assert entry["title"] == "Degraded e-mail delivery" and entry["ongoing"]
    assert entry["updates"] == [{"at": "2025-11-30T10:30:00Z", "message": "Queues are draining"}]
    assert "mx2 disk full" not in str(document)
    html = (await api.call("GET", "/status/acme", token=None, expect=200)).text
    assert "Queues are draining" in html and "mx2 disk full" not in html


async def test_an_outage_the_monitors_opened_an_incident_for_is_listed_once(
    api: Api, app: Any, catalog: Catalog, fixed_now: Any
) -> None:
    monitor = catalog["monitor"]["id"]
    down = (at("2025-11-29 08:00"), at("2025-11-29 09:00"))
    await push(
        api,
        app,
        around_outage(monitor, down, since=timedelta(days=3)),
    )
    runtime = app.state.runtime
    # The dispatcher hands the confirmed changes to the incident handler (as the
    # background loop would): it opens an incident at the first DOWN instant and
    # resolves it when the service is up again.
    while await dispatch_once(
        runtime.sessions, runtime.change_handlers, "test", int(NOW.timestamp())
    ):
        pass
    document = await status_json(api)
    [entry] = document["incidents"]
    assert entry["kind"] == "incident" and entry["started_at"] == "2025-11-29T08:00:00Z"
    assert entry["state"] == "resolved" and not entry["ongoing"]
