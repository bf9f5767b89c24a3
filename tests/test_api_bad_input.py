"""Bad input is a 422 naming the field (or a 404), never a 500, and nothing is stored:
non-finite numbers (NaN, Infinity, 1e400), NUL and lone surrogates in any string,
instants whose UTC form leaves the supported range, decimals beyond their column,
oversized options; and a 422 always renders, whatever it echoes (issue 8, items 7-8).

Bodies are sent as raw JSON text, since a JSON encoder would refuse to write most of
them; ``\\u0000`` and ``\\ud800`` are JSON escapes, so the text itself is valid UTF-8.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import insert

from app.api.errors import json_safe
from app.db import make_engine, make_sessionmaker
from app.models import CheckResult
from app.monitoring.checks import ResultIn
from app.monitoring.ingest import store_results
from app.schemas.common import MAX_MONEY
from tests.conftest import Api

Catalog = dict[str, dict[str, Any]]

POLICY = '"name": "P", "target_percent": "99.9", "credit_formula": "hourly"'
SERVICE = '"customer_id": CUSTOMER, "policy_id": POLICY, "name": "S", "slug": "s2"'
SERVICE_FEE = SERVICE + ', "monthly_fee": "1.00"'
MONITOR = '"service_id": SERVICE, "name": "m", "kind": "http"'
MONITOR_URL = MONITOR + ', "target": "https://acme.example/"'
WINDOW = '"service_id": SERVICE, "title": "w"'
WINDOW_TIMES = WINDOW + ', "starts_at": "2030-01-01T00:00:00Z"'
TOO_LATE = "9999-12-31T23:59:59-05:00"  # year 10000 in UTC
TOO_EARLY = "0001-01-01T00:00:00+05:00"  # year 0 in UTC
HEADERS_51 = json.dumps({f"X-H{i}": "v" for i in range(51)})
NESTED_40 = "[" * 40 + "1" + "]" * 40

# (path, body as JSON text without its braces, the loc of the error, a part of its msg)
BAD_CREATES: list[tuple[str, str, list[Any], str]] = [
    # customers
    ("customers", r'"slug": "a", "name": "a\u0000b"', ["body", "name"], "NUL"),
    ("customers", r'"slug": "a", "name": "a\ud800b"', ["body", "name"], ""),
    ("customers", r'"slug": "a", "name": NaN', ["body", "name"], ""),
    ("customers", r'"slug": "a\u0000", "name": "a"', ["body", "slug"], ""),
    ("customers", r'"slug": "a", "name": "a", "timezone": "UTC\u0000"', ["body", "timezone"], ""),
    ("customers", r'"slug": "a", "name": "a", "timezone": "\udfff"', ["body", "timezone"], ""),
    # SLA policies: every decimal within its column, every number finite
    ("sla-policies", '"name": "P", "target_percent": NaN', ["body", "target_percent"], "finite"),
    ("sla-policies", '"name": "P", "target_percent": Infinity', ["body", "target_percent"], ""),
    ("sla-policies", '"name": "P", "target_percent": -Infinity', ["body", "target_percent"], ""),
    ("sla-policies", '"name": "P", "target_percent": 1e400', ["body", "target_percent"], ""),
    ("sla-policies", '"name": "P", "target_percent": "1e-400"', ["body", "target_percent"], ""),
    (
        "sla-policies",
        '"name": "P", "target_percent": "99.9000001"',
        ["body", "target_percent"],
        "6 decimal places",
    ),
    (
        "sla-policies",
        POLICY + ', "hourly_multiplier": "1e-400"',
        ["body", "hourly_multiplier"],
        "6 decimal places",
    ),
    ("sla-policies", POLICY + ', "hourly_multiplier": "1e400"', ["body", "hourly_multiplier"], ""),
    ("sla-policies", POLICY + ', "hourly_multiplier": NaN', ["body", "hourly_multiplier"], ""),
    (
        "sla-policies",
        POLICY + ', "min_credit_amount": "0.001"',
        ["body", "min_credit_amount"],
        "2 decimal places",
    ),
    (
        "sla-policies",
        POLICY + ', "min_credit_amount": "1e20"',
        ["body", "min_credit_amount"],
        "less than or equal",
    ),
    (
        "sla-policies",
        POLICY + ', "min_downtime_seconds": Infinity',
        ["body", "min_downtime_seconds"],
        "",
    ),
    (
        "sla-policies",
        POLICY + ', "maintenance_notice_seconds": 1e400',
        ["body", "maintenance_notice_seconds"],
        "",
    ),
    ("sla-policies", POLICY + ', "prorate_fee": NaN', ["body", "prorate_fee"], ""),
    ("sla-policies", r'"name": "P\u0000", "target_percent": "99"', ["body", "name"], "NUL"),
    (
        "sla-policies",
        '"name": "P", "target_percent": "99.9", "credit_tiers": [{"from_percent": "0", '
        '"to_percent": "99.9", "credit_percent": NaN}]',
        ["body", "credit_tiers", 0, "credit_percent"],
        "",
    ),
    # services: the fee within NUMERIC(18, 2); instants within 1970-9998 in UTC
    ("services", SERVICE + ', "monthly_fee": 1e400', ["body", "monthly_fee"], ""),
    ("services", SERVICE + ', "monthly_fee": "1e400"', ["body", "monthly_fee"], ""),
    ("services", SERVICE + ', "monthly_fee": NaN', ["body", "monthly_fee"], ""),
    ("services", SERVICE + ', "monthly_fee": "10000000000000000"', ["body", "monthly_fee"], ""),
    ("services", SERVICE + ', "monthly_fee": "1.001"', ["body", "monthly_fee"], "2 decimal"),
    ("services", SERVICE_FEE + f', "starts_at": "{TOO_LATE}"', ["body", "starts_at"], "UTC"),
    ("services", SERVICE_FEE + f', "starts_at": "{TOO_EARLY}"', ["body", "starts_at"], "UTC"),
    ("services", SERVICE_FEE + ', "starts_at": "1969-12-31T23:59:59Z"', ["body", "starts_at"], ""),
    ("services", SERVICE_FEE + f', "ends_at": "{TOO_LATE}"', ["body", "ends_at"], "UTC"),
    ("services", SERVICE_FEE + r', "currency": "EU\u0000"', ["body", "currency"], ""),
    (
        "services",
        r'"customer_id": CUSTOMER, "policy_id": POLICY, "name": "S\u0000", "slug": "s2", '
        '"monthly_fee": "1"',
        ["body", "name"],
        "NUL",
    ),
    # monitors: every string storable, every option bounded
    ("monitors", MONITOR + r', "target": "https://acme.example/\u0000"', ["body", "target"], ""),
    ("monitors", MONITOR_URL.replace('"m"', r'"m\ud800"'), ["body", "name"], ""),
    ("monitors", MONITOR_URL + r', "keyword": "a\u0000"', ["body", "keyword"], "NUL"),
    ("monitors", MONITOR_URL + r', "body": "\u0000"', ["body", "body"], "NUL"),
    (
        "monitors",
        MONITOR_URL + r', "headers": {"X-A\u0000": "1"}',
        ["body", "headers", "X-A\x00", "[key]"],
        "header name",
    ),
    ("monitors", MONITOR_URL + r', "headers": {"X-A": "1\u0000"}', ["body", "headers", "X-A"], ""),
    (
        "monitors",
        MONITOR_URL + r', "headers": {"X-A": "1\r\nX-B: 2"}',
        ["body", "headers", "X-A"],
        "CR, LF",
    ),
    (
        "monitors",
        MONITOR_URL + r', "headers": {"X A": "1"}',
        ["body", "headers", "X A", "[key]"],
        "header name",
    ),
    ("monitors", MONITOR_URL + f', "headers": {HEADERS_51}', ["body", "headers"], "50"),
    (
        "monitors",
        MONITOR_URL + ', "headers": {"X-A": "' + "v" * 4097 + '"}',
        ["body", "headers", "X-A"],
        "4096",
    ),
    ("monitors", MONITOR_URL + ', "body": "' + "b" * 65_537 + '"', ["body", "body"], "65536"),
    ("monitors", MONITOR_URL + ', "keyword": "' + "k" * 1001 + '"', ["body", "keyword"], "1000"),
    (
        "monitors",
        MONITOR_URL + ', "json_path": "$.a", "json_expected": NaN',
        ["body", "json_expected"],
        "finite",
    ),
    (
        "monitors",
        MONITOR_URL + r', "json_path": "$.a", "json_expected": {"k": ["\u0000"]}',
        ["body", "json_expected"],
        "NUL",
    ),
    (
        "monitors",
        MONITOR_URL + f', "json_path": "$.a", "json_expected": {NESTED_40}',
        ["body", "json_expected"],
        "levels deep",
    ),
    (
        "monitors",
        MONITOR_URL + ', "json_path": "$.a", "json_expected": "' + "j" * 4097 + '"',
        ["body", "json_expected"],
        "4096",
    ),
    (
        "monitors",
        MONITOR
        + ', "target": "acme.example", "kind": "dns", "expected_answers": ["'
        + "a" * 1025
        + '"]',
        ["body", "expected_answers", 0],
        "1024",
    ),
    ("monitors", MONITOR_URL + r', "locations": ["fra\u0000"]', ["body", "locations"], ""),
    ("monitors", MONITOR_URL + ', "interval_seconds": NaN', ["body", "interval_seconds"], ""),
    ("monitors", MONITOR_URL + ', "timeout_seconds": 1e400', ["body", "timeout_seconds"], ""),
    (
        "monitors",
        MONITOR + ', "kind": "heartbeat", "grace_seconds": -Infinity',
        ["body", "grace_seconds"],
        "",
    ),
    # maintenance windows
    (
        "maintenance-windows",
        WINDOW_TIMES + f', "ends_at": "{TOO_LATE}"',
        ["body", "ends_at"],
        "UTC",
    ),
    (
        "maintenance-windows",
        WINDOW + f', "starts_at": "{TOO_EARLY}", "ends_at": "2030-01-01T00:00:00Z"',
        ["body", "starts_at"],
        "UTC",
    ),
    (
        "maintenance-windows",
        WINDOW_TIMES.replace('"w"', r'"w\u0000"') + ', "ends_at": "2030-01-02T00:00:00Z"',
        ["body", "title"],
        "NUL",
    ),
]


def raw(body: str, catalog: Catalog) -> bytes:
    """``{body}`` with the catalog's ids in place of CUSTOMER, POLICY and SERVICE."""
    text = "{" + body + "}"
    for name in ("customer", "policy", "service"):
        text = text.replace(name.upper(), str(catalog[name]["id"]))
    return text.encode()


