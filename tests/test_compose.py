"""compose.yaml is fit for production: no secret in it, the API on loopback unless
asked, restart policies, PostgreSQL's data on a volume, and migrations in a one-shot
service before the server starts. (No Docker here: the file is checked as data.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return data


def test_no_secret_is_in_the_file() -> None:
    text = (ROOT / "compose.yaml").read_text()
    assert not re.search(r"(?i)(password|token|secret_key)\s*:\s*\S", text), "a secret inline"
    assert "postgresql://" not in text  # the URL, with its password, is in the env file
    for service in ("db", "migrate", "uptally"):
        assert compose()["services"][service]["env_file"] == "uptally.env"
    assert "uptally.env" in (ROOT / ".gitignore").read_text().split()


def test_the_example_env_file_names_every_secret() -> None:
    names = {
        line.split("=", 1)[0]
        for line in (ROOT / "examples/uptally.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert {"POSTGRES_PASSWORD", "UPTALLY_DATABASE_URL", "UPTALLY_ADMIN_TOKEN"} <= names


def test_ports_are_on_loopback_unless_asked_and_the_database_has_none() -> None:
    services = compose()["services"]
    assert "ports" not in services["db"]
    assert services["uptally"]["ports"] == ["${UPTALLY_BIND:-127.0.0.1}:${UPTALLY_PORT:-8000}:8000"]


def test_restart_policies_volumes_and_the_upgrade_path() -> None:
    services = compose()["services"]
    assert services["db"]["restart"] == services["uptally"]["restart"] == "unless-stopped"
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["command"] == ["uptally", "db", "upgrade"]
    assert services["uptally"]["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"}
    }
    assert services["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert "pgdata:/var/lib/postgresql/data" in services["db"]["volumes"]
    assert set(compose()["volumes"]) == {"pgdata", "spool"}


def test_the_image_runs_the_python_ci_tests() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    [image] = re.findall(r"^FROM python:(\S+)", dockerfile, flags=re.MULTILINE)
    assert image.startswith("3.11-"), image  # .ci/run tests on Python 3.11
    assert "pip install -e" not in dockerfile  # a plain install: the package has it all
