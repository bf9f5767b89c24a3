from tests.conftest import Api


async def test_healthz_answers_without_a_token(api: Api) -> None:
    response = await api.call("GET", "/healthz", token=None, expect=200)
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_the_database_reachable(api: Api) -> None:
    response = await api.call("GET", "/readyz", token=None, expect=200)
    assert response.json()["database"] == "ok"


async def test_openapi_schema_documents_the_admin_api(api: Api) -> None:
    schema = (await api.call("GET", "/openapi.json", token=None, expect=200)).json()
    for path in (
        "/api/v1/customers",
        "/api/v1/sla-policies",
        "/api/v1/services",
        "/api/v1/monitors",
        "/api/v1/maintenance-windows",
    ):
        assert path in schema["paths"]


async def test_the_results_body_schema_resolves_inside_the_openapi_document(api: Api) -> None:
    schema = (await api.call("GET", "/openapi.json", token=None, expect=200)).json()
    body = schema["paths"]["/api/v1/results"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]
    assert "$ref" not in str(body) and "$defs" not in str(body)
    row = body["properties"]["results"]["items"]
    assert set(row["required"]) == {"monitor_id", "location", "checked_at", "ok"}
