"""Errors a person can act on, from real ``uptally`` processes: one line naming the
variable, the database, the option or the host, the right exit status, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import main
from app.config import unknown_variables
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[1]


def uptally(*argv: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("UPTALLY_")}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *argv],
        cwd=cwd,
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "UPTALLY_ALLOWED_TARGET_CIDRS",
            "notjson",
            "uptally: bad setting: UPTALLY_ALLOWED_TARGET_CIDRS: not valid JSON (Expecting "
            "value: line 1 column 1 (char 0)); expected JSON, e.g. "
            "UPTALLY_ALLOWED_TARGET_CIDRS='[\"10.0.0.0/8\"]'",
        ),
        (
            "UPTALLY_NOTIFY_URLS",
            "[1,",
            "uptally: bad setting: UPTALLY_NOTIFY_URLS: not valid JSON",
        ),
        (
            "UPTALLY_LOG_LEVEL",
            "loud",
            "uptally: bad setting: UPTALLY_LOG_LEVEL: Value error, 'loud' is not a log level",
        ),
        (
            "UPTALLY_LOG_FORMAT",
            "xml",
            "uptally: bad setting: UPTALLY_LOG_FORMAT: Input should be 'text' or 'json'",
        ),
    ],
)
def test_a_bad_setting_exits_2_with_one_line_naming_it(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    done = uptally("serve", cwd=tmp_path, **{variable: value})
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(message), done.stderr
    assert list(tmp_path.iterdir()) == []  # no database was created


@pytest.mark.parametrize("command", [("serve",), ("db", "upgrade"), ("keys", "list")])
def test_an_unreachable_database_is_one_line_with_its_host_and_the_reason(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://uptally:secret@127.0.0.1:{port}/uptally"
    done = uptally(*command, cwd=tmp_path, UPTALLY_DATABASE_URL=url)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "secret" not in done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"uptally: cannot use the database at 127.0.0.1:{port}/uptally: "
        "connection refused (is the server running, on that port?)"
    ), done.stderr
    assert len(done.stderr.splitlines()) <= 2  # serve logs what it is migrating first


def test_a_database_host_that_does_not_resolve_says_so(tmp_path: Path) -> None:
    url = "postgresql://uptally@db.nonexistent.invalid/uptally"
    done = uptally("db", "upgrade", cwd=tmp_path, UPTALLY_DATABASE_URL=url)
    assert done.returncode == 1
    last = done.stderr.splitlines()[-1]
    assert last.startswith(
        "uptally: cannot use the database at db.nonexistent.invalid/uptally: "
        "cannot resolve the host"
    ), done.stderr


def test_a_misspelt_variable_is_warned_about_with_the_likely_name() -> None:
    warnings = unknown_variables(
        {
            "UPTALLY_FOLD_INTERVAL": "5",
            "UPTALLY_DATABSE_URL": "x",
            "UPTALLY_WHATEVER": "1",
            "UPTALLY_LOG_LEVEL": "info",
            "UPTALLY_AGENT_TOKEN": "t",
            "PATH": "/bin",
        }
    )
    assert warnings == [
        "UPTALLY_DATABSE_URL is not an Uptally setting and is ignored "
        "(did you mean UPTALLY_DATABASE_URL?)",
        "UPTALLY_FOLD_INTERVAL is not an Uptally setting and is ignored "
        "(did you mean UPTALLY_FOLD_INTERVAL_SECONDS?)",
        "UPTALLY_WHATEVER is not an Uptally setting and is ignored",
    ]


def test_the_warning_reaches_the_terminal(tmp_path: Path) -> None:
    done = uptally("check", "127.0.0.1:9", "--timeout", "1", cwd=tmp_path, UPTALLY_ADMIN_TOKN="x")
    assert (
        "WARNING uptally UPTALLY_ADMIN_TOKN is not an Uptally setting and is ignored "
        "(did you mean UPTALLY_ADMIN_TOKEN?)" in done.stderr
    ), done.stderr


def test_an_unknown_check_option_is_named_with_the_ones_the_kind_takes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check", "--option", "nosuch=1", "http://example.com/"]) == 2
    assert capsys.readouterr().err == (
        "uptally: --option nosuch: not an option of http checks (they take: body, "
        "degraded_latency_ms, expected_status, follow_redirects, headers, json_expected, "
        "json_path, keyword, keyword_absent, method, verify_tls)\n"
    )
    assert main(["check", "--kind", "tcp", "--option", "sned=x", "example.com:80"]) == 2
    assert "not an option of tcp checks (they take: expect, send)" in capsys.readouterr().err


@pytest.mark.parametrize(
    "target", ["http://host.nonexistent.invalid/", "host.nonexistent.invalid:80"]
)
def test_a_name_that_does_not_resolve_reads_cannot_resolve(
    target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", target, "--timeout", "5"]) == 1
    out = capsys.readouterr().out
    assert "error: cannot resolve host.nonexistent.invalid" in out
    assert "refused" not in out
