"""The fault suite: a real ``uptally serve`` (and agent) whose PostgreSQL is reached
through a proxy the test cuts and hangs (tests/faults/proxy.py). Every test module here is
marked ``faults`` (``pytestmark``): ``pytest -m faults`` runs them alone."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import PG_SERVER_URL, SKIP_PG, _admin_execute, run_async
from tests.faults.proxy import FaultProxy


@pytest.fixture
def fault_database() -> Iterator[str]:
    """A dedicated, empty PostgreSQL database (``uptally serve`` migrates it)."""
    if SKIP_PG:
        pytest.skip("UPTALLY_TEST_POSTGRES=skip")
    name = f"uptally_faults_{uuid.uuid4().hex[:10]}"
    run_async(_admin_execute, PG_SERVER_URL, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_SERVER_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        run_async(_admin_execute, PG_SERVER_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def proxy(fault_database: str) -> Iterator[FaultProxy]:
    url = make_url(fault_database)
    proxy = FaultProxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.close()


def through(proxy: FaultProxy, database_url: str) -> str:
    """``database_url`` reached through the proxy."""
    return make_url(database_url).set(port=proxy.port).render_as_string(hide_password=False)
