"""The front door: ``GET /`` and ``/docs``, whose Swagger UI comes from the app itself
(packaged files), so it renders on a network without internet access."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.conftest import Api
from tests.e2e_server import running_server
from tests.status.browser import rendered_dom

# Chromium with no way out but loopback: names do not resolve and anything else goes to
# a proxy that does not exist.
OFFLINE = (
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9",
    "--virtual-time-budget=15000",  # let Swagger UI fetch the schema and render
)


async def test_the_docs_page_loads_nothing_from_elsewhere(api: Api) -> None:
    page = await api.call("GET", "/docs", token=None, expect=200)
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    urls += re.findall(r"""url: ?["']([^"']+)["']""", page.text)
    assert urls and all(url.startswith("/") for url in urls), urls
    for url in urls:
        if url.startswith("/docs/assets/"):
            asset = await api.call("GET", url, token=None, expect=200)
            assert len(asset.content) > 100
    await api.call("GET", "/redoc", token=None, expect=404)  # ReDoc would need a CDN


async def test_the_index_links_docs_health_metrics_and_status_pages(api: Api) -> None:
    page = await api.call("GET", "/", token=None, expect=200)
    assert page.headers["content-type"].startswith("text/html")
    links = set(re.findall(r'href="([^"]+)"', page.text))
    assert {"/docs", "/openapi.json", "/healthz", "/readyz", "/metrics"} <= links
    for link in links:
        await api.call("GET", link, token=None, expect=200)
    found = await api.call("GET", "/status?customer=acme", token=None, expect=303)
    assert found.headers["location"] == "/status/acme"
    await api.call("GET", "/status?customer=../etc", token=None, expect=400)


@pytest.mark.e2e
def test_swagger_ui_renders_the_api_in_chromium_with_no_network(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path}/docs.db"
    with running_server(database, tmp_path, env={"UPTALLY_SCHEDULER_ENABLED": "false"}) as server:
        assert httpx.get(f"{server.url}/docs").status_code == 200
        dom = rendered_dom(f"{server.url}/docs", *OFFLINE)
    # Swagger UI ran (its script and stylesheet came from the app) and rendered the
    # schema it fetched: the title and the operations, keys among them.
    assert 'class="swagger-ui' in dom, dom[:2000]
    assert re.search(r'<h1 class="title">\s*Uptally', dom), dom[:3000]
    assert dom.count("opblock-summary-path") > 50  # every operation
    assert "/api/v1/keys" in dom and "/api/v1/monitors" in dom
    assert "Failed to load API definition" not in dom
