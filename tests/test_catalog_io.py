"""Configuration as code: ``uptally apply`` and ``uptally export`` through the real
command (``app.cli.main``) against a real SQLite file and a real PostgreSQL."""

from __future__ import annotations

import re
import shutil
import textwrap
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.catalog_io.export import CatalogDumper, document, dump
from app.catalog_io.load import CatalogFileError, CatalogLoader, parse
from app.catalog_io.plan import make_plan, render
from app.catalog_io.stored import read_catalog
from app.catalog_io.validate import validate
from app.cli import main
from app.config import Settings
from app.db import Base, make_engine
from app.main import create_app
from app.schemas.common import utc_now
from tests.conftest import ADMIN_TOKEN, Api, asgi_api, blocking
from tests.helpers import TIERS, make_key

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "catalog.yaml"
CATALOG_TABLES = (
    "support_calendars",
    "sla_policies",
    "customers",
    "services",
    "monitors",
    "maintenance_windows",
)


class Cli:
    """``uptally`` run in-process against one database, with its output."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys
        capsys.readouterr()

    def __call__(self, *argv: str | Path) -> tuple[int, str, str]:
        code = blocking(main, [str(arg) for arg in argv])
        out = self.capsys.readouterr()
        return code, out.out, out.err


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    monkeypatch.setenv("UPTALLY_DATABASE_URL", db_url)
    monkeypatch.delenv("UPTALLY_PUBLIC_URL", raising=False)
    return Cli(capsys)


async def rows(db_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the catalog's tables (and the state changes), for "nothing was
    written" (updated_at, announced_at and all)."""
    engine = make_engine(db_url)
    try:
        async with engine.connect() as conn:
            found = {}
            for name in (*CATALOG_TABLES, "state_changes", "check_results"):
                table = Base.metadata.tables[name]
                query = select(table).order_by(*table.primary_key.columns)
                found[name] = [tuple(row) for row in await conn.execute(query)]
            return found
    finally:
        await engine.dispose()


def write(path: Path, content: str) -> Path:
    path.write_text(textwrap.dedent(content).lstrip())
    return path


SMALL = """
    policies:
      - name: Standard
        target_percent: 99.9
        credit_tiers:
          - {from_percent: 99, to_percent: 99.9, credit_percent: 10}
          - {from_percent: 95, to_percent: 99, credit_percent: 25}
          - {from_percent: 0, to_percent: 95, credit_percent: 50}
    customers:
      - slug: acme
        name: Acme
        timezone: Europe/Berlin
        services:
          - slug: web
            name: Web
            policy: Standard
            monthly_fee: 100.00
            starts_at: 2025-01-01T00:00:00Z
            monitors:
              - name: home
                kind: http
                target: https://acme.example/
              - name: api
                kind: http
                target: https://api.acme.example/health
                expected_status: [200]
"""


# ------------------------------------------------------------------ the sample


async def test_the_example_catalog_applies_to_a_fresh_database_and_then_changes_nothing(
    cli: Cli, db_url: str, tmp_path: Path
) -> None:
    code, out, err = cli("apply", "-f", EXAMPLE)
    assert code == 0, err
    assert "Plan: 15 to create, 0 to update, 0 to delete, 0 unchanged." in out
    assert "Applied: 15 created, 0 updated, 0 deleted." in out
    # The heartbeat monitor's ping URL is printed once, path only without a public URL.
    assert re.search(r"monitor globex/backups 'nightly job': ping /heartbeat/\S{20,}", out)
    stored = await rows(db_url)
    assert [len(stored[name]) for name in CATALOG_TABLES] == [1, 2, 2, 3, 6, 1]

    code, out, err = cli("apply", "-f", EXAMPLE)
    assert (code, err) == (0, "")
    assert out.strip() == f"No changes: the database matches {EXAMPLE} (15 unchanged)."
    assert await rows(db_url) == stored

    exported = tmp_path / "exported.yaml"
    assert cli("export", "-o", exported)[0] == 0
    code, out, _ = cli("apply", "-f", exported)
    assert code == 0 and out.startswith("No changes")
    assert await rows(db_url) == stored


