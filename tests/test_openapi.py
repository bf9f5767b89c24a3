"""The OpenAPI document lists every error an operation may answer (issue 8: schemathesis
against a real server, tests/test_e2e_schemathesis.py, holds the server to it), and the
errors it found are gone: a 405's ``Allow`` names every method of the path, and a body
that is not UTF-8 is a 422 like any other body that is not JSON."""

from __future__ import annotations

from typing import Any

import pytest

from app.api.limits import PUBLIC_PREFIXES
from app.config import Settings
from app.main import create_app
from tests.conftest import Api

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('openapi') / 'u.db'}"
    document: dict[str, Any] = create_app(Settings(database_url=url)).openapi()
    return document


def operations(openapi: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in openapi["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_every_api_operation_documents_its_errors(openapi: dict[str, Any]) -> None:
    api = [op for op in operations(openapi) if op[0].startswith("/api/v1/")]
    assert len(api) >= 30
    for path, method, operation in api:
        responses = operation["responses"]
        where = f"{method.upper()} {path}"
        # A public path under /api/v1 (a status page's JSON) asks for no token.
        public = path.startswith(PUBLIC_PREFIXES)
        for code in ("422", "503") if public else ("401", "403", "422", "503"):
            assert code in responses, f"{where} does not document {code}"
        if "{" in path and path.split("{")[1].split("}")[0].endswith("id"):
            assert "404" in responses, f"{where} does not document 404"
        if "requestBody" in operation:
            assert "413" in responses, f"{where} does not document 413"
        if method == "delete" or (method in ("post", "patch") and "/results" not in path):
            assert "409" in responses, f"{where} does not document 409"


def test_errors_are_documented_in_the_shape_the_api_answers(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]

    def schema(operation: dict[str, Any], code: str) -> dict[str, Any]:
        ref = operation["responses"][code]["content"]["application/json"]["schema"]["$ref"]
        resolved: dict[str, Any] = schemas[ref.rsplit("/", 1)[1]]
        return resolved

    for path, _, operation in operations(openapi):
        for code in ("401", "403", "404", "409", "413", "503"):
            if code in operation["responses"] and path.startswith("/api/v1/"):
                assert schema(operation, code)["properties"]["detail"]["type"] == "string"
        if "422" in operation["responses"]:
            detail = schema(operation, "422")["properties"]["detail"]
            assert detail["type"] == "array", path
            item = schemas[detail["items"]["$ref"].rsplit("/", 1)[1]]
            assert set(item["required"]) == {"type", "loc", "msg"}


def test_query_rules_are_documented(openapi: dict[str, Any]) -> None:
    """Bounds and patterns sit in the document, not only in the handlers."""

    def parameter(path: str, name: str, method: str = "get") -> dict[str, Any]:
        for p in openapi["paths"][path][method]["parameters"]:
            if p["name"] == name:
                schema: dict[str, Any] = p["schema"]
                return schema
        raise AssertionError(f"{path} has no parameter {name}")

    limit = parameter("/api/v1/monitors", "limit")
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 1000, 100)
    assert parameter("/api/v1/monitors", "offset")["minimum"] == 0
    assert parameter("/api/v1/agent/monitors", "limit")["maximum"] == 10_000
    for path, where in (
        ("/api/v1/credits", "get"),
        ("/api/v1/services/{service_id}/sla", "get"),
        ("/api/v1/months/{month}/close", "post"),
    ):
        assert "pattern" in parameter(path, "month", where), path
    assert parameter("/api/v1/monitors/{monitor_id}", "monitor_id")["minimum"] == 1
    metrics = openapi["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert "text/plain" in metrics


async def test_a_405_allows_every_method_of_the_path(api: Api) -> None:
    """Schemathesis: ``OPTIONS /heartbeat/{token}`` answered ``Allow: GET`` (the path's
    GET and POST are two routes, and the router named the first one's methods)."""
    for path, allowed in (
        ("/heartbeat/abc", "GET, POST"),
        ("/api/v1/customers", "GET, POST"),
        ("/api/v1/customers/1", "DELETE, GET, PATCH"),
    ):
        response = await api.call("OPTIONS", path, expect=405)
        assert response.headers["allow"] == allowed, path
        assert response.json() == {"detail": "Method Not Allowed"}


async def test_a_body_that_is_not_utf8_is_a_422(api: Api) -> None:
    """Schemathesis: such a body got FastAPI's 400 "There was an error parsing the body",
    a status no operation documents and not the API's 422 shape."""
    response = await api.call(
        "POST",
        "/api/v1/customers",
        content=b'\x1aC=\xc8\xab\xff"',
        headers={"Content-Type": "application/json"},
        expect=422,
    )
    assert response.json()["detail"][0]["loc"] == ["body"]
    assert response.json()["detail"][0]["type"] == "json_invalid"
    await api.call("GET", "/api/v1/customers", expect=200)


@pytest.mark.parametrize("moment", [0, 1_750_000_000, "1750000000", 1.5])
async def test_an_instant_given_as_a_number_is_a_422(
    api: Api, catalog: dict[str, Any], moment: Any
) -> None:
    """Schemathesis: ``"starts_at": 0`` was read as epoch seconds and stored (1970), where
    the document says an instant is a date-time string."""
    window = {
        "service_id": catalog["service"]["id"],
        "title": "upgrade",
        "starts_at": moment,
        "ends_at": "2030-01-01T00:00:00Z",
    }
    response = await api.call("POST", "/api/v1/maintenance-windows", json=window, expect=422)
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "starts_at"]]
    assert await api.items("/api/v1/maintenance-windows") == []
