"""Headless Chromium for page tests: Debian's ``chromium`` (``.ci/run`` installs it).

A test that needs it calls ``chromium()``, which skips with the reason when no
Chromium can be found (where it cannot be installed)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium() -> str:
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no headless Chromium on this machine (apt-get install chromium)")


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [
                chromium(),
                "--headless",
                "--no-sandbox",  # CI runs as root
                "--disable-gpu",
                "--hide-scrollbars",
                "--no-first-run",
                f"--user-data-dir={profile}",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )


def rendered_dom(url: str, *flags: str) -> str:
    """The page's DOM after Chromium loaded and laid it out (more Chromium ``flags``
    may be given, e.g. ``--virtual-time-budget=MS`` to let scripts finish)."""
    result = _run([*flags, "--dump-dom", url])
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def screenshot(url: str, name: str, width: int, height: int) -> Path:
    """A PNG of the page at ``width`` x ``height`` under test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    path.unlink(missing_ok=True)
    result = _run([f"--screenshot={path}", f"--window-size={width},{height}", url])
    assert result.returncode == 0 and path.exists(), result.stderr[-2000:]
    return path
