"""Bounded request bodies (issue 8, item 1): a body over its cap is a 413 before it is
read or parsed, with a token or without; /api/v1 answers 401 without a token before
reading the body; a results batch over 10,000 rows is refused before any row is
validated. Through the real app, on both databases."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
from pydantic import Field, model_validator

import app.api.results as results_api
from app.api.deps import MISSING_TOKEN
from app.api.limits import PUBLIC_PREFIXES
from app.config import Settings
from app.main import create_app
from app.schemas.sla import ResultBatch, ResultRow
from tests.conftest import ADMIN_TOKEN, Api, asgi_api
from tests.helpers import Catalog, make_key

MIB = 1024 * 1024
ROW = {"monitor_id": 1, "location": "local", "checked_at": "2025-06-01T12:00:00Z", "ok": True}


def customer_of_size(size: int) -> bytes:
    """A valid customer body of exactly ``size`` bytes (padded with JSON whitespace)."""
    body = json.dumps({"slug": "acme", "name": "Acme"}).encode()
    return body[:-1] + b" " * (size - len(body)) + b"}"


def batch(count: int, row: dict[str, Any] = ROW) -> bytes:
    text = json.dumps(row, separators=(",", ":"))
    return ('{"results":[' + ",".join([text] * count) + "]}").encode()


class Stream:
    """A request body sent chunked (no Content-Length), counting what the app pulled."""

    def __init__(self, total: int, chunk: int = 64 * 1024) -> None:
        self.total, self.chunk, self.pulled = total, chunk, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.pulled < self.total:
            piece = b" " * min(self.chunk, self.total - self.pulled)
            self.pulled += len(piece)
            yield piece


JSON = {"Content-Type": "application/json"}


async def customers_total(api: Api) -> int:
    total: int = (await api.page("/api/v1/customers"))["total"]
    return total


@pytest.mark.parametrize("token", [ADMIN_TOKEN, None])
async def test_an_oversized_body_is_413_with_or_without_a_token(
    api: Api, token: str | None
) -> None:
    response = await api.call(
        "POST",
        "/api/v1/customers",
        content=customer_of_size(MIB + 1),
        headers=JSON,
        token=token,
        expect=413,
    )
    assert response.json() == {
        "detail": "request body too large: at most 1,048,576 bytes (1 MiB) here"
    }
    # At the cap exactly, it is an ordinary request.
    await api.call(
        "POST", "/api/v1/customers", content=customer_of_size(MIB), headers=JSON, expect=201
    )
    assert await customers_total(api) == 1


@pytest.mark.parametrize(
    ("path", "cap"), [("/api/v1/customers", MIB), ("/api/v1/results", 16 * MIB)]
)
async def test_a_chunked_body_is_counted_as_it_arrives(api: Api, path: str, cap: int) -> None:
    stream = Stream(cap + 10 * MIB)
    response = await api.call("POST", path, content=stream, headers=JSON, expect=413)
    assert "content-length" not in response.request.headers
    assert f"at most {cap:,} bytes" in response.json()["detail"]
    # Refused once past the cap: nothing more was read.
    assert cap < stream.pulled <= cap + stream.chunk
    assert await customers_total(api) == 0


async def test_results_have_their_own_larger_cap(api: Api, catalog: Catalog) -> None:
    # A batch over the catalog's cap but within the results' one is read as usual.
    big = dict(ROW, monitor_id=catalog["monitor"]["id"], error="e" * 1000, ok=False)
    rows = [dict(big, checked_at=f"2025-06-01T12:{i // 60:02}:{i % 60:02}Z") for i in range(1500)]
    body = json.dumps({"results": rows}).encode()
    assert MIB < len(body) < 16 * MIB
    await api.call("POST", "/api/v1/results", content=body, headers=JSON, expect=202)
    response = await api.call(
        "POST", "/api/v1/results", content=b" " * (16 * MIB + 1), headers=JSON, expect=413
    )
    assert response.json()["detail"].endswith("at most 16,777,216 bytes (16 MiB) here")
    stored = await api.page(f"/api/v1/monitors/{catalog['monitor']['id']}/results")
    assert stored["total"] == 1500


async def test_no_token_is_401_before_the_body_is_read(api: Api) -> None:
    response = await api.call(
        "POST",
        "/api/v1/customers",
        content=customer_of_size(MIB - 1),
        headers=JSON,
        token=None,
        expect=401,
    )
    assert response.json() == {"detail": MISSING_TOKEN}
    assert response.headers["www-authenticate"] == "Bearer"
    for path in ("/api/v1/customers", "/api/v1/results", "/api/v1/sla-policies"):
        stream = Stream(MIB - 1)
        await api.call("POST", path, content=stream, headers=JSON, token=None, expect=401)
        assert stream.pulled == 0, path
    # Not a bearer token: the same answer as get_principal's.
    for value in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "token"):
        response = await api.call(
            "GET", "/api/v1/customers", token=None, headers={"Authorization": value}, expect=401
        )
        assert response.json() == {"detail": MISSING_TOKEN}, value
    # An unknown token with a body: get_principal's 401, before the body is read too.
    for path in ("/api/v1/customers", "/api/v1/monitors/1"):
        stream = Stream(MIB - 1)
        response = await api.call(
            "PATCH" if path.endswith("/1") else "POST",
            path,
            content=stream,
            headers=JSON,
            token="upt_nope",
            expect=401,
        )
        assert response.json() == {"detail": "unknown or revoked token"}
        assert stream.pulled == 0, path
    await api.call(
        "GET", "/api/v1/customers", token=None, headers={"Authorization": "bearer test-admin-token"}
    )
    assert await customers_total(api) == 0


async def test_a_known_token_is_still_checked_for_its_scope(api: Api, db_url: str) -> None:
    billing = await make_key(db_url, "billing")
    body = customer_of_size(1000)
    await api.call(
        "POST", "/api/v1/customers", content=body, headers=JSON, token=billing, expect=403
    )
    await api.call("POST", "/api/v1/customers", content=body, headers=JSON, expect=201)


async def test_public_paths_need_no_token(api: Api) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"):
        await api.call("GET", path, token=None, expect=200)
    # A heartbeat is found by the token in its path (unknown here: 404, not 401).
    await api.call("POST", "/heartbeat/no-such-token", token=None, content=b"x" * 1000, expect=404)
    await api.call("GET", "/heartbeat/no-such-token", token=None, expect=404)


def test_every_api_v1_operation_needs_a_token_and_no_other_does() -> None:
    """The middleware's 401 is for exactly the operations that call get_principal (the
    ones OpenAPI lists with the bearer scheme): nothing public is under /api/v1 but the
    status pages' JSON (``PUBLIC_PREFIXES``), which decides for itself (a private page
    is a 404 without the customer's key or a signed link)."""
    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:"))
    paths = app.openapi()["paths"]
    assert "/api/v1/results" in paths and "/healthz" in paths
    for path, operations in paths.items():
        for method, operation in operations.items():
            secured = operation.get("security") == [{"HTTPBearer": []}]
            protected = path.startswith("/api/v1/") and not path.startswith(PUBLIC_PREFIXES)
            assert secured == protected, (method, path)


