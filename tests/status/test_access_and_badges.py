"""Private status pages, signed links, badges and the feed through the real app.

"now" is 2025-11-30 12:00 UTC (tests.status.helpers.NOW); the customer "acme" is in
Europe/Berlin."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any

import pytest

from app.status.badges import text_width
from app.status.links import sign
from tests.conftest import Api
from tests.helpers import Catalog, make_key, make_other_customer
from tests.status.conftest import SECRET
from tests.status.helpers import NOW, around_outage, at, push

SVG = "{http://www.w3.org/2000/svg}"
ATOM = "{http://www.w3.org/2005/Atom}"
PAGES = (
    "/status/acme",
    "/api/v1/status/acme",
    "/status/acme/feed.atom",
    "/badge/acme/web/uptime.svg",
    "/badge/acme/web/status.svg",
)


async def make_private(api: Api, catalog: Catalog) -> None:
    await api.call(
        "PATCH",
        f"/api/v1/customers/{catalog['customer']['id']}",
        json={"private": True},
        expect=200,
    )


async def test_private_pages_need_the_customers_key_or_a_link(
    api: Api, app: Any, db_url: str, catalog: Catalog, fixed_now: Any
) -> None:
    for path in PAGES:  # public first (and cached: the PATCH must clear that)
        assert (await api.call("GET", path, token=None)).status_code == 200, path
    await make_private(api, catalog)
    other = await make_other_customer(api, catalog["policy"]["id"])
    own_key = await make_key(db_url, "customer", "acme")
    other_key = await make_key(db_url, "customer", other["customer"]["slug"])
    billing_key = await make_key(db_url, "billing")
    link = sign(SECRET, "acme", int(NOW.timestamp()) + 86_400)
    expired = sign(SECRET, "acme", int(NOW.timestamp()) - 1)
    forged = sign("another secret", "acme", int(NOW.timestamp()) + 86_400)
    globex_link = sign(SECRET, other["customer"]["slug"], int(NOW.timestamp()) + 86_400)
    for path in PAGES:
        joiner = "&" if "?" in path else "?"
        for token, query, expected in (
            (None, "", 404),
            (other_key, "", 404),
            (billing_key, "", 404),
            ("not a key", "", 404),
            (None, f"{joiner}token={expired}", 404),
            (None, f"{joiner}token={forged}", 404),
            (None, f"{joiner}token={globex_link}", 404),
            (None, f"{joiner}token=12.x", 404),
            (own_key, "", 200),
            ("test-admin-token", "", 200),
            (None, f"{joiner}token={link}", 200),
        ):
            response = await api.call("GET", path + query, token=token)
            assert response.status_code == expected, (path, token, query, response.text)
            if expected == 200:
                assert response.headers["cache-control"].startswith("private")
    # A private page says nothing a missing one would not.
    missing = await api.call("GET", "/api/v1/status/nobody", token=None)
    hidden = await api.call("GET", "/api/v1/status/acme", token=None)
    assert hidden.json()["detail"] == missing.json()["detail"].replace("nobody", "acme")
    # The page's own links carry the token along.
    page = await api.call("GET", f"/status/acme?token={link}", token=None, expect=200)
    assert f"/status/acme/feed.atom?token={link}" in page.text


async def test_a_customer_key_reads_only_its_own_page(
    api: Api, db_url: str, catalog: Catalog, fixed_now: Any
) -> None:
    other = await make_other_customer(api, catalog["policy"]["id"])
    await api.call(
        "PATCH", f"/api/v1/customers/{other['customer']['id']}", json={"private": True}, expect=200
    )
    own_key = await make_key(db_url, "customer", "acme")
    response = await api.call("GET", "/api/v1/status/globex", token=own_key)
    assert response.status_code == 404
    assert (
        await api.call("GET", "/badge/globex/shop/status.svg", token=own_key)
    ).status_code == 404


def parse_svg(text: str) -> ET.Element:
    root = ET.fromstring(text)
    assert root.tag == f"{SVG}svg"
    return root


async def test_badges(api: Api, app: Any, catalog: Catalog, fixed_now: Any) -> None:
    monitor = catalog["monitor"]["id"]
    # One hour down on 2025-11-10; hourly results from 95 days back.
    down = (at("2025-11-10 09:00"), at("2025-11-10 10:00"))
    await push(
        api,
        app,
        around_outage(monitor, down, every=timedelta(hours=1)),
    )
    expected = {
        # The last 30 Berlin days, 2025-11-01 to 2025-11-30: 2,592,000 s, 3,600 down
        # -> 99.8611 %, shown as 99.861 %.
        "30d": ("99.861%", "#b58900"),
        # 90 days from 2025-09-02, 25-hour 2025-10-26 included: 7,779,600 s -> 99.9537.
        "90d": ("99.953%", "#2e8540"),
        # November in Berlin: the same 30 days as the first.
        "month": ("99.861%", "#b58900"),
    }
    for period, (value, colour) in expected.items():
        response = await api.call(
            "GET", f"/badge/acme/web/uptime.svg?period={period}", token=None, expect=200
        )
        assert response.headers["content-type"] == "image/svg+xml; charset=utf-8"
        assert response.headers["cache-control"] == "public, max-age=30"
        root = parse_svg(response.text)
        texts = [t.text for t in root.iter(f"{SVG}text")]
        assert texts[-1] == value, (period, texts)
        label = texts[0]
        assert int(root.get("width", "0")) == text_width(label) + text_width(value) + 24
        # Green at or above the 99.9 target; yellow within one error budget below it.
        assert f'fill="{colour}"' in response.text

    status = await api.call("GET", "/badge/acme/web/status.svg", token=None, expect=200)
    assert [t.text for t in parse_svg(status.text).iter(f"{SVG}text")][-1] == "up"
    etag = status.headers["etag"]
    again = await api.call(
        "GET", "/badge/acme/web/status.svg", token=None, headers={"If-None-Match": etag}
    )
    assert again.status_code == 304 and again.content == b""
    assert (await api.call("GET", "/badge/acme/nope/status.svg", token=None)).status_code == 404
    bad = await api.call("GET", "/badge/acme/web/uptime.svg?period=7d", token=None)
    assert bad.status_code == 422 and "period" in bad.text


async def test_the_feed(api: Api, app: Any, catalog: Catalog, fixed_now: Any) -> None:
    monitor = catalog["monitor"]["id"]
    down = (at("2025-11-10 09:00"), at("2025-11-10 10:00"))
    await push(
        api,
        app,
        around_outage(monitor, down, since=timedelta(days=20)),
    )
    await api.create(
        "/api/v1/maintenance-windows",
        {
            "service_id": catalog["service"]["id"],
            "title": "Kernel <upgrade> & reboot",
            "starts_at": "2025-12-02T01:00:00Z",
            "ends_at": "2025-12-02T02:00:00Z",
        },
    )
    response = await api.call("GET", "/status/acme/feed.atom", token=None, expect=200)
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.text)
    assert feed.tag == f"{ATOM}feed"
    entries = feed.findall(f"{ATOM}entry")
    titles = [e.findtext(f"{ATOM}title") for e in entries]
    assert "Web was down" in titles
    assert any("Kernel <upgrade> & reboot" in (t or "") for t in titles)
    for entry in entries:
        assert entry.findtext(f"{ATOM}id") and entry.findtext(f"{ATOM}updated")


@pytest.mark.parametrize("period", ["30d", "90d", "month"])
async def test_a_badge_without_results(
    api: Api, catalog: Catalog, fixed_now: Any, period: str
) -> None:
    response = await api.call(
        "GET", f"/badge/acme/web/uptime.svg?period={period}", token=None, expect=200
    )
    # No results at all: the default policy counts missing data as up.
    assert [t.text for t in parse_svg(response.text).iter(f"{SVG}text")][-1] == "100%"
