"""``uptally serve`` as a user runs it: a real uvicorn process on a fresh database."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e_server import running_server

pytestmark = pytest.mark.e2e


def test_serve_migrates_a_fresh_sqlite_file_and_serves_the_docs(tmp_path: Path) -> None:
    database = tmp_path / "fresh.db"
    with running_server(f"sqlite+aiosqlite:///{database}", tmp_path, args=("--sample",)) as server:
        assert database.exists()
        assert httpx.get(f"{server.url}/readyz").json()["database"] == "ok"
        docs = httpx.get(f"{server.url}/docs")
        assert docs.status_code == 200
        assert "swagger" in docs.text.lower()
        schema = httpx.get(f"{server.url}/openapi.json").json()
        assert "/api/v1/monitors" in schema["paths"]
        headers = {"Authorization": "Bearer test-admin-token"}
        created = httpx.post(
            f"{server.url}/api/v1/customers",
            json={"slug": "acme", "name": "Acme"},
            headers=headers,
        )
        assert created.status_code == 201
    # Stopping the server loses nothing: a second start sees the same data.
    with running_server(f"sqlite+aiosqlite:///{database}", tmp_path) as server:
        listed = httpx.get(
            f"{server.url}/api/v1/customers",
            headers={"Authorization": "Bearer test-admin-token"},
        )
        assert [c["slug"] for c in listed.json()["items"]] == ["demo", "acme"]
        assert listed.json()["total"] == 2


def test_serve_runs_on_postgresql(tmp_path: Path, postgres_database: str) -> None:
    with running_server(postgres_database, tmp_path) as server:
        assert httpx.get(f"{server.url}/readyz").json()["database"] == "ok"
