"""A revoked key stops working at once in every process: two real servers on one
database, a key revoked through one (or by the CLI), refused by both on the next
request. Keys are looked up on every request; there is no cache to wait out."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from app.db import make_engine, make_sessionmaker
from app.models import ApiKey
from tests.conftest import run_async
from tests.e2e_server import running_server
from tests.helpers import make_key

pytestmark = pytest.mark.e2e

ADMIN = {"Authorization": "Bearer test-admin-token"}


def test_a_key_revoked_through_one_server_is_refused_by_both_at_once(
    db_url: str, tmp_path: Path
) -> None:
    first_token = run_async(make_key, db_url, "billing")
    second_token = run_async(make_key, db_url, "billing")
    # The second process serves the API only (as extra API processes do).
    with ExitStack() as stack:
        one = stack.enter_context(running_server(db_url, tmp_path))
        two = stack.enter_context(
            running_server(db_url, tmp_path, env={"UPTALLY_SCHEDULER_ENABLED": "false"})
        )
        for server in (one, two):
            for token in (first_token, second_token):
                answer = httpx.get(
                    f"{server.url}/api/v1/customers", headers={"Authorization": f"Bearer {token}"}
                )
                assert answer.status_code == 200, answer.text

        revoked = httpx.post(f"{one.url}/api/v1/keys/1/revoke", headers=ADMIN)
        assert revoked.status_code == 200, revoked.text
        for server in (two, one):  # the other process first: no waiting, no cache
            answer = httpx.get(
                f"{server.url}/api/v1/customers", headers={"Authorization": f"Bearer {first_token}"}
            )
            assert answer.status_code == 401, (server.url, answer.text)
            assert "was revoked at" in answer.json()["detail"]

        # Revoked from a third process (the CLI, straight on the database).
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", "keys", "revoke", second_token[:12]],
            env={**os.environ, "UPTALLY_DATABASE_URL": db_url},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        for server in (one, two):
            answer = httpx.get(
                f"{server.url}/api/v1/customers",
                headers={"Authorization": f"Bearer {second_token}"},
            )
            assert answer.status_code == 401, answer.text

    # Each process writes when its requests last used each key in the background, and
    # at the latest when it stops.
    keys = run_async(stored_keys, db_url)
    assert [key.revoked_at is not None for key in keys] == [True, True]
    assert all(key.last_used_at is not None for key in keys), keys


async def stored_keys(url: str) -> list[ApiKey]:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            return list(await session.scalars(select(ApiKey).order_by(ApiKey.id)))
    finally:
        await engine.dispose()
