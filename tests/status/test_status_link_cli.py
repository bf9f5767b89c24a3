"""``uptally status-link``: a signed link that opens a private page, and clear errors."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from app.cli import main
from app.db import make_engine, make_sessionmaker, transaction
from app.migrate import upgrade
from app.models import Customer
from app.status.links import verify
from tests.conftest import blocking, run_async


async def _customer(url: str, private: bool) -> None:
    engine = make_engine(url)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            session.add(
                Customer(
                    slug="acme",
                    name="Acme",
                    timezone="UTC",
                    private=private,
                    created_at=datetime.now(UTC),
                )
            )
    finally:
        await engine.dispose()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("UPTALLY_DATABASE_URL", url)
    blocking(upgrade, url)
    run_async(_customer, url, True)
    return url


def test_a_link_opens_for_the_days_asked(
    database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("UPTALLY_SECRET_KEY", "s3cret")
    before = int(time.time())
    assert main(["status-link", "acme", "--days", "3", "--base-url", "https://up.example/"]) == 0
    out = capsys.readouterr()
    link = urlsplit(out.out.strip())
    assert (link.scheme, link.netloc, link.path) == ("https", "up.example", "/status/acme")
    [token] = parse_qs(link.query)["token"]
    assert verify("s3cret", "acme", token, before)
    assert verify("s3cret", "acme", token, before + 3 * 86_400 - 60)
    assert not verify("s3cret", "acme", token, before + 3 * 86_400 + 60)  # expired
    assert not verify("other", "acme", token, before)  # another secret
    assert not verify("s3cret", "globex", token, before)  # another customer
    assert "valid until" in out.err


@pytest.mark.parametrize(
    ("argv", "secret", "message"),
    [
        (["status-link", "acme"], None, "UPTALLY_SECRET_KEY is not set"),
        (["status-link", "nobody"], "s", "no customer with slug 'nobody'"),
        (["status-link", "acme", "--days", "0"], "s", "--days must be 1 to 366"),
        (["status-link", "acme", "--days", "400"], "s", "--days must be 1 to 366"),
    ],
)
def test_errors_name_what_is_wrong(
    database: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    secret: str | None,
    message: str,
) -> None:
    if secret is None:
        monkeypatch.delenv("UPTALLY_SECRET_KEY", raising=False)
    else:
        monkeypatch.setenv("UPTALLY_SECRET_KEY", secret)
    assert main(argv) == 2
    out = capsys.readouterr()
    assert out.out == "" and message in out.err