async def send(api: Api, method: str, path: str, content: bytes) -> Any:
    """Send raw JSON; the answer must be a rendered 422 (its ``detail`` list)."""
    response = await api.call(
        method, path, content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, (response.status_code, response.text)
    detail: list[dict[str, Any]] = response.json()["detail"]
    return detail


def error_at(detail: list[dict[str, Any]], loc: list[Any]) -> dict[str, Any]:
    found = [error for error in detail if error["loc"] == loc]
    assert found, (loc, detail)
    return found[0]


async def listing(api: Api) -> dict[str, list[dict[str, Any]]]:
    """Everything the catalog holds, to compare before and after a refused request."""
    return {
        path: await api.items(f"/api/v1/{path}")
        for path in ("customers", "sla-policies", "services", "monitors", "maintenance-windows")
    }


@pytest.mark.parametrize(("path", "body", "loc", "message"), BAD_CREATES)
async def test_bad_values_are_a_422_naming_the_field_and_nothing_is_stored(
    api: Api, catalog: Catalog, path: str, body: str, loc: list[Any], message: str
) -> None:
    before = await listing(api)
    detail = await send(api, "POST", f"/api/v1/{path}", raw(body, catalog))
    assert message in error_at(detail, loc)["msg"]
    assert await listing(api) == before


@pytest.mark.parametrize(
    ("resource", "body", "loc"),
    [
        ("customer", r'"name": "a\u0000"', ["body", "name"]),
        ("customer", r'"timezone": "\ud800"', ["body", "timezone"]),
        ("policy", '"hourly_multiplier": "1e-400"', ["body", "hourly_multiplier"]),
        ("policy", '"hourly_multiplier": NaN', ["body", "hourly_multiplier"]),
        ("policy", '"target_percent": Infinity', ["body", "target_percent"]),
        ("policy", '"credit_cap_percent": "50.0000001"', ["body", "credit_cap_percent"]),
        ("policy", '"min_downtime_seconds": 1e400', ["body", "min_downtime_seconds"]),
        ("service", '"monthly_fee": "1e400"', ["body", "monthly_fee"]),
        ("service", '"monthly_fee": "0.005"', ["body", "monthly_fee"]),
        ("service", f'"ends_at": "{TOO_LATE}"', ["body", "ends_at"]),
        ("monitor", r'"headers": {"X-A": "\u0000"}', ["body", "headers", "X-A"]),
        ("monitor", '"body": "' + "b" * 65_537 + '"', ["body", "body"]),
        ("monitor", r'"options": {"keyword": "\u0000"}', ["body", "options", "keyword"]),
        ("monitor", r'"heartbeat_url": "\u0000"', ["body", "heartbeat_url"]),
        ("monitor", '"quorum": NaN', ["body", "quorum"]),
    ],
)
async def test_bad_patches_are_a_422_and_change_nothing(
    api: Api, catalog: Catalog, resource: str, body: str, loc: list[Any]
) -> None:
    paths = {
        "customer": "customers",
        "policy": "sla-policies",
        "service": "services",
        "monitor": "monitors",
    }
    path = f"/api/v1/{paths[resource]}/{catalog[resource]['id']}"
    stored = (await api.call("GET", path, expect=200)).json()
    error_at(await send(api, "PATCH", path, raw(body, catalog)), loc)
    assert (await api.call("GET", path, expect=200)).json() == stored


async def test_a_window_patch_out_of_range_is_a_422(api: Api, catalog: Catalog) -> None:
    window = await api.create(
        "/api/v1/maintenance-windows",
        {
            "service_id": catalog["service"]["id"],
            "title": "w",
            "starts_at": "2030-01-01T00:00:00Z",
            "ends_at": "2030-01-01T01:00:00Z",
        },
    )
    path = f"/api/v1/maintenance-windows/{window['id']}"
    for body, field in ((f'"ends_at": "{TOO_LATE}"', "ends_at"), (r'"title": "\u0000"', "title")):
        error_at(await send(api, "PATCH", path, raw(body, catalog)), ["body", field])
    assert (await api.call("GET", path, expect=200)).json() == window


async def test_the_422_echoes_what_json_cannot_hold_as_text(api: Api, catalog: Catalog) -> None:
    detail = await send(api, "POST", "/api/v1/customers", b'{"slug": "a", "name": NaN}')
    assert error_at(detail, ["body", "name"])["input"] == "NaN"
    detail = await send(
        api, "POST", "/api/v1/sla-policies", b'{"name": "P", "target_percent": -1e400}'
    )
    assert error_at(detail, ["body", "target_percent"])["input"] == "-Infinity"
    detail = await send(api, "POST", "/api/v1/customers", rb'{"slug": "a", "name": "x\ud800"}')
    assert error_at(detail, ["body", "name"])["input"] == "x\\ud800"


def test_json_safe_renders_anything_a_422_may_echo() -> None:
    nested: list[Any] = []
    deepest = nested
    for _ in range(500):
        deepest.append([])
        deepest = deepest[0]
    value = json_safe(
        {"n": float("nan"), "i": float("inf"), "s": "\ud800\x00", "e": ValueError("x"), "d": nested}
    )
    text = json.dumps(value, allow_nan=False)  # renders, and as UTF-8
    text.encode("utf-8")
    assert value["n"] == "NaN" and value["i"] == "Infinity" and value["e"] == {}
    assert value["s"] == "\\ud800\x00"


async def test_decimals_are_stored_exactly_as_acknowledged(api: Api, catalog: Catalog) -> None:
    """The largest fee the column holds and the finest multiplier round-trip exactly,
    and a value in exponent form is acknowledged as it is stored."""
    policy = await api.create(
        "/api/v1/sla-policies",
        {
            "name": "Hourly",
            "target_percent": "9.99E+1",
            "credit_formula": "hourly",
            "hourly_multiplier": "0.000001",
            "min_credit_amount": "-0",
        },
    )
    assert policy["target_percent"] == "99.9"
    assert policy["hourly_multiplier"] == "0.000001"
    assert policy["min_credit_amount"] == "0.00"
    read = await api.call("GET", f"/api/v1/sla-policies/{policy['id']}", expect=200)
    assert read.json() == policy
    service = await api.create(
        "/api/v1/services",
        {
            "customer_id": catalog["customer"]["id"],
            "policy_id": policy["id"],
            "name": "Big",
            "slug": "big",
            "monthly_fee": str(MAX_MONEY),
            "starts_at": "2025-01-01T00:00:00+05:00",
            "ends_at": "9998-12-31T23:59:59Z",
        },
    )
    assert service["monthly_fee"] == "9999999999999999.99"
    assert service["starts_at"] == "2024-12-31T19:00:00Z"
    read = await api.call("GET", f"/api/v1/services/{service['id']}", expect=200)
    assert read.json() == service


# ---------------------------------------------------------------- results and heartbeats


def result(monitor_id: int, **fields: Any) -> dict[str, Any]:
    return {
        "monitor_id": monitor_id,
        "location": "local",
        "checked_at": "2025-06-01T00:00:00Z",
        "ok": False,
        **fields,
    }


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"checked_at": "0001-01-01T00:00:00Z"}, "checked_at", "2000-01-01"),
        ({"checked_at": TOO_EARLY}, "checked_at", "2000-01-01"),
        ({"checked_at": "1999-12-31T23:59:59Z"}, "checked_at", "2000-01-01"),
        ({"checked_at": TOO_LATE}, "checked_at", "9998-12-31"),
        ({"error": "refused\u0000"}, "error", "NUL"),
        ({"warning": "\u0000"}, "warning", "NUL"),
    ],
)
async def test_bad_result_rows_are_refused_naming_the_row(
    api: Api, catalog: Catalog, fields: dict[str, Any], field: str, message: str
) -> None:
    monitor_id = catalog["monitor"]["id"]
    batch = {"results": [result(monitor_id), result(monitor_id, **fields)]}
    detail = await send(api, "POST", "/api/v1/results", json.dumps(batch).encode())
    assert message in error_at(detail, ["body", "results", 1, field])["msg"]
    assert await api.items(f"/api/v1/monitors/{monitor_id}/results") == []


