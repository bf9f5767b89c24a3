"""The monthly SLA report through the real app on both databases: per service the
very figures of ``GET /services/{id}/sla`` (open and closed months), as JSON, CSV and
printable HTML, and never another customer's.

The catalog's customer "acme" is in Europe/Berlin; its June 2025 runs from
2025-05-31 22:00 UTC to 2025-06-30 22:00 UTC (43,200 min), fee 100.00, target 99.9.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from tests.conftest import Api
from tests.helpers import Catalog, make_key, make_other_customer
from tests.test_api_sla import at, june_with_44_minutes_down, push, row

VOLATILE = {"as_of", "pending_results"}


def same_figures(report_item: dict[str, Any], sla: dict[str, Any]) -> None:
    expected = {k: v for k, v in sla.items() if k not in VOLATILE}
    got = {k: v for k, v in report_item.items() if k not in VOLATILE | {"service_name"}}
    assert got == expected


async def report(api: Api, customer_id: int, month: str, format: str = "json") -> Any:
    path = f"/api/v1/customers/{customer_id}/report?month={month}&format={format}"
    return await api.call("GET", path, expect=200)


async def test_the_report_equals_the_sla_api_open_and_closed(api: Api, catalog: Catalog) -> None:
    customer_id, service_id = catalog["customer"]["id"], catalog["service"]["id"]
    await push(api, june_with_44_minutes_down(catalog["monitor"]["id"]))
    second = await api.create(
        "/api/v1/services",
        {
            "customer_id": customer_id,
            "name": "Mail",
            "slug": "mail",
            "policy_id": catalog["policy"]["id"],
            "monthly_fee": "40.00",
            "currency": "EUR",
            "starts_at": "2025-06-15T00:00:00Z",
        },
    )
    for status in ("open", "closed"):
        if status == "closed":
            await api.call("POST", "/api/v1/months/2025-06/close", expect=200)
            # Late data after the close: failures from 08:00 to 16:00 UTC on the 20th (a
            # failure outranks the stored success at the same instant), 9 h more down:
            # 584 min -> 98.6481 %, 25 % -> an adjustment of +15.00, shown alike in both.
            monitor = catalog["monitor"]["id"]
            await push(
                api, [row(monitor, at(f"2025-06-20 {h:02d}:00"), False) for h in range(8, 17)]
            )
        data = (await report(api, customer_id, "2025-06")).json()
        assert data["status"] == status and data["month"] == "2025-06"
        assert data["period_start"] == "2025-05-31T22:00:00Z"
        assert [s["service_slug"] for s in data["services"]] == ["web", "mail"]
        for item in data["services"]:
            sla = (
                await api.call(
                    "GET", f"/api/v1/services/{item['service_id']}/sla?month=2025-06", expect=200
                )
            ).json()
            same_figures(item, sla)
        web = data["services"][0]
        assert (web["uptime_percent"], web["credit_amount"], web["breached"]) == (
            "99.8981",
            "10.00",
            True,
        )
        assert web["service_name"] == "Web" and data["services"][1]["service_name"] == "Mail"
        if status == "closed":
            assert web["adjustment"] is not None
            assert web["adjustment"]["credit_amount_delta"] == "15.00"  # 25 % of 100.00
        credits = {c["currency"]: c["amount"] for c in data["summary"]["credits"]}
        assert credits["USD"] == ("10.00" if status == "open" else "25.00")
        assert data["summary"]["breached"] >= 1
    assert second["id"] in [s["service_id"] for s in data["services"]]
    assert service_id in [s["service_id"] for s in data["services"]]


async def test_csv_and_html(api: Api, catalog: Catalog) -> None:
    customer_id = catalog["customer"]["id"]
    await push(api, june_with_44_minutes_down(catalog["monitor"]["id"]))
    response = await report(api, customer_id, "2025-06", "csv")
    assert response.headers["content-type"].startswith("text/csv")
    assert "sla-report-acme-2025-06.csv" in response.headers["content-disposition"]
    [line] = list(csv.DictReader(io.StringIO(response.text)))
    assert (line["service_slug"], line["uptime_percent"], line["credit_amount"]) == (
        "web",
        "99.8981",
        "10.00",
    )
    assert line["downtime_seconds"] == "2640" and line["status"] == "open"

    html = (await report(api, customer_id, "2025-06", "html")).text
    assert "@page { size: A4" in html and "<script" not in html and "<nav" not in html
    assert "June 2025" in html and "99.8981" in html and "10.00 USD" in html
    # Times are the customer's (Berlin, summer time): the outage began 14:00 CEST.
    assert "Tue 10 Jun 2025, 14:00 CEST" in html
    assert "Incidents and support" in html


async def test_a_customer_reads_only_its_own_report(
    api: Api, db_url: str, catalog: Catalog
) -> None:
    other = await make_other_customer(api, catalog["policy"]["id"])
    own = await make_key(db_url, "customer", "acme")
    billing = await make_key(db_url, "billing")
    agent = await make_key(db_url, "agent", locations=["local"])
    path = "/api/v1/customers/{}/report?month=2025-06"
    assert (
        await api.call("GET", path.format(catalog["customer"]["id"]), token=own)
    ).status_code == 200
    assert (
        await api.call("GET", path.format(other["customer"]["id"]), token=own)
    ).status_code == 404
    assert (
        await api.call("GET", path.format(other["customer"]["id"]), token=billing)
    ).status_code == 200
    assert (
        await api.call("GET", path.format(other["customer"]["id"]), token=agent)
    ).status_code == 403
    assert (
        await api.call("GET", path.format(other["customer"]["id"]), token=None)
    ).status_code == 401


async def test_bad_report_requests(api: Api, catalog: Catalog) -> None:
    base = f"/api/v1/customers/{catalog['customer']['id']}/report"
    for query, field in (
        ("?month=2025-13", "month"),
        ("?month=June", "month"),
        ("", "month"),
        ("?month=2025-06&format=pdf", "format"),
    ):
        response = await api.call("GET", base + query)
        assert response.status_code == 422, query
        assert field in response.text
    assert (await api.call("GET", "/api/v1/customers/999/report?month=2025-06")).status_code == 404


async def test_incidents_and_support_compliance(api: Api, db_url: str, catalog: Catalog) -> None:
    customer_id, service_id = catalog["customer"]["id"], catalog["service"]["id"]
    targets = [
        {"priority": "P2", "respond_minutes": 15, "resolve_minutes": 240, "calendar_id": None}
    ]
    await api.call(
        "PATCH",
        f"/api/v1/sla-policies/{catalog['policy']['id']}",
        json={"support_targets": targets},
        expect=200,
    )
    incident = await api.create(
        "/api/v1/incidents",
        {
            "service_id": service_id,
            "title": "Slow checkout",
            "priority": "P2",
            "opened_at": "2025-06-10T10:00:00Z",
        },
    )
    for event in (
        {
            "kind": "comment",
            "message": "Looking into it",
            "public": True,
            "at": "2025-06-10T10:05:00Z",
        },
        {
            "kind": "comment",
            "message": "db replica lag",
            "public": False,
            "at": "2025-06-10T10:06:00Z",
        },
        {"kind": "acknowledge", "at": "2025-06-10T10:07:00Z"},
        {"kind": "resolve", "at": "2025-06-10T11:00:00Z"},
    ):
        await api.call("POST", f"/api/v1/incidents/{incident['id']}/events", json=event, expect=201)
    data = (await report(api, customer_id, "2025-06")).json()
    [listed] = data["incidents"]
    assert listed["id"] == incident["id"] and listed["state"] == "resolved"
    support = (
        await api.call("GET", f"/api/v1/customers/{customer_id}/support?month=2025-06", expect=200)
    ).json()
    assert data["support"] == support
    # Answered in 7 of 15 minutes, resolved in 60 of 240: both met.
    assert (data["support"]["respond"]["evaluated"], data["support"]["respond"]["met"]) == (1, 1)
    # Billing sees the internal comment; the customer's own key only the public one.
    assert "db replica lag" in str(listed["events"])
    own = await make_key(db_url, "customer", "acme")
    path = f"/api/v1/customers/{customer_id}/report?month=2025-06"
    mine = (await api.call("GET", path, token=own, expect=200)).json()
    assert "db replica lag" not in str(mine) and "Looking into it" in str(mine)
    html = (await report(api, customer_id, "2025-06", "html")).text
    assert "Slow checkout" in html and "Time to respond" in html
