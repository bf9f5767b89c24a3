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


async def make_service(api: Api) -> int:
    from tests.conftest import TIERS

    customer = await api.create("/api/v1/customers", {"slug": "acme", "name": "Acme"})
    policy = await api.create(
        "/api/v1/sla-policies", {"name": "P", "target_percent": "99.9", "credit_tiers": TIERS}
    )
    service = await api.create(
        "/api/v1/services",
        {
            "customer_id": customer["id"],
            "name": "Web",
            "slug": "web",
            "policy_id": policy["id"],
            "monthly_fee": "10",
        },
    )
    service_id: int = service["id"]
    return service_id