async def test_a_lone_surrogate_in_a_result_is_a_422(api: Api, catalog: Catalog) -> None:
    row = json.dumps(result(catalog["monitor"]["id"])).replace('"ok"', r'"error": "\ud800", "ok"')
    await send(api, "POST", "/api/v1/results", ('{"results": [' + row + "]}").encode())


async def test_results_stored_out_of_range_do_not_break_the_read(
    api: Api, catalog: Catalog, db_url: str
) -> None:
    """A row stored before checked_at was bounded (year 1) is left out of the list,
    not a 500 on every read."""
    monitor_id = catalog["monitor"]["id"]
    await api.call("POST", "/api/v1/results", json={"results": [result(monitor_id)]}, expect=202)
    engine = make_engine(db_url)
    try:
        async with make_sessionmaker(engine)() as session:
            await session.execute(
                insert(CheckResult).values(
                    monitor_id=monitor_id,
                    location="local",
                    checked_at=-62_135_596_800 - 18_000,  # 0000-12-31T19:00:00Z
                    ok=False,
                    interval_seconds=60,
                    received_at=1_750_000_000,
                )
            )
            await session.commit()
    finally:
        await engine.dispose()
    page = await api.page(f"/api/v1/monitors/{monitor_id}/results")
    assert [item["checked_at"] for item in page["items"]] == ["2025-06-01T00:00:00Z"]
    assert page["total"] == 1


