"""Customers' views: the status page, its JSON twin and Atom feed, and badges
(API_CONTRACT.md, "Customers' views"). No token, unless the customer made its page
private: then the customer's key (or an admin's) or a signed link (``?token=``, made by
``uptally status-link``) is needed, and anything else is a 404, as if the page did
not exist."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import get_runtime
from app.api.errors import error_responses
from app.auth import Scope, authenticate
from app.reporting.compute import compute_windows
from app.reporting.load import load_services
from app.schemas.common import SLUG_RE
from app.schemas.status import StatusPage
from app.sla.periods import from_epoch
from app.status import badges, links
from app.status.days import last_days
from app.status.document import (
    CustomerRef,
    find_customer,
    percent,
    status_document,
    uptime_decimal,
)
from app.status.render import render_feed, render_page

router = APIRouter(tags=["status pages"])

SlugPath = Annotated[str, Path(pattern=SLUG_RE, max_length=63)]
LinkToken = Annotated[
    str | None,
    Query(max_length=200, description="a signed link's token, for a private page"),
]
NOT_FOUND = error_responses(404, 503)


def _missing(slug: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no status page {slug!r}")


class View:
    """One request for a customer's view. Its database session is opened only when
    something must be computed or a key checked: a warm page or badge is served from
    the cache without one. (No FastAPI dependencies here either, for the same reason:
    these are the hottest paths the server has.)"""

    def __init__(self, request: Request, token: str | None) -> None:
        self.request = request
        self.runtime = get_runtime(request)
        self.token = token
        self._session: AsyncSession | None = None

    async def session(self) -> AsyncSession:
        if self._session is None:
            self._session = self.runtime.sessions()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def customer(self, slug: str) -> CustomerRef:
        """The customer whose page this is, if the caller may see it; else a 404 (a
        private page is not told apart from a missing one)."""
        runtime = self.runtime
        key = ("customer", slug)
        customer: CustomerRef | None = runtime.status.get(key)
        if customer is None:
            customer = await find_customer(await self.session(), slug)
            if customer is None:
                raise _missing(slug)
            runtime.status.put(key, customer)
        if not customer.private:
            return customer
        secret = runtime.settings.secret_key
        if self.token is not None and links.verify(
            secret.get_secret_value() if secret else None, slug, self.token, int(runtime.clock())
        ):
            return customer
        scheme, _, credentials = self.request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and credentials:
            admin = runtime.settings.admin_token
            who = await authenticate(
                await self.session(),
                credentials.strip(),
                admin.get_secret_value() if admin else None,
            )
            if who is not None and (
                who.scope is Scope.ADMIN
                or (who.scope is Scope.CUSTOMER and who.customer_id == customer.id)
            ):
                return customer
        raise _missing(slug)

    async def document(self, customer: CustomerRef) -> dict[str, Any]:
        runtime = self.runtime
        key = ("document", customer.id)
        document: dict[str, Any] | None = runtime.status.get(key)
        if document is None:
            document = await status_document(
                await self.session(),
                customer,
                int(runtime.clock()),
                runtime.figures,
                runtime.status.memo,
            )
            runtime.status.put(key, document)
        return document

    def cache_headers(self, customer: CustomerRef) -> dict[str, str]:
        visibility = "private" if customer.private else "public"
        age = int(self.runtime.settings.status_max_age_seconds)
        return {"Cache-Control": f"{visibility}, max-age={age}"}

    async def rendered(
        self,
        customer: CustomerRef,
        variant: tuple[str, str | None],
        render: Callable[[dict[str, Any]], str],
        media_type: str,
    ) -> Response:
        """A rendering of the customer's document, kept (plain and gzipped) as long as
        a document is: a warm page costs a dictionary look-up, not a template over
        4,500 bars, and its 500 kB travel as 30."""
        key = ("rendered", customer.id, *variant)
        bodies: tuple[bytes, bytes] | None = self.runtime.status.get(key)
        if bodies is None:
            plain = render(await self.document(customer)).encode()
            bodies = (plain, gzip.compress(plain, compresslevel=6, mtime=0))
            self.runtime.status.put(key, bodies)
        headers = {**self.cache_headers(customer), "Vary": "Accept-Encoding"}
        if "gzip" in self.request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return Response(bodies[1], media_type=media_type, headers=headers)
        return Response(bodies[0], media_type=media_type, headers=headers)

    async def badge(
        self,
        slug: str,
        service_slug: str,
        kind: str,
        build: Callable[[CustomerRef, dict[str, Any]], Coroutine[Any, Any, str]],
    ) -> Response:
        customer = await self.customer(slug)
        key = ("badge", customer.id, service_slug, kind)
        svg: str | None = self.runtime.status.get(key)
        if svg is None:
            document = await self.document(customer)
            entry = next((e for e in document["services"] if e["slug"] == service_slug), None)
            if entry is None:
                raise HTTPException(
                    status.HTTP_404_NOT_FOUND, f"no service {service_slug!r} on this status page"
                )
            svg = await build(customer, entry)
            self.runtime.status.put(key, svg)
        etag = '"' + hashlib.sha256(svg.encode()).hexdigest()[:32] + '"'
        headers = {**self.cache_headers(customer), "ETag": etag}
        if etag in self.request.headers.get("if-none-match", ""):
            return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
        return Response(svg, media_type="image/svg+xml; charset=utf-8", headers=headers)


@asynccontextmanager
async def view(request: Request, token: str | None) -> AsyncIterator[View]:
    current = View(request, token)
    try:
        yield current
    finally:
        await current.close()


@router.get(
    "/status/{slug}",
    responses={**NOT_FOUND, 200: {"content": {"text/html": {}}}},
    response_class=Response,
)
async def status_page(slug: SlugPath, request: Request, token: LinkToken = None) -> Response:
    """The customer's status page (HTML, no script, reloads itself). A private page
    needs ``Authorization: Bearer <the customer's key>`` or a signed link's ``token``."""
    async with view(request, token) as current:
        customer = await current.customer(slug)
        refresh = max(30, int(current.runtime.settings.status_max_age_seconds))
        return await current.rendered(
            customer,
            ("html", token),  # the page's links carry the token along
            lambda document: render_page(document, refresh_seconds=refresh, token=token),
            "text/html; charset=utf-8",
        )


@router.get(
    "/api/v1/status/{slug}",
    responses={**NOT_FOUND, 200: {"model": StatusPage}},
    response_class=Response,
)
async def status_json(slug: SlugPath, request: Request, token: LinkToken = None) -> Response:
    """The status page as JSON: ``{customer, status, services: [{slug, name, status,
    month, days}], incidents, maintenance}``; ``days`` are the last 90 calendar days
    in the customer's time zone, oldest first."""
    async with view(request, token) as current:
        customer = await current.customer(slug)
        return await current.rendered(customer, ("json", None), json.dumps, "application/json")


