"""Ids are never given twice (issue 8, item 5), on both databases.

SQLite without AUTOINCREMENT gives a new row max(id) + 1, so deleting the newest
monitor handed its id to the next one created, and an agent's late results for the
deleted monitor landed in another customer's new monitor.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from app.db import Base
from app.migrate import upgrade
from tests.conftest import Api, blocking
from tests.helpers import Catalog, make_key, make_monitor, make_other_customer, policy_body

NOW = "2025-06-01T12:00:00Z"


def result(monitor_id: int, ok: bool = False) -> dict[str, Any]:
    return {"monitor_id": monitor_id, "location": "local", "checked_at": NOW, "ok": ok}


async def test_a_deleted_monitors_id_is_never_reused_and_its_late_results_are_refused(
    api: Api, db_url: str, catalog: Catalog
) -> None:
    """The issue's case: customer A's newest monitor is deleted, customer B creates one,
    then A's agent delivers its buffered failures for the deleted monitor."""
    agent = await make_key(db_url, "agent", locations=["local"])
    deleted = await make_monitor(api, catalog["service"]["id"], "https://a.acme.example/")
    await api.call("DELETE", f"/api/v1/monitors/{deleted['id']}", expect=204)
    globex = await make_other_customer(api, catalog["policy"]["id"])
    created = await make_monitor(api, globex["service"]["id"], "https://shop.globex.example/")
    assert created["id"] > deleted["id"]

    response = await api.call(
        "POST", "/api/v1/results", json={"results": [result(deleted["id"])]}, token=agent
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "results", 0, "monitor_id"]
    assert f"monitor {deleted['id']} does not exist" in response.text
    stored = await api.page(f"/api/v1/monitors/{created['id']}/results")
    assert stored["items"] == [] and stored["total"] == 0
    # The new monitor still takes its own results.
    accepted = await api.call(
        "POST", "/api/v1/results", json={"results": [result(created["id"])]}, token=agent
    )
    assert accepted.status_code == 202, accepted.text
    assert (await api.page(f"/api/v1/monitors/{created['id']}/results"))["total"] == 1


async def test_no_catalog_id_is_reused_after_the_newest_is_deleted(
    api: Api, catalog: Catalog
) -> None:
    service_id = catalog["service"]["id"]
    window = {
        "service_id": service_id,
        "title": "w",
        "starts_at": "2030-01-01T00:00:00Z",
        "ends_at": "2030-01-01T01:00:00Z",
    }
    bodies: dict[str, Any] = {
        "/api/v1/customers": lambda n: {"slug": f"c{n}", "name": "C"},
        "/api/v1/sla-policies": lambda n: policy_body(name=f"p{n}"),
        "/api/v1/services": lambda n: {
            "customer_id": catalog["customer"]["id"],
            "policy_id": catalog["policy"]["id"],
            "name": "S",
            "slug": f"s{n}",
            "monthly_fee": "1.00",
        },
        "/api/v1/maintenance-windows": lambda n: window,
        "/api/v1/monitors": lambda n: {
            "service_id": service_id,
            "name": f"m{n}",
            "kind": "icmp",
            "target": "acme.example",
        },
    }
    for path, body in bodies.items():
        first = await api.create(path, body(1))
        await api.call("DELETE", f"{path}/{first['id']}", expect=204)
        second = await api.create(path, body(2))
        assert second["id"] > first["id"], path


def test_every_table_with_a_surrogate_id_never_reuses_one() -> None:
    """The models say so (a new table must too)..."""
    surrogate = {t.name for t in Base.metadata.sorted_tables if t.autoincrement_column is not None}
    assert {"monitors", "customers", "services", "api_keys", "statements"} <= surrogate
    for name in surrogate:
        assert Base.metadata.tables[name].dialect_options["sqlite"]["autoincrement"], name


