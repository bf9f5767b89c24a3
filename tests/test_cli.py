"""The ``uptally`` command line."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import build_parser, main
from app.migrate import upgrade
from tests.conftest import blocking


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["--help"],
        ["serve", "--help"],
        ["db", "upgrade", "--help"],
        ["keys", "create", "--help"],
    ):
        with pytest.raises(SystemExit) as exit_info:
            build_parser().parse_args(argv)
        assert exit_info.value.code == 0
        assert "usage: uptally" in capsys.readouterr().out


def test_bad_scope_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["keys", "create", "--scope", "root"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'root'" in capsys.readouterr().err


def test_keys_create_prints_a_token_once(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("UPTALLY_DATABASE_URL", url)
    blocking(upgrade, url)
    assert main(["keys", "create", "--scope", "billing", "--name", "erp"]) == 0
    out = capsys.readouterr()
    assert out.out.startswith("upt_")
    assert "shown only this once" in out.err
    assert main(["keys", "create", "--scope", "customer", "--customer", "nobody"]) == 2
    assert "no customer with slug 'nobody'" in capsys.readouterr().err


def test_agent_keys_are_bound_to_the_locations_they_name(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("UPTALLY_DATABASE_URL", url)
    blocking(upgrade, url)
    assert main(["keys", "create", "--scope", "agent"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and "an agent key needs --location NAME" in out.err
    assert main(["keys", "create", "--scope", "admin", "--location", "fra"]) == 2
    assert "--location applies to agent keys only" in capsys.readouterr().err
    assert main(["keys", "create", "--scope", "agent", "--location", "FRA"]) == 2
    assert "--location 'FRA'" in capsys.readouterr().err
    argv = ["keys", "create", "--scope", "agent", "--location", "nyc", "fra", "--location", "ams"]
    assert main(argv) == 0
    out = capsys.readouterr()
    assert out.out.startswith("upt_")
    assert "(an agent key for ams, fra, nyc; it is shown only this once)" in out.err
    with sqlite3.connect(f"{tmp_path}/cli.db") as db:
        assert db.execute("SELECT scope, locations FROM api_keys").fetchall() == [
            ("agent", '["ams", "fra", "nyc"]')
        ]


def test_bad_setting_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("UPTALLY_ALLOWED_TARGET_CIDRS", '["10.0.0.0/33"]')
    assert main(["db", "upgrade"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("uptally: bad setting: UPTALLY_ALLOWED_TARGET_CIDRS: ")


def test_a_bad_setting_exits_2_naming_it(tmp_path: Path) -> None:
    """As the README says, from a real process: exit status 2, the setting named."""
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "keys", "create", "--scope", "admin"],
        env={
            **os.environ,
            "UPTALLY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/never.db",
            "UPTALLY_FOLD_INTERVAL_SECONDS": "soon",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "uptally: bad setting: UPTALLY_FOLD_INTERVAL_SECONDS: " in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    assert not (tmp_path / "never.db").exists()