async def test_stored_error_text_is_made_storable(api: Api, catalog: Catalog, db_url: str) -> None:
    """The server's own probes write through store_results: a NUL there would fail the
    insert on PostgreSQL (and wedge the result buffer), so it is written as text."""
    monitor_id = catalog["monitor"]["id"]
    row = ResultIn(
        monitor_id=monitor_id,
        location="local",
        checked_at=1_750_000_000,
        ok=False,
        interval_seconds=60,
        error="bad \x00 banner \ud800" + "x" * 2000,
        warning="w\x00",
    )
    engine = make_engine(db_url)
    try:
        async with make_sessionmaker(engine)() as session:
            await store_results(session, [row], 1_750_000_000, {monitor_id: 60})
            await session.commit()
    finally:
        await engine.dispose()
    [stored] = await api.items(f"/api/v1/monitors/{monitor_id}/results")
    assert stored["error"].startswith("bad \\x00 banner \\ud800x")
    assert len(stored["error"]) == 1000
    assert stored["warning"] == "w\\x00"


@pytest.mark.parametrize("token", ["%00", "abc%00def", "%ED%A0%80", "a" * 65, "a.b", "%0A"])
async def test_a_heartbeat_token_that_cannot_be_one_is_a_404(
    api: Api, catalog: Catalog, token: str
) -> None:
    for method in ("GET", "POST"):
        await api.call(method, f"/heartbeat/{token}", token=None, expect=404)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/monitors/MONITOR/results?location=%00",
        "/api/v1/credits?month=2025-06%00",
        "/api/v1/services/SERVICE/sla?month=%00",
        "/api/v1/agent/monitors?location=a%00",
    ],
)
async def test_a_nul_in_a_query_is_a_422(api: Api, catalog: Catalog, path: str) -> None:
    path = path.replace("MONITOR", str(catalog["monitor"]["id"]))
    path = path.replace("SERVICE", str(catalog["service"]["id"]))
    response = await api.call("GET", path, expect=422)
    assert response.json()["detail"][0]["loc"][0] == "query"