# ------------------------------------------------------------------ the round trip


async def make_rich_catalog(api: Api) -> None:
    """A catalog with every kind of monitor and option, made through the API."""
    acme = await api.create(
        "/api/v1/customers",
        {"slug": "acme", "name": "Acme", "timezone": "Europe/Berlin", "private": True},
    )
    globex = await api.create("/api/v1/customers", {"slug": "globex", "name": "Globex"})
    office = await api.create(
        "/api/v1/support-calendars",
        {
            "name": "Office",
            "timezone": "Europe/Berlin",
            "hours": {"mon": [["13:00", "17:00"], ["09:00", "12:00"]], "fri": [["09:00", "24:00"]]},
            "holidays": ["2025-12-25", "2025-01-01"],
        },
    )
    tiered = await api.create(
        "/api/v1/sla-policies",
        {
            "name": "Standard",
            "target_percent": "99.9",
            "credit_tiers": TIERS,
            "support_targets": [
                {"priority": "P2", "respond_minutes": 60, "resolve_minutes": 480,
                 "calendar_id": office["id"]},
                {"priority": "P1", "respond_minutes": 15, "resolve_minutes": 240},
            ],
            "support_compliance_target_percent": "90.5",
        },
    )  # fmt: skip
    hourly = await api.create(
        "/api/v1/sla-policies",
        {
            "name": "Hourly 99.95",
            "target_percent": "99.95",
            "credit_formula": "hourly",
            "hourly_multiplier": "2.5",
            "credit_cap_percent": "30",
            "min_credit_amount": "1.50",
            "prorate_fee": False,
            "min_downtime_seconds": 0,
            "maintenance_policy": "exclude_from_denominator",
            "no_data_policy": "excluded",
        },
    )
    web = await api.create(
        "/api/v1/services",
        {
            "customer_id": acme["id"],
            "policy_id": tiered["id"],
            "name": "Web",
            "slug": "web",
            "monthly_fee": "100",
            "currency": "EUR",
            "starts_at": "2025-01-01T00:00:00Z",
        },
    )
    old = await api.create(
        "/api/v1/services",
        {
            "customer_id": globex["id"],
            "policy_id": hourly["id"],
            "name": "Old",
            "slug": "old",
            "monthly_fee": "0.10",
            "starts_at": "2024-01-01T00:00:00+02:00",
            "ends_at": "2024-12-31T22:00:00Z",
        },
    )
    monitors: list[dict[str, Any]] = [
        {
            "name": "home",
            "kind": "http",
            "target": "https://acme.example/",
            "method": "POST",
            "headers": {"X-Check": "1", "Accept": "application/json"},
            "body": 'line one\nline "two"\n',
            "expected_status": [200, 204],
            "json_path": "$.data[0].ok",
            "json_expected": {"ratio": 0.1, "n": 3, "flag": True, "list": [1.5, "2"]},
            "degraded_latency_ms": 750,
            "follow_redirects": False,
            "verify_tls": False,
            "locations": ["fra", "ams", "local"],
            "quorum": 2,
            "failure_confirmations": 3,
            "interval_seconds": 30,
            "timeout_seconds": 5,
        },
        {"name": "no error", "kind": "http", "target": "http://[2001:db8::1]:8080/x?y=1",
         "keyword": "error", "keyword_absent": True, "enabled": False},
        {"name": "smtp", "kind": "tcp", "target": "mx.acme.example:25", "send": "EHLO x\r\n",
         "expect": "250"},
        {"name": "dns", "kind": "dns", "target": "acme.example", "record_type": "TXT",
         "expected_answers": ["v=spf1 -all", "123"], "resolver": "9.9.9.9:53"},
        {"name": "cert", "kind": "tls", "target": "acme.example", "warn_days": 30,
         "min_days_left": 3, "server_name": "www.acme.example"},
        {"name": "ping", "kind": "icmp", "target": "192.0.2.1", "packet_count": 5},
        {"name": "cron", "kind": "heartbeat", "target": "", "grace_seconds": 0,
         "interval_seconds": 86_400, "timeout_seconds": 120},
        {"name": "true", "kind": "heartbeat", "target": "123", "interval_seconds": 10},
    ]  # fmt: skip
    for body in monitors:
        await api.create("/api/v1/monitors", {"service_id": web["id"], **body})
    await api.create(
        "/api/v1/monitors",
        {"service_id": old["id"], "name": "legacy", "kind": "tcp", "target": "[::1]:22"},
    )
    for window in (
        {"title": "Imported", "starts_at": "2025-03-01T01:00:00Z",
         "ends_at": "2025-03-01T02:00:00Z", "announced_at": "2025-02-01T00:00:00Z"},
        {"title": "Upgrade", "starts_at": "2030-01-01T00:00:00Z",
         "ends_at": "2030-01-01T03:00:00Z"},
    ):  # fmt: skip
        await api.create("/api/v1/maintenance-windows", {"service_id": web["id"], **window})


