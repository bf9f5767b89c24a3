"""Fixtures of the status page tests: the app's clock at a fixed instant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from pydantic import SecretStr

from app.config import Settings
from tests.status.helpers import NOW


@pytest.fixture
def fixed_now(app: Any) -> datetime:
    app.state.runtime.clock = NOW.timestamp
    return NOW


SECRET = "status-link-secret"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings (tests/conftest.py), with a key to sign status links."""
    return settings.model_copy(update={"secret_key": SecretStr(SECRET)})
