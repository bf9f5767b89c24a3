"""The front door: ``GET /`` (what this server offers, with links) and ``/docs``, the
interactive API documentation, served with the Swagger UI files of the installed
``swagger-ui-bundle-v2`` package under ``/docs/assets``: no CDN, so the page works on
a network without internet access, where monitoring servers often live.

``/redoc`` is not offered: ReDoc is not packaged, and FastAPI's loads it from a CDN.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape
from swagger_ui_bundle import swagger_ui_path

from app import __version__
from app.schemas.common import SLUG_RE

ASSETS = "/docs/assets"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"

router = APIRouter(include_in_schema=False)
_templates = Environment(
    loader=PackageLoader("app", "templates"), autoescape=select_autoescape(["html"])
)


@router.get("/", response_class=HTMLResponse)
async def index() -> HTMLResponse:
    """A page for a person who opens the server's address: the docs, health, metrics
    and how to reach a customer's status page."""
    html = _templates.get_template("index.html").render(version=__version__)
    return HTMLResponse(html, headers={"Cache-Control": "public, max-age=300"})


@router.get("/status", response_model=None)
async def find_status_page(
    customer: Annotated[str, Query(max_length=63)] = "",
) -> RedirectResponse | HTMLResponse:
    """The index page's form: ``/status?customer=acme`` -> ``/status/acme``."""
    slug = customer.strip().lower()
    if not re.fullmatch(SLUG_RE, slug):
        return HTMLResponse("<p>Give a customer's slug, e.g. <code>acme</code>.</p>", 400)
    return RedirectResponse(f"/status/{slug}", status_code=303)


@router.get("/docs", response_class=HTMLResponse)
async def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title=f"Uptally {__version__} - API",
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
        oauth2_redirect_url=OAUTH2_REDIRECT,
    )


@router.get(OAUTH2_REDIRECT, response_class=HTMLResponse)
async def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


def install(app: FastAPI) -> None:
    """Add the index, the docs and their assets to ``app`` (built with ``docs_url=None``
    and ``redoc_url=None``, so FastAPI's CDN pages are not there)."""
    app.include_router(router)
    app.mount(ASSETS, StaticFiles(directory=Path(str(swagger_ui_path))), name="docs-assets")