@router.get(
    "/status/{slug}/feed.atom",
    responses={**NOT_FOUND, 200: {"content": {"application/atom+xml": {}}}},
    response_class=Response,
)
async def status_feed(slug: SlugPath, request: Request, token: LinkToken = None) -> Response:
    """An Atom feed of outages, incidents and maintenance, newest first."""
    async with view(request, token) as current:
        customer = await current.customer(slug)
        page_url = str(request.url_for("status_page", slug=slug))
        return await current.rendered(
            customer,
            ("atom", str(request.url)),
            lambda document: render_feed(document, page_url, str(request.url)),
            "application/atom+xml; charset=utf-8",
        )


# --- badges -------------------------------------------------------------------------------

PERIOD_DAYS = {"30d": 30, "90d": 90}
LABELS = {"30d": "uptime 30d", "90d": "uptime 90d", "month": "uptime this month"}
SVG_RESPONSES: dict[int | str, dict[str, Any]] = {
    **NOT_FOUND,
    200: {"content": {"image/svg+xml": {}}},
    304: {"description": "unchanged (If-None-Match)"},
}


@router.get(
    "/badge/{slug}/{service_slug}/uptime.svg", responses=SVG_RESPONSES, response_class=Response
)
async def uptime_badge(
    slug: SlugPath,
    service_slug: SlugPath,
    request: Request,
    token: LinkToken = None,
    period: Literal["30d", "90d", "month"] = "30d",
) -> Response:
    """The service's uptime over the last 30 or 90 calendar days (today included) or
    the current month, coloured against its contract's target."""

    async def build(customer: CustomerRef, entry: dict[str, Any]) -> str:
        target = Decimal(entry["month"]["target_percent"])
        if period == "month":
            uptime = entry["month"]["uptime_percent"]
        elif period == "90d":
            uptime = entry["window"]["uptime_percent"]
        else:
            session = await current.session()
            [service] = [
                s
                for s in await load_services(session, customer_id=customer.id)
                if s.slug == service_slug
            ]
            now = int(current.runtime.clock())
            days = last_days(now, customer.timezone, PERIOD_DAYS[period])
            span = (days[0][1][0], days[-1][1][1])
            [figures] = await compute_windows(session, service, [span], from_epoch(now))
            uptime = percent(figures)
        return badges.uptime_badge(LABELS[period], uptime_decimal(uptime), target).svg()

    async with view(request, token) as current:
        return await current.badge(slug, service_slug, f"uptime-{period}", build)


@router.get(
    "/badge/{slug}/{service_slug}/status.svg", responses=SVG_RESPONSES, response_class=Response
)
async def status_badge(
    slug: SlugPath, service_slug: SlugPath, request: Request, token: LinkToken = None
) -> Response:
    """The service's current status: up, degraded, down, maintenance or no data."""

    async def build(_: CustomerRef, entry: dict[str, Any]) -> str:
        return badges.status_badge("status", entry["status"]).svg()

    async with view(request, token) as current:
        return await current.badge(slug, service_slug, "status", build)
