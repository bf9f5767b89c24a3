"""Shared fixtures.

Every database test runs twice: on a real SQLite file and on a real PostgreSQL, both
brought to head by the Alembic migrations. Each test gets a clean database: a copy
of a migrated SQLite file, or the migrated PostgreSQL database truncated afterwards.

PostgreSQL is found at ``UPTALLY_TEST_POSTGRES_URL`` (default: the local server's
``test`` database). If it does not answer, the PostgreSQL half fails loudly; set
``UPTALLY_TEST_POSTGRES=skip`` to run the SQLite half alone on a laptop.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import Base, make_engine, make_sessionmaker
from app.main import create_app
from app.migrate import upgrade
from tests.helpers import Catalog, make_monitor, make_service

ADMIN_TOKEN = "test-admin-token"
PG_SERVER_URL = os.environ.get(
    "UPTALLY_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
SKIP_PG = os.environ.get("UPTALLY_TEST_POSTGRES") == "skip"


async def _admin_execute(server_url: str, statement: str) -> None:
    engine = make_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


def blocking(function: Any, *args: Any) -> Any:
    """Run blocking setup (Alembic runs its own event loop) off the test's loop thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(function, *args).result()


def run_async(coroutine_function: Any, *args: Any) -> Any:
    return blocking(lambda: asyncio.run(coroutine_function(*args)))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    blocking(upgrade, f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated to head."""
    if SKIP_PG:
        pytest.skip("UPTALLY_TEST_POSTGRES=skip")
    name = f"uptally_test_{uuid.uuid4().hex[:10]}"
    try:
        run_async(_admin_execute, PG_SERVER_URL, f'CREATE DATABASE "{name}"')
    except Exception as exc:
        pytest.fail(
            f"PostgreSQL at {PG_SERVER_URL} did not answer ({exc!r}); start it, point "
            "UPTALLY_TEST_POSTGRES_URL at one, or set UPTALLY_TEST_POSTGRES=skip"
        )
    url = make_url(PG_SERVER_URL).set(database=name).render_as_string(hide_password=False)
    try:
        blocking(upgrade, url)
        yield url
    finally:
        run_async(_admin_execute, PG_SERVER_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def truncate_statement() -> str:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    return f"TRUNCATE {tables} RESTART IDENTITY CASCADE"


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> AsyncIterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "uptally.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_database")
    try:
        yield url
    finally:
        await _admin_execute(url, truncate_statement())


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the test's database, apart from any app's (for folding, claims and
    reports called directly)."""
    engine = make_engine(db_url)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(
        database_url=db_url,
        admin_token=ADMIN_TOKEN,
        scheduler_enabled=False,
        allow_private_targets=True,
    )


class Api:
    """An async client bound to the app, with helpers that assert the status."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    def headers(self, token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = ADMIN_TOKEN,
        expect: int | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        response = await self.client.request(
            method, path, headers={**self.headers(token), **(headers or {})}, **kwargs
        )
        if expect is not None:
            assert response.status_code == expect, (response.status_code, response.text)
        return response

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.call("POST", path, json=body, expect=201)
        data: dict[str, Any] = response.json()
        return data

    async def page(self, path: str, **kwargs: Any) -> dict[str, Any]:
        """A list's envelope, checked: ``{items, total, limit, offset}``."""
        response = await self.call("GET", path, expect=200, **kwargs)
        data: dict[str, Any] = response.json()
        assert {"items", "total", "limit", "offset"} <= set(data), data
        assert len(data["items"]) <= data["total"] - data["offset"] or not data["items"], data
        return data

    async def items(self, path: str, **kwargs: Any) -> list[dict[str, Any]]:
        """A list's items (the envelope checked)."""
        items: list[dict[str, Any]] = (await self.page(path, **kwargs))["items"]
        return items


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(application.router.lifespan_context(application))
        yield application


@asynccontextmanager
async def asgi_api(app: Any) -> AsyncIterator[Api]:
    """An Api talking to ``app`` in process (its lifespan must already be running)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://uptally.test") as client:
        yield Api(client)


@pytest.fixture
async def api(app: Any) -> AsyncIterator[Api]:
    async with asgi_api(app) as client:
        yield client


@pytest.fixture
async def catalog(api: Api) -> Catalog:
    """One customer with a policy, a service and an HTTP monitor (tests.helpers.make_service)."""
    catalog = await make_service(api)
    catalog["monitor"] = await make_monitor(api, catalog["service"]["id"], "https://acme.example/")
    return catalog