def test_the_caps_are_settings() -> None:
    assert Settings().max_body_bytes == MIB
    assert Settings().max_results_body_bytes == 16 * MIB


async def test_a_configured_cap_applies(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPTALLY_MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("UPTALLY_MAX_RESULTS_BODY_BYTES", "4096")
    configured = Settings(
        **settings.model_dump(exclude={"max_body_bytes", "max_results_body_bytes"})
    )
    assert (configured.max_body_bytes, configured.max_results_body_bytes) == (2048, 4096)
    application = create_app(configured)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(application.router.lifespan_context(application))
        api = await stack.enter_async_context(asgi_api(application))
        await api.call(
            "POST", "/api/v1/customers", content=customer_of_size(2048), headers=JSON, expect=201
        )
        response = await api.call(
            "POST", "/api/v1/customers", content=customer_of_size(2049), headers=JSON, expect=413
        )
        assert "2,048 bytes (2 KiB)" in response.json()["detail"]
        await api.call("POST", "/api/v1/results", content=batch(40), headers=JSON, expect=422)
        await api.call("POST", "/api/v1/results", content=batch(60), headers=JSON, expect=413)


class CountedRow(ResultRow):
    """ResultRow, counting how many rows were validated."""

    validated: ClassVar[int] = 0

    @model_validator(mode="before")
    @classmethod
    def count(cls, data: Any) -> Any:
        CountedRow.validated += 1
        return data


class CountedBatch(ResultBatch):
    results: list[CountedRow] = Field(min_length=1, max_length=10_000)  # type: ignore[assignment]


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> type[CountedRow]:
    """The results endpoint validating with CountedBatch."""
    CountedRow.validated = 0
    monkeypatch.setattr(results_api, "ResultBatch", CountedBatch)
    return CountedRow


async def test_a_batch_over_10000_rows_is_refused_before_any_row_is_validated(
    api: Api, catalog: Catalog, counted: type[CountedRow]
) -> None:
    assert results_api.MAX_ROWS == 10_000
    monitor = catalog["monitor"]["id"]
    row = dict(ROW, monitor_id=monitor)
    # The counter counts: three rows, three validations.
    await api.call("POST", "/api/v1/results", content=batch(3, row), headers=JSON, expect=202)
    assert counted.validated == 3
    counted.validated = 0
    for rows in (10_001, 200_000):  # 200,000 tiny rows are 16.4 MB: under the cap
        response = await api.call(
            "POST", "/api/v1/results", content=batch(rows, row), headers=JSON, expect=422
        )
        assert response.json() == {
            "detail": [
                {
                    "type": "too_long",
                    "loc": ["body", "results"],
                    "msg": f"a batch holds at most 10,000 results, this one {rows:,}: "
                    "send them in smaller batches",
                }
            ]
        }
        assert counted.validated == 0, rows
    stored = await api.page(f"/api/v1/monitors/{monitor}/results")
    assert stored["total"] == 1  # the three rows were one result, sent three times


async def test_a_batch_of_10000_rows_is_validated_and_stored(
    api: Api, catalog: Catalog, counted: type[CountedRow]
) -> None:
    monitor = catalog["monitor"]["id"]
    start = datetime(2025, 6, 1, tzinfo=UTC)
    rows = [
        dict(ROW, monitor_id=monitor, checked_at=(start + timedelta(minutes=i)).isoformat())
        for i in range(10_000)
    ]
    response = await api.call(
        "POST", "/api/v1/results", content=json.dumps({"results": rows}), headers=JSON, expect=202
    )
    assert response.json() == {"accepted": 10_000}
    assert counted.validated == 10_000