async def test_export_then_apply_changes_nothing(
    api: Api, cli: Cli, db_url: str, tmp_path: Path, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await make_rich_catalog(api)
    before = await rows(db_url)
    exported = tmp_path / "catalog.yaml"
    code, _, err = cli("export", "-o", exported)
    assert code == 0, err
    code, out, err = cli("apply", "-f", exported, "--prune")
    assert (code, err) == (0, "")
    assert out.strip() == f"No changes: the database matches {exported} (18 unchanged)."
    assert await rows(db_url) == before
    # Exporting again gives the very same file, whichever YAML emitter writes it
    # (libyaml's where PyYAML has it, else PyYAML's own).
    code, again, _ = cli("export")
    assert again == exported.read_text()
    async with sessions() as session:
        content = document((await read_catalog(session)).items)
    assert dump(content, dumper=CatalogDumper) == again


async def app_on(db_url: str) -> AsyncIterator[Api]:
    settings = Settings(database_url=db_url, admin_token=ADMIN_TOKEN, scheduler_enabled=False)
    application = create_app(settings)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(application.router.lifespan_context(application))
        yield await stack.enter_async_context(asgi_api(application))


async def catalog_as_read(api: Api) -> dict[str, Any]:
    """The whole catalog as the API reads it, ids replaced by the names they stand for."""
    customers = {c["id"]: c["slug"] for c in await api.items("/api/v1/customers")}
    policies = {p["id"]: p["name"] for p in await api.items("/api/v1/sla-policies")}
    services = {
        s["id"]: (customers[s["customer_id"]], s["slug"])
        for s in await api.items("/api/v1/services")
    }
    calendars = {c["id"]: c["name"] for c in await api.items("/api/v1/support-calendars")}

    def named(item: dict[str, Any]) -> dict[str, Any]:
        item = dict(item)
        item.pop("id")
        item.pop("created_at", None)
        for name, ids in (
            ("customer_id", customers),
            ("policy_id", policies),
            ("service_id", services),
        ):
            if name in item:
                item[name] = ids[item[name]]  # type: ignore[index]
        for target in item.get("support_targets", []):
            target["calendar_id"] = calendars.get(target["calendar_id"])
        return item

    result: dict[str, Any] = {}
    for path in (
        "support-calendars",
        "customers",
        "sla-policies",
        "services",
        "monitors",
        "maintenance-windows",
    ):
        items = [named(item) for item in await api.items(f"/api/v1/{path}")]
        result[path] = sorted(items, key=repr)
    return result


async def test_an_applied_export_reads_back_through_the_api_as_the_original(
    api: Api, cli: Cli, tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Apply writes what the API would: a catalog made through the API, exported and
    applied to another (SQLite) database, reads back the same through the API."""
    await make_rich_catalog(api)
    exported = tmp_path / "catalog.yaml"
    assert cli("export", "-o", exported)[0] == 0
    other = tmp_path / "other.db"
    shutil.copy(sqlite_template, other)
    other_url = f"sqlite+aiosqlite:///{other}"
    monkeypatch.setenv("UPTALLY_DATABASE_URL", other_url)
    code, out, err = cli("apply", "-f", exported)
    assert code == 0, err
    assert "Applied: 18 created, 0 updated, 0 deleted." in out

    original = await catalog_as_read(api)
    async for copy_api in app_on(other_url):
        copy = await catalog_as_read(copy_api)
    for monitors in (original["monitors"], copy["monitors"]):
        for monitor in monitors:  # a new database makes new ping tokens
            if monitor["kind"] == "heartbeat":
                assert monitor.pop("heartbeat_url").count("/heartbeat/") == 1
    # A window announced before it is recorded is an admin import, as over the API.
    for windows in (original["maintenance-windows"], copy["maintenance-windows"]):
        for window in windows:
            recorded_at = window.pop("recorded_at")
            assert window.pop("imported") is (window["announced_at"] < recorded_at)
    assert copy == original


# ------------------------------------------------------------------ the plan


async def test_the_plan_shows_creates_updates_and_deletes_field_by_field(
    cli: Cli, db_url: str, tmp_path: Path
) -> None:
    catalog = write(tmp_path / "catalog.yaml", SMALL)
    assert cli("apply", "-f", catalog)[0] == 0
    changed = SMALL.replace("name: Acme\n", "name: Acme Corp\n")
    changed = changed.replace(
        "monthly_fee: 100.00", "monthly_fee: 120.00\n            currency: EUR"
    )
    changed = changed.replace(
        "              - name: api\n                kind: http\n"
        "                target: https://api.acme.example/health\n"
        "                expected_status: [200]\n",
        "              - name: shop\n                kind: tcp\n"
        "                target: shop.acme.example:443\n",
    )
    changed = changed.replace(
        "target: https://acme.example/",
        "target: https://acme.example/\n                keyword: Hi",
    )
    write(catalog, changed)
    before = await rows(db_url)

    code, out, err = cli("apply", "-f", catalog, "--dry-run")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "~ update customer acme",
        "    name: 'Acme' -> 'Acme Corp'",
        "~ update service acme/web",
        "    monthly_fee: 100.00 -> 120.00",
        "    currency: 'USD' -> 'EUR'",
        "~ update monitor acme/web 'home'",
        "    keyword: (none) -> 'Hi'",
        "+ create monitor acme/web 'shop'",
        "Plan: 1 to create, 3 to update, 0 to delete, 1 unchanged; "
        "1 stored but not in the file, kept (--prune deletes them).",
        "Dry run: nothing was written.",
    ]
    code, out, _ = cli("apply", "-f", catalog, "--dry-run", "--prune", "--verbose")
    assert code == 0
    assert "= unchanged SLA policy 'Standard'" in out
    assert re.search(r"^- delete monitor acme/web 'api' \(id \d+\)$", out, re.M)
    assert "Plan: 1 to create, 3 to update, 1 to delete, 1 unchanged." in out
    assert await rows(db_url) == before  # --dry-run wrote nothing

    code, out, _ = cli("apply", "-f", catalog)
    assert code == 0 and "Applied: 1 created, 3 updated, 0 deleted." in out
    code, out, _ = cli("apply", "-f", catalog)
    assert out.startswith("No changes") and "1 stored but not in the file, kept" in out


async def test_dry_run_on_a_fresh_database_writes_nothing(cli: Cli, db_url: str) -> None:
    code, out, _ = cli("apply", "-f", EXAMPLE, "--dry-run", "--prune")
    assert code == 0 and "Plan: 15 to create" in out and "Dry run: nothing was written." in out
    assert all(not found for found in (await rows(db_url)).values())


async def test_prune_deletes_only_with_the_flag(cli: Cli, db_url: str, tmp_path: Path) -> None:
    catalog = write(tmp_path / "catalog.yaml", SMALL)
    assert cli("apply", "-f", catalog)[0] == 0
    # Results for the monitor about to go: deleted with it, and the plan says so.
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            api_id = (
                await conn.execute(text("SELECT id FROM monitors WHERE name = 'api'"))
            ).scalar_one()
            for at in (1_750_000_000, 1_750_000_060):
                await conn.execute(
                    text(
                        "INSERT INTO check_results (monitor_id, location, checked_at, ok, "
                        "interval_seconds, received_at) VALUES (:m, 'local', :at, true, 60, :at)"
                    ),
                    {"m": api_id, "at": at},
                )
    finally:
        await engine.dispose()
    without = SMALL[: SMALL.index("              - name: api")]
    write(catalog, without)

    code, out, _ = cli("apply", "-f", catalog)
    assert code == 0 and out.startswith("No changes") and "1 stored but not in the file" in out
    assert sorted(row[2] for row in (await rows(db_url))["monitors"]) == ["api", "home"]

    code, out, err = cli("apply", "-f", catalog, "--prune")
    assert (code, err) == (0, "")
    assert (
        f"- delete monitor acme/web 'api' (id {api_id}) (deleted with it: 2 check results)" in out
    )
    assert "Applied: 0 created, 0 updated, 1 deleted." in out
    after = await rows(db_url)
    assert [row[2] for row in after["monitors"]] == ["home"]
    assert after["check_results"] == []


async def test_prune_deletes_a_whole_customer_children_first(
    api: Api, cli: Cli, db_url: str, tmp_path: Path
) -> None:
    """Everything the file no longer has goes, as the API's DELETEs would take it:
    windows and monitors, then services, customers, policies and calendars; a
    customer's API keys go with it."""
    await make_rich_catalog(api)
    await make_key(db_url, "customer", customer="acme")
    keep = write(tmp_path / "keep.yaml", "customers:\n  - {slug: nobody, name: Nobody}\n")
    code, out, err = cli("apply", "-f", keep, "--prune")
    assert (code, err) == (0, ""), err
    assert "- delete customer acme (id 1) (deleted with it: 1 api keys)" in out
    assert "- delete support calendar 'Office'" in out
    assert "Applied: 1 created, 0 updated, 18 deleted." in out
    after = await rows(db_url)
    assert [len(after[name]) for name in CATALOG_TABLES] == [0, 0, 1, 0, 0, 0]
    assert after["state_changes"] == []
    assert await api.items("/api/v1/customers") == [
        {"id": 3, "slug": "nobody", "name": "Nobody", "timezone": "UTC", "private": False}
    ]


async def test_prune_refuses_to_delete_a_service_with_a_closed_month_and_writes_nothing(
    api: Api, cli: Cli, db_url: str, tmp_path: Path
) -> None:
    catalog = write(tmp_path / "catalog.yaml", SMALL)
    assert cli("apply", "-f", catalog)[0] == 0
    await api.call("POST", "/api/v1/months/2025-02/close", expect=200)
    # The file drops the service (and so its monitors) and renames the customer.
    write(catalog, SMALL[: SMALL.index("        services:")].replace("name: Acme\n", "name: X\n"))
    before = await rows(db_url)
    code, out, err = cli("apply", "-f", catalog, "--prune")
    assert code == 1
    assert out == ""
    assert (
        "uptally: refused: service acme/web (id 1) cannot be deleted: 1 statements refer to "
        "it and are kept for good; keep it in the file (an `ends_at` ends it)"
    ) in err
    assert "nothing was written" in err
    assert await rows(db_url) == before
    # Without --prune the same file is fine: the service is kept.
    code, out, _ = cli("apply", "-f", catalog)
    assert code == 0 and "name: 'Acme' -> 'X'" in out


async def test_a_stretched_window_is_re_announced_and_a_shrunk_one_is_not(
    cli: Cli, db_url: str, tmp_path: Path
) -> None:
    window = (
        "maintenance_windows:\n  - title: Upgrade\n    starts_at: 2030-01-01T00:00:00Z\n"
        "    ends_at: 2030-01-01T02:00:00Z\n    announced_at: 2025-01-01T00:00:00Z\n"
    )
    base = SMALL + textwrap.indent(window, " " * 12)  # under the service, as SMALL is
    catalog = write(tmp_path / "catalog.yaml", base)
    code, out, _ = cli("apply", "-f", catalog)
    assert code == 0 and "(imported: announced at 2025-01-01T00:00:00Z)" in out

    def stored_window(found: dict[str, list[tuple[Any, ...]]]) -> tuple[Any, ...]:
        [row] = found["maintenance_windows"]
        return row

    imported = stored_window(await rows(db_url))
    write(catalog, base.replace("T02:00:00Z", "T01:00:00Z"))
    code, out, err = cli("apply", "-f", catalog)
    assert code == 0 and "(shrunk: the announcement stands)" in out and err == ""
    shrunk = stored_window(await rows(db_url))
    assert shrunk[5:8] == imported[5:8]  # announced_at, recorded_at, imported

    write(catalog, base.replace("T02:00:00Z", "T04:00:00Z"))
    code, out, err = cli("apply", "-f", catalog)
    assert code == 0 and "(stretched: re-announced now)" in out
    stretched = stored_window(await rows(db_url))
    assert stretched[7] is False or stretched[7] == 0  # no longer an import
    assert stretched[5] == stretched[6] > imported[5]  # announced when recorded, now
    # The file's announced_at now differs from what is stored: said, and ignored.
    code, out, err = cli("apply", "-f", catalog)
    assert code == 0 and out.startswith("No changes")
    assert "announced_at: differs from the stored" in err


# ------------------------------------------------------------------ bad input


BAD_FILES = {
    "unknown policy": (
        SMALL.replace("policy: Standard", "policy: Gold"),
        "catalog.yaml:15: customers[0].services[0].policy: no SLA policy 'Gold' "
        "(known: 'Standard')",
    ),
    "unknown calendar": (
        SMALL.replace(
            "credit_percent: 50}\n",
            "credit_percent: 50}\n        support_targets:\n          - {priority: P1, "
            "respond_minutes: 5, resolve_minutes: 60, calendar: Nope}\n",
        ),
        "catalog.yaml:9: policies[0].support_targets[0].calendar: no support calendar 'Nope'",
    ),
    "bad time zone": (
        SMALL.replace("Europe/Berlin", "Mars/Olympus"),
        "catalog.yaml:11: customers[0].timezone: 'Mars/Olympus' is not an IANA time zone name",
    ),
    "bad target": (
        SMALL.replace("https://acme.example/", "ftp://acme.example/"),
        "catalog.yaml:21: customers[0].services[0].monitors[0].target: "
        "'ftp://acme.example/' must start with http:// or https://",
    ),
    "duplicate slug": (
        SMALL + "      - slug: acme\n        name: Acme again\n",
        "catalog.yaml:26: customers[1].slug: customer acme is declared twice (line 9)",
    ),
    "wrong type": (
        SMALL.replace("monthly_fee: 100.00", "monthly_fee: lots"),
        "catalog.yaml:16: customers[0].services[0].monthly_fee: Input should be a valid decimal",
    ),
    "unknown key": (
        SMALL.replace("        timezone:", "        colour: red\n        timezone:"),
        "catalog.yaml:11: customers[0].colour: Extra inputs are not permitted",
    ),
    "an id": (
        SMALL.replace("policy: Standard", "policy: Standard\n            policy_id: 1"),
        "catalog.yaml:16: customers[0].services[0].policy_id: not a catalog field: name the "
        "SLA policy with `policy: NAME`",
    ),
    "a rule across fields": (
        SMALL.replace(
            "expected_status: [200]", "expected_status: [200]\n                quorum: 2"
        ),
        "catalog.yaml:26: customers[0].services[0].monitors[1].quorum: 2 is more than the 1 "
        "location(s) listed",
    ),
    "not YAML": (SMALL.replace("name: Web", "name: [Web"), "catalog.yaml:15: not valid YAML"),
    "duplicate key": (
        SMALL.replace("name: Web", "name: Web\n            name: Web2"),
        "catalog.yaml:15: customers[0].services[0].name: given twice (first on line 14)",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
async def test_a_bad_file_is_refused_naming_file_line_and_field_and_writes_nothing(
    case: str, cli: Cli, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    good = write(tmp_path / "good.yaml", SMALL.replace("name: Acme\n", "name: Before\n"))
    assert cli("apply", "-f", good)[0] == 0
    before = await rows(db_url)
    content, expected = BAD_FILES[case]
    write(tmp_path / "catalog.yaml", content)
    code, out, err = cli("apply", "-f", "catalog.yaml")
    assert code == 2
    assert out == ""
    assert expected in err, err
    assert await rows(db_url) == before


async def test_every_problem_is_named_at_once(cli: Cli, tmp_path: Path) -> None:
    bad = SMALL.replace("Europe/Berlin", "Nowhere").replace("100.00", "1.001")
    code, _, err = cli("apply", "-f", write(tmp_path / "catalog.yaml", bad))
    assert code == 2
    assert err.splitlines() == [
        f"{tmp_path}/catalog.yaml:11: customers[0].timezone: 'Nowhere' is not an IANA time "
        "zone name (e.g. 'Europe/Berlin')",
        f"{tmp_path}/catalog.yaml:16: customers[0].services[0].monthly_fee: at most 2 "
        "decimal places",
        "uptally: 2 problem(s) in the file: nothing was written",
    ]


async def test_a_monitor_kind_change_and_a_future_announcement_are_refused(
    cli: Cli, db_url: str, tmp_path: Path
) -> None:
    catalog = write(tmp_path / "catalog.yaml", SMALL)
    assert cli("apply", "-f", catalog)[0] == 0
    before = await rows(db_url)
    bad = SMALL.replace(
        "                kind: http\n                target: https://acme.example/",
        "                kind: tcp\n                target: acme.example:80",
    ) + textwrap.indent(
        "maintenance_windows:\n  - title: Soon\n    starts_at: 2031-01-01T00:00:00Z\n"
        "    ends_at: 2031-01-01T01:00:00Z\n    announced_at: 2030-12-01T00:00:00Z\n",
        " " * 12,
    )
    code, out, err = cli("apply", "-f", write(catalog, bad))
    assert code == 2 and out == ""
    assert (
        "catalog.yaml:20: customers[0].services[0].monitors[0].kind: a monitor's kind cannot "
        "be changed (stored: http)"
    ) in err
    assert (
        "catalog.yaml:30: customers[0].services[0].maintenance_windows[0].announced_at: "
        "announced_at cannot be in the future"
    ) in err
    assert await rows(db_url) == before


async def test_names_shared_by_stored_objects_are_refused(
    api: Api, cli: Cli, tmp_path: Path
) -> None:
    for _ in range(2):
        await api.create(
            "/api/v1/sla-policies",
            {"name": "Standard", "target_percent": "99.9", "credit_tiers": TIERS},
        )
    code, out, err = cli("export")
    assert code == 1 and out == ""
    assert "2 SLA policy 'Standard's (ids 1, 2)" in err
    code, out, err = cli("apply", "-f", write(tmp_path / "catalog.yaml", SMALL))
    assert code == 1
    assert "SLA policy 'Standard': 2 stored objects have this name (ids 1, 2)" in err


# ------------------------------------------------------------------ the command


async def test_exit_codes(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = cli("apply", "-f", tmp_path / "missing.yaml")
    assert code == 2 and "missing.yaml: no such file" in err
    code, _, err = cli("apply", "-f", write(tmp_path / "empty.yaml", ""))
    assert code == 2 and "empty.yaml: the file is empty" in err
    code, _, err = cli("apply", "-f", write(tmp_path / "list.yaml", "- 1\n"))
    assert code == 2 and "list.yaml:1: (the document): a catalog is a mapping" in err
    with pytest.raises(SystemExit) as usage:
        main(["apply"])  # -f is required
    assert usage.value.code == 2
    monkeypatch.setenv("UPTALLY_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/unmigrated.db")
    code, _, err = cli("apply", "-f", EXAMPLE)
    assert code == 1 and "is it up, and migrated (`uptally db upgrade`)?" in err
    monkeypatch.setenv("UPTALLY_ALLOWED_TARGET_CIDRS", '["10.0.0.0/33"]')
    code, _, err = cli("export")
    assert code == 2 and "bad setting" in err


async def test_a_heartbeat_monitor_applied_gets_a_working_ping_url(
    api: Api, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPTALLY_PUBLIC_URL", "https://uptally.example/")
    heartbeat = SMALL.replace(
        "                kind: http\n                target: https://acme.example/",
        "                kind: heartbeat\n                grace_seconds: 30",
    )
    code, out, _ = cli("apply", "-f", write(tmp_path / "catalog.yaml", heartbeat))
    assert code == 0
    url = re.search(r"monitor acme/web 'home': ping (https://uptally\.example/heartbeat/\S+)", out)
    assert url is not None
    [monitor] = [m for m in await api.items("/api/v1/monitors") if m["kind"] == "heartbeat"]
    path = url.group(1).removeprefix("https://uptally.example")
    assert monitor["heartbeat_url"].endswith(path)
    ping = await api.call("POST", path, token=None)
    assert ping.status_code == 200 and ping.json()["monitor_id"] == monitor["id"]


# ------------------------------------------------------------------ reading YAML (pure)


# libyaml's parser where PyYAML has it, and PyYAML's own: the same values and lines.
LOADERS = pytest.mark.parametrize("loader", [None, CatalogLoader], ids=["default", "python"])


@LOADERS
def test_yaml_is_read_with_the_core_schema_and_exact_numbers(loader: type[Any] | None) -> None:
    text = "a: [on, no, y, 017, 1:30, 2025-01-01T00:00:00Z, 99.95, 1e3, true, ~]\n"
    source = parse(text, "t", loader_class=loader)
    from decimal import Decimal

    assert source.data == {
        "a": ["on", "no", "y", 17, "1:30", "2025-01-01T00:00:00Z", Decimal("99.95"),
              Decimal("1e3"), True, None]
    }  # fmt: skip


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a: 1\nb:\n  c: 1\n  c: 2\n", "t.yaml:4: b.c: given twice (first on line 3)"),
        ("a: &x [*x]\n", "t.yaml:1: nests too deep"),
        ("a: 1\n---\nb: 2\n", "t.yaml:2: not valid YAML"),
        ("? [1, 2]\n: 3\n", "t.yaml:1: a key must be text"),
    ],
)
@LOADERS
def test_unreadable_yaml_is_named_with_its_line(
    content: str, message: str, loader: type[Any] | None
) -> None:
    with pytest.raises(CatalogFileError) as error:
        parse(content, "t.yaml", loader_class=loader)
    assert str(error.value).startswith(message)


@LOADERS
def test_a_plan_against_nothing_creates_everything_in_order(loader: type[Any] | None) -> None:
    validated = validate(parse(textwrap.dedent(SMALL), "t.yaml", loader_class=loader))
    assert validated.problems == []
    plan = make_plan(validated.declared, [], prune=True, now=utc_now())
    assert render(plan, "t.yaml") == [
        "+ create SLA policy 'Standard'",
        "+ create customer acme",
        "+ create service acme/web",
        "+ create monitor acme/web 'api'",
        "+ create monitor acme/web 'home'",
        "Plan: 5 to create, 0 to update, 0 to delete, 0 unchanged.",
    ]


def test_apply_and_export_have_help(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["apply", "--help"], ["export", "--help"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 0
        assert f"usage: uptally {argv[0]}" in capsys.readouterr().out
