"""Packaging: a wheel built from the source tree has everything ``uptally serve``
needs (the migrations, the templates, the docs' assets come from a dependency), and
nothing the package declares is missing.

The wheel is installed, with its dependencies from the package index as a user's
``pip install`` would take them, into a new virtual environment, and run from an
empty directory: every ``app`` module and file comes from the wheel, and every
dependency it needs is declared (about 20 s with pip's cache warm).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.helpers import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]


def build_wheel(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("app", "probes"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), "."],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    [wheel] = tmp_path.glob("uptally-*.whl")
    return wheel


def test_a_built_wheel_serves_from_a_clean_venv(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    versions = sorted((ROOT / "app/migrations/versions").glob("*.py"))
    assert {f"app/migrations/versions/{v.name}" for v in versions} <= names
    assert {"app/migrations/env.py", "app/migrations/script.py.mako"} <= names
    for template in (ROOT / "app/templates").glob("*.html"):
        assert f"app/templates/{template.name}" in names

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    # This venv's pip installs into the new one (pip --python): no pip to bootstrap there.
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q"]
    installed = subprocess.run([*install, str(wheel)], capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr[-3000:]
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()

    workdir = tmp_path / "empty"
    workdir.mkdir()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("UPTALLY_") and k != "PYTHONPATH"
    }
    where = subprocess.run(
        [str(python), "-c", "import app; print(app.__file__)"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(site), where  # the wheel's app, not the source tree's

    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(venv / "bin" / "uptally"), "serve", "--port", str(port), "--sample"],
            cwd=workdir,
            env={**env, "UPTALLY_ADMIN_TOKEN": "wheel-token"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        headers = {"Authorization": "Bearer wheel-token"}
        services = httpx.get(f"{url}/api/v1/services", headers=headers).json()
        assert [s["slug"] for s in services["items"]] == ["website"]
        assert "Uptally" in httpx.get(f"{url}/").text  # a template from the wheel
        assert httpx.get(f"{url}/docs/assets/swagger-ui-bundle.js").status_code == 200
        assert httpx.get(f"{url}/status/demo").status_code == 200  # the status template
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert (workdir / "uptally.db").exists()
    assert "install Uptally from its source tree" not in log.read_text()
