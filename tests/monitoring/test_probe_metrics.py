"""/metrics per probe and per contract: the latest result of every monitor at every
location (the scheduler's and remote agents' alike) and every service's SLA gauges,
checked with the real ``promtool check metrics`` and prometheus-client's parser."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.agent.buffer import DiskBuffer
from app.agent.client import ServerClient
from app.agent.runner import Agent
from app.config import Settings
from app.monitoring.checks import ResultIn
from app.sla.periods import utc_text
from probes.registry import ProbeContext
from tests.conftest import ADMIN_TOKEN, Api, asgi_api
from tests.helpers import make_monitor, make_service, until

LABELS = {"monitor_id", "monitor", "kind", "customer", "service", "location"}
Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def series(text: str) -> Series:
    """Every sample: (name, labels) -> value."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def of(found: Series, name: str, **labels: str) -> dict[frozenset[tuple[str, str]], float]:
    """The samples of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return {key: value for (n, key), value in found.items() if n == name and wanted <= key}


def one(found: Series, name: str, **labels: str) -> float:
    (value,) = of(found, name, **labels).values()
    return value


async def scrape(api: Api) -> str:
    response = await api.call("GET", "/metrics", token=None, expect=200)
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return response.text


def promtool(text: str) -> None:
    """``promtool check metrics``: the format and Prometheus's naming conventions."""
    tool = shutil.which("promtool")
    if tool is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus; .ci/run does)")
    checked = subprocess.run(
        [tool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


KINDS = {
    "http": ("https://shop.acme.example/", {}),
    "tcp": ("db.acme.example:5432", {}),
    "dns": ("acme.example", {}),
    "tls": ("shop.acme.example", {}),
    "icmp": ("gw.acme.example", {}),
    "heartbeat": ("nightly backup", {}),
}


async def test_every_kind_from_an_agent_and_the_scheduler_passes_promtool(
    live: tuple[Api, Any], http_url: str
) -> None:
    api, app = live
    catalog = await make_service(api)
    service_id = catalog["service"]["id"]
    monitors = {
        kind: await make_monitor(
            api, service_id, target, kind=kind, name=f'{kind} "quoted"\\name', locations=["fra"]
        )
        for kind, (target, _) in KINDS.items()
    }
    local = await make_monitor(api, service_id, f"{http_url}/ok", name="home")
    now = int(time.time())
    expiry = now + 40 * 86_400
    rows: list[dict[str, Any]] = [
        {
            "monitor_id": monitors[kind]["id"],
            "location": "fra",
            "checked_at": utc_text(now - 5),
            "ok": kind != "dns",
            "error": 'NXDOMAIN "acme"\nsecond line' if kind == "dns" else None,
        }
        for kind in KINDS
    ]
    rows[0] |= {
        "latency_ms": 142,
        "status_code": 200,
        "timings": {"dns": 3.1, "connect": 21.0, "tls": 48.2, "first_byte": 65.3, "total": 142.0},
    }
    rows[3] |= {"latency_ms": 80, "cert_expires_at": utc_text(expiry)}
    await api.call("POST", "/api/v1/results", json={"results": rows}, expect=202)
    scheduler = app.state.runtime.scheduler
    await scheduler.check_now(local["id"])
    await scheduler.buffer.flush()

    text = await scrape(api)
    promtool(text)
    found = series(text)
    success = of(found, "uptally_probe_success")
    assert len(success) == len(KINDS) + 1
    assert all({name for name, _ in key} == LABELS for key in success)
    http = {"monitor_id": str(monitors["http"]["id"]), "location": "fra", "kind": "http"}
    assert one(found, "uptally_probe_success", **http) == 1
    assert one(found, "uptally_probe_success", kind="dns") == 0
    assert one(found, "uptally_probe_http_status_code", **http) == 200
    phases = of(found, "uptally_probe_duration_seconds", **http)
    assert {dict(key)["phase"]: value for key, value in phases.items()} == {
        "dns": 0.0031,
        "connect": 0.021,
        "tls": 0.0482,
        "first_byte": 0.0653,
        "total": 0.142,
    }
    assert one(found, "uptally_probe_tls_cert_expiry_timestamp_seconds", kind="tls") == expiry
    # The scheduler's own check, measured here, with its phases.
    mine = {"monitor_id": str(local["id"]), "location": "local"}
    assert one(found, "uptally_probe_success", **mine) == 1
    measured = {dict(k)["phase"] for k in of(found, "uptally_probe_duration_seconds", **mine)}
    assert {"dns", "connect", "first_byte", "total"} <= measured
    labels = dict(next(iter(of(found, "uptally_probe_success", kind="tcp"))))
    assert labels["monitor"] == 'tcp "quoted"\\name'  # escaped on the wire, read back whole
    assert (labels["customer"], labels["service"]) == ("acme", "web")
    assert "NXDOMAIN" not in text  # error text is never a label
    assert one(found, "uptally_ingest_batch_rows_count", source="api") == 1
    assert one(found, "uptally_ingest_batch_rows_sum", source="api") == len(KINDS)
    assert one(found, "uptally_ingest_batch_rows_count", source="scheduler") == 1


async def test_deleted_and_paused_monitors_and_deleted_services_disappear(
    api: Api, app: Any
) -> None:
    catalog = await make_service(api)
    service_id = catalog["service"]["id"]
    kept = await make_monitor(api, service_id, "https://a.acme.example/", name="kept")
    paused = await make_monitor(api, service_id, "https://b.acme.example/", name="paused")
    gone = await make_monitor(api, service_id, "https://c.acme.example/", name="gone")
    rows = [
        {
            "monitor_id": m["id"],
            "location": "local",
            "checked_at": utc_text(int(time.time())),
            "ok": True,
        }
        for m in (kept, paused, gone)
    ]
    await api.call("POST", "/api/v1/results", json={"results": rows}, expect=202)
    runtime = app.state.runtime
    runtime.figures.invalidate([service_id])
    await runtime.figures.refresh()
    found = series(await scrape(api))
    assert {dict(k)["monitor"] for k in of(found, "uptally_probe_success")} == {
        "kept",
        "paused",
        "gone",
    }
    assert of(found, "uptally_sla_target_ratio", service="web")
    await api.call("PATCH", f"/api/v1/monitors/{paused['id']}", json={"enabled": False}, expect=200)
    await api.call("DELETE", f"/api/v1/monitors/{gone['id']}", expect=204)
    found = series(await scrape(api))
    assert {dict(k)["monitor"] for k in of(found, "uptally_probe_success")} == {"kept"}
    for monitor in (kept, paused):
        await api.call("DELETE", f"/api/v1/monitors/{monitor['id']}", expect=204)
    await api.call("DELETE", f"/api/v1/services/{service_id}", expect=204)
    text = await scrape(api)
    assert "uptally_probe_success{" not in text and 'service="web"' not in text


async def test_a_restart_shows_the_latest_stored_results_at_once(
    api: Api, settings: Settings
) -> None:
    catalog = await make_service(api)
    monitor = await make_monitor(api, catalog["service"]["id"], "https://acme.example/")
    now = int(time.time())
    rows = [
        {
            "monitor_id": monitor["id"],
            "location": "local",
            "checked_at": utc_text(now - ago),
            "ok": ok,
            "latency_ms": latency,
            "status_code": status,
        }
        for ago, ok, latency, status in ((120, True, 90, 200), (60, False, 300, 503))
    ]
    await api.call("POST", "/api/v1/results", json={"results": rows}, expect=202)
    from app.main import create_app

    again = create_app(settings)
    async with again.router.lifespan_context(again), asgi_api(again) as fresh:
        await until(lambda: again.state.runtime.latest.seeded, "the seeding at start")
        found = series(await scrape(fresh))
    labels = {"monitor_id": str(monitor["id"]), "location": "local"}
    assert one(found, "uptally_probe_success", **labels) == 0
    assert one(found, "uptally_probe_http_status_code", **labels) == 503
    assert one(found, "uptally_probe_duration_seconds", phase="total", **labels) == 0.3
    assert one(found, "uptally_probe_last_result_timestamp_seconds", **labels) == now - 60


async def test_the_sla_gauges_are_the_sla_endpoints_figures_for_a_known_outage(
    api: Api, app: Any
) -> None:
    catalog = await make_service(api)
    service_id = catalog["service"]["id"]
    monitor = await make_monitor(api, service_id, "https://acme.example/")
    now = int(time.time())
    # Down for 40 minutes, up since: 99.9 % of a month allows about 43 minutes.
    pattern = [(3000, True), *((ago, False) for ago in range(2940, 540, -60)), (540, True)]
    rows = [
        {
            "monitor_id": monitor["id"],
            "location": "local",
            "checked_at": utc_text(now - ago),
            "ok": ok,
        }
        for ago, ok in [*pattern, *((ago, True) for ago in range(480, -1, -60))]
    ]
    await api.call("POST", "/api/v1/results", json={"results": rows}, expect=202)
    month = datetime.now(UTC).strftime("%Y-%m")
    sla = (
        await api.call("GET", f"/api/v1/services/{service_id}/sla?month={month}", expect=200)
    ).json()
    assert sla["downtime_seconds"] == 2400
    runtime = app.state.runtime
    runtime.figures.invalidate([service_id])
    await runtime.figures.refresh()
    found = series(await scrape(api))
    where = {"customer": "acme", "service": "web"}
    uptime = Decimal(repr(one(found, "uptally_sla_uptime_ratio", **where))) * 100
    assert (
        Decimal(sla["uptime_percent"])
        <= uptime
        < Decimal(sla["uptime_percent"]) + Decimal("0.0001")
    )
    assert one(found, "uptally_sla_target_ratio", **where) == 0.999
    item = runtime.figures.get(service_id)
    budget = item.figures.available_seconds * Decimal("0.001") - sla["downtime_seconds"]
    assert one(found, "uptally_sla_error_budget_remaining_seconds", **where) == pytest.approx(
        float(budget)
    )
    credit = of(found, "uptally_sla_credit_exposure", **where)
    assert credit == {frozenset({**where, "currency": "USD"}.items()): float(sla["credit_amount"])}


async def test_agent_timings_and_certificate_expiry_reach_metrics(
    api: Api, app: Any, catalog: dict[str, Any], tmp_path: Path
) -> None:
    monitor = await make_monitor(
        api, catalog["service"]["id"], "shop.acme.example", kind="tls", locations=["edge"]
    )
    buffer = DiskBuffer(tmp_path / "agent.db")
    now = int(time.time())
    buffer.add(
        ResultIn(
            monitor_id=monitor["id"],
            location="edge",
            checked_at=now,
            ok=True,
            interval_seconds=60,
            latency_ms=50,
            timings={"connect": 5.0, "total": 50.0},
            cert_expires_at=now + 86_400,
        )
    )
    probes = ProbeContext()
    agent = Agent(
        "http://uptally.test",
        ADMIN_TOKEN,
        "edge",
        buffer,
        probes,
        transport=httpx.ASGITransport(app=app),
    )
    try:
        assert await agent.send_pending() == 1
    finally:
        await agent.client.aclose()
        await probes.aclose()
        buffer.close()
    found = series(await scrape(api))
    labels = {"monitor_id": str(monitor["id"]), "location": "edge"}
    assert one(found, "uptally_probe_tls_cert_expiry_timestamp_seconds", **labels) == now + 86_400
    assert one(found, "uptally_probe_duration_seconds", phase="connect", **labels) == 0.005


async def test_an_older_server_gets_the_batch_again_without_the_new_fields() -> None:
    """A server that predates ``timings`` and ``cert_expires_at`` refuses them as unknown
    fields: the agent sends the batch again without them (nothing dropped), and every
    later batch too."""
    seen: list[dict[str, Any]] = []

    def older(request: httpx.Request) -> httpx.Response:
        import json

        body = json.loads(request.content)
        seen.append(body)
        errors = [
            {
                "type": "extra_forbidden",
                "loc": ["body", "results", i, name],
                "msg": "Extra inputs are not permitted",
            }
            for i, row in enumerate(body["results"])
            for name in ("timings", "cert_expires_at")
            if name in row
        ]
        if errors:
            return httpx.Response(422, json={"detail": errors})
        return httpx.Response(202, json={"accepted": len(body["results"])})

    client = ServerClient("http://uptally.test", "token", httpx.MockTransport(older))
    row = ResultIn(
        monitor_id=1,
        location="edge",
        checked_at=1_750_000_000,
        ok=True,
        timings={"total": 5.0},
        cert_expires_at=1_760_000_000,
    )
    try:
        assert (await client.push([row])).status_code == 202
        assert (await client.push([row])).status_code == 202
    finally:
        await client.aclose()
    assert ["timings" in body["results"][0] for body in seen] == [True, False, False]
    await asyncio.sleep(0)
