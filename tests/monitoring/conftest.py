"""The monitoring tests reuse the probe tests' local servers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.config import Settings
from app.main import create_app
from tests.conftest import Api, asgi_api
from tests.probes.conftest import ca, http_url  # noqa: F401  (fixtures)


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[tuple[Api, Any]]:
    """The app with its scheduler running (loopback targets allowed)."""
    application = create_app(settings.model_copy(update={"scheduler_enabled": True}))
    async with application.router.lifespan_context(application), asgi_api(application) as api:
        yield api, application
