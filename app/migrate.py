"""Bring a database schema up to date with Alembic, from code (``uptally db upgrade``,
``uptally serve`` and the test suite all use this)."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

from alembic import command

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def alembic_config(database_url: str) -> Config:
    ini = PROJECT_ROOT / "alembic.ini"
    if not (PROJECT_ROOT / "alembic" / "env.py").exists():
        raise RuntimeError(
            f"migrations not found under {PROJECT_ROOT}; install Uptally from its "
            "source tree (pip install -e .)"
        )
    config = Config(str(ini))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    # ConfigParser treats '%' as interpolation: escape it in passwords.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)
