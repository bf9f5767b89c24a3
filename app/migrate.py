"""Bring a database schema up to date with Alembic, from code (``uptally db upgrade``,
``uptally serve`` and the test suite all use this).

The migrations are part of the package (``app/migrations``: ``env.py`` and
``versions/``), so an installed wheel migrates as a source checkout does; no
``alembic.ini`` is needed at run time (that file is for developers' ``alembic
revision``)."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

from alembic import command

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    if not (MIGRATIONS / "env.py").exists():
        raise RuntimeError(f"migrations not found in {MIGRATIONS}: this installation is broken")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser treats '%' as interpolation: escape it in passwords.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)
