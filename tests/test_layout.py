"""Rules of the source tree that no behaviour test would notice being broken."""

from __future__ import annotations

import ast
from pathlib import Path

import app.api

SHARED = {"app.api.deps", "app.api.errors", "app.api.views"}


def test_routers_never_import_each_other() -> None:
    """A router may use the shared modules of app/api/, never another router."""
    folder = Path(app.api.__file__).parent
    routers = {f"app.api.{path.stem}" for path in folder.glob("*.py")} - SHARED
    crossings = [
        (path.name, node.module)
        for path in sorted(folder.glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module in routers
    ]
    assert routers >= {"app.api.monitors", "app.api.results"}  # the glob found them
    assert crossings == []
