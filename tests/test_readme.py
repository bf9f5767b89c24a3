"""The README's quick start and tour, run as written: its shell blocks are extracted
and run, line by line as a reader would paste them, against a real server started the
way ``make run`` starts it. If the README drifts from the API, this fails."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e_server import running_server

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FIRST, LAST = "## Quick start", "### Tests"  # the part of the README that is the tour


def tour_blocks(text: str) -> list[str]:
    """The ``sh`` blocks between the quick start's heading and the next section, less
    the ``make`` lines (the test starts the server as ``make run`` does)."""
    part = text[text.index(FIRST) : text.index(LAST)]
    blocks = re.findall(r"```sh\n(.*?)```", part, flags=re.DOTALL)
    return [
        "\n".join(line for line in block.splitlines() if not line.startswith("make "))
        for block in blocks
    ]


def test_make_run_starts_what_this_test_starts() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "UPTALLY_ADMIN_TOKEN ?= dev-admin-token" in makefile
    assert "uptally serve --host $(HOST) --port $(PORT) --sample" in makefile
    assert re.search(r"^PORT\s+\?= 8000$", makefile, flags=re.MULTILINE)


def test_the_readme_tour_runs_as_written(tmp_path: Path) -> None:
    if shutil.which("jq") is None:
        pytest.skip("the tour pipes through jq (apt-get install jq)")
    blocks = tour_blocks(README.read_text())
    assert len(blocks) >= 3 and "curl" in blocks[-1]
    database = f"sqlite+aiosqlite:///{tmp_path}/uptally.db"
    env = {"UPTALLY_ADMIN_TOKEN": "dev-admin-token"}
    with running_server(database, tmp_path, env=env, args=("--sample",)) as server:
        address = server.url.removeprefix("http://")
        script = "\n".join(block.replace("127.0.0.1:8000", address) for block in blocks)
        # Every request must succeed: curl fails on an HTTP error (and shows its body),
        # and any failing command stops the script.
        prelude = (
            'set -euo pipefail\ncurl() { command curl --fail-with-body --show-error "$@"; echo; }\n'
        )
        done = subprocess.run(
            ["bash", "-c", prelude + script],
            cwd=tmp_path,
            env={**os.environ, "LC_ALL": "C"},
            capture_output=True,
            text=True,
            timeout=120,
        )
    out = done.stdout
    assert done.returncode == 0, f"{done.stderr}\n{out}"
    assert '"slug":"website"' in out.replace(" ", "")  # the sample service
    assert '"slug":"acme"' in out and '"name":"Gold"' in out
    assert '\n1\n"home"\n' in out  # jq: the monitor list's total and names
    assert '"uptime_percent"' in out and '"credit_amount"' in out
    assert "customer_id,customer_slug,service_id,service_slug" in out  # the CSV header
    assert '"interval_seconds":30' in out and '"keyword":"Shop"' in out  # the PATCH