def test_the_migrations_make_every_surrogate_id_autoincrement(sqlite_template: Path) -> None:
    """... and so do the migrations (a drift the model comparison cannot see)."""
    surrogate = {t.name for t in Base.metadata.sorted_tables if t.autoincrement_column is not None}
    with sqlite3.connect(sqlite_template) as db:
        ddl = dict(db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
    missing = [name for name in sorted(surrogate) if "AUTOINCREMENT" not in ddl[name]]
    assert missing == []


def test_upgrading_a_populated_sqlite_database_keeps_every_row_and_id(tmp_path: Path) -> None:
    """The rebuild keeps rows and ids, and drops nothing through a foreign key (a
    customer's API keys cascade with the customer: dropping the old table with foreign
    keys on would have deleted them); after it the newest id is never given again."""
    path = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{path}"
    blocking(upgrade, url, "3c1d2e4f5a6b")
    created = "2025-01-01 00:00:00"
    with sqlite3.connect(path) as db:
        db.executescript(
            f"""
            INSERT INTO customers VALUES (1, 'acme', 'Acme', 'UTC', '{created}');
            INSERT INTO sla_policies (id, name, target_percent, credit_tiers, credit_formula,
              hourly_multiplier, percent_per_hour, credit_cap_percent, min_credit_amount,
              prorate_fee, min_downtime_seconds, maintenance_notice_seconds,
              maintenance_policy, no_data_policy, existence_policy, created_at)
              VALUES (1, 'p', '99.9', '[]', 'tiered', '1', '0', '100', '0', 1, 60, 86400,
                      'not_downtime', 'up', 'existence_window', '{created}');
            INSERT INTO services VALUES (1, 1, 1, 'Web', 'web', '100.00', 'EUR',
              '{created}', NULL, '{created}');
            INSERT INTO monitors (id, service_id, name, kind, target, interval_seconds,
              timeout_seconds, locations, quorum, failure_confirmations, options, enabled,
              created_at, updated_at)
              VALUES (7, 1, 'm', 'icmp', 'acme.example', 60, 10, '["local"]', 1, 1, '{{}}',
                      1, '{created}', '{created}');
            INSERT INTO check_results VALUES (7, 'local', 100, 0, 60, NULL, NULL, 'x', NULL, 1);
            INSERT INTO location_segments VALUES (3, 7, 'local', 100, 160, 1);
            INSERT INTO api_keys VALUES (4, 'c', 'customer', 1, 'h1', 'upt_1', '{created}', NULL);
            INSERT INTO api_keys VALUES (5, 'a', 'agent', NULL, 'h2', 'upt_2', '{created}', NULL);
            """
        )
    before = _rows(path)
    blocking(upgrade, url)
    after = _rows(path)
    # Keys gained their locations, then an expiry and a last use (none yet).
    assert after.pop("api_keys") == [(*key, "[]", None, None) for key in before.pop("api_keys")]
    # Customers gained `private` (false); policies their support targets (none, 95 %).
    assert after.pop("customers") == [(*c, 0) for c in before.pop("customers")]
    assert after.pop("sla_policies") == [(*p, "[]", "95") for p in before.pop("sla_policies")]
    assert after == before
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("DELETE FROM monitors WHERE id = 7")
        assert db.execute("SELECT count(*) FROM check_results").fetchone() == (0,)
        db.execute(
            "INSERT INTO monitors (service_id, name, kind, target, interval_seconds, "
            "timeout_seconds, locations, quorum, failure_confirmations, options, enabled, "
            f"created_at, updated_at) VALUES (1, 'n', 'icmp', 'a.example', 60, 10, '[]', 1, "
            f"1, '{{}}', 1, '{created}', '{created}')"
        )
        assert db.execute("SELECT id FROM monitors").fetchall() == [(8,)]


def _rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(path) as db:
        return {
            table: db.execute(f'SELECT * FROM "{table}" ORDER BY 1').fetchall()
            for table in (
                "customers",
                "sla_policies",
                "services",
                "monitors",
                "check_results",
                "location_segments",
                "api_keys",
            )
        }


def test_a_migration_leaving_rows_that_point_at_nothing_is_refused(tmp_path: Path) -> None:
    """Foreign keys are off while SQLite rebuilds tables; they are checked before each
    migration commits, so a broken reference stops the upgrade instead of being kept."""
    path = tmp_path / "broken.db"
    url = f"sqlite+aiosqlite:///{path}"
    blocking(upgrade, url, "3c1d2e4f5a6b")
    with sqlite3.connect(path) as db:  # foreign keys are off on a plain connection
        db.execute(
            "INSERT INTO api_keys VALUES (1, 'k', 'customer', 9, 'h', 'upt_1', "
            "'2025-01-01 00:00:00', NULL)"
        )
    with pytest.raises(RuntimeError, match="rows pointing at nothing"):
        blocking(upgrade, url)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [
            ("3c1d2e4f5a6b",)
        ]
        assert db.execute("SELECT count(*) FROM api_keys").fetchone() == (1,)
