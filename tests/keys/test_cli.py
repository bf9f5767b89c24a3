"""``uptally keys list|revoke|rotate`` on both databases, and what ``keys create``
says (and leaves behind) where there is no database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from app.auth import authenticate
from app.cli import main
from app.db import make_engine, make_sessionmaker
from app.models import ApiKey
from tests.conftest import run_async
from tests.helpers import make_key


async def _principal(url: str, token: str) -> object:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            return await authenticate(session, token, None)
    finally:
        await engine.dispose()


async def _keys(url: str) -> list[ApiKey]:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            return list(await session.scalars(select(ApiKey).order_by(ApiKey.id)))
    finally:
        await engine.dispose()


def test_list_revoke_and_rotate(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("UPTALLY_DATABASE_URL", db_url)
    billing = run_async(make_key, db_url, "billing")
    agent = run_async(make_key, db_url, "agent", None, ["fra"])
    assert main(["keys", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == [
        "id",
        "prefix",
        "scope",
        "state",
        "name",
        "for",
        "last",
        "used",
        "expires",
    ]
    assert out[1].split()[:4] == ["1", billing[:12], "billing", "active"]
    assert out[2].split()[:6] == ["2", agent[:12], "agent", "active", "-", "fra"]

    # By prefix as listed; every process refuses it from its next request on.
    assert main(["keys", "revoke", billing[:12]]) == 0
    assert capsys.readouterr().out.startswith(f"revoked key 1 ({billing[:12]}..., billing)")
    assert run_async(_principal, db_url, billing) is None
    assert main(["keys", "revoke", "1"]) == 0
    assert "was revoked already" in capsys.readouterr().out
    assert main(["keys", "list"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]] == ["2"]

    assert main(["keys", "rotate", "2"]) == 0
    out, err = capsys.readouterr()
    new_token = out.strip()
    assert new_token.startswith("upt_") and "(an agent key (key 3) replacing key 2" in err
    assert run_async(_principal, db_url, agent) is None
    assert run_async(_principal, db_url, new_token) is not None
    assert main(["keys", "list", "--all", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(k["id"], k["state"], k["locations"]) for k in listed] == [
        (1, "revoked", []),
        (2, "revoked", ["fra"]),
        (3, "active", ["fra"]),
    ]

    assert main(["keys", "rotate", "3", "--grace", "600"]) == 0
    assert "key 3 expires at " in capsys.readouterr().err
    assert main(["keys", "revoke", "99", "3"]) == 2
    assert "no API key 99; nothing was revoked" in capsys.readouterr().err
    assert [k.revoked_at is None for k in run_async(_keys, db_url)] == [False, False, True, True]
    assert main(["keys", "revoke", "upt_"]) == 2
    assert "at least 8 characters" in capsys.readouterr().err


def test_a_key_may_expire(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("UPTALLY_DATABASE_URL", db_url)
    assert main(["keys", "create", "--scope", "billing", "--expires-in-days", "30"]) == 0
    assert ", valid until " in capsys.readouterr().err
    [key] = run_async(_keys, db_url)
    assert key.expires_at is not None
    assert (key.expires_at - key.created_at).days == 30


def run_cli(*argv: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *argv],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_keys_create_without_a_database_says_so_and_creates_nothing(tmp_path: Path) -> None:
    env = {"PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    env_no_url = {**env, "UPTALLY_DATABASE_URL": "sqlite+aiosqlite:///./uptally.db"}
    done = run_cli("keys", "create", "--scope", "admin", cwd=tmp_path, env=env_no_url)
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    assert done.stderr.strip() == (
        f"uptally: no database at {tmp_path.resolve()}/uptally.db (UPTALLY_DATABASE_URL); "
        "create it with 'uptally db upgrade' (or 'uptally serve'), or point "
        "UPTALLY_DATABASE_URL at yours. Nothing was written."
    )
    assert list(tmp_path.iterdir()) == []

    (tmp_path / "uptally.db").touch()  # a file, but no schema
    done = run_cli("keys", "list", cwd=tmp_path, env=env_no_url)
    assert done.returncode == 1
    assert "has no Uptally schema; run 'uptally db upgrade' first" in done.stderr
    assert "Traceback" not in done.stderr
