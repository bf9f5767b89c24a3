"""The agent's two calls to the server, and their wire format: read the location's
assignment (every page, with ETag) and push a batch of results. Deciding what to keep,
drop or retry after a push is the runner's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import httpx

from app.monitoring.checks import ResultIn
from app.sla.periods import utc_text
from probes.result import clean_message

ASSIGNMENT_READS = 3  # tries at reading every page of one version of the assignment
# Monitors per page: the server's largest (fewer round trips; a page of 10,000 is about
# 2.5 MB of JSON, parsed in a few tens of milliseconds).
PAGE = 10_000


class AssignmentRefused(Exception):
    """The server answered the assignment request with an error (or changed it on every
    try while it was being read)."""


class ServerClient:
    """An HTTP client for one server and agent key."""

    def __init__(
        self, server: str, token: str, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.http = httpx.AsyncClient(
            base_url=server.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            transport=transport,
        )
        # Phase timings and certificate expiry go along until the server turns out to
        # be one that does not know them (older than this agent).
        self.extras = True

    async def assignment(
        self, location: str, etag: str | None, shard: tuple[int, int] = (0, 1)
    ) -> tuple[list[dict[str, Any]], str | None] | None:
        """The location's monitors (``GET /api/v1/agent/monitors``, every page; of
        ``shard`` only, K/N, when N > 1: the server filters) and the list's ETag; None
        if ``etag`` is still current. Raises ``httpx.HTTPError`` when the server cannot
        be asked, ``AssignmentRefused`` when it says no.

        The ETag names the version of the whole list, the same on every page: a page
        with another one means the list changed while it was read, so reading starts
        over.
        """
        params: dict[str, Any] = {"location": location, "limit": PAGE}
        if shard[1] > 1:
            params["shard"] = f"{shard[0]}/{shard[1]}"
        for _ in range(ASSIGNMENT_READS):
            items: list[dict[str, Any]] = []
            first: str | None = None
            while True:
                headers = {"If-None-Match": etag} if etag and not items else {}
                response = await self.http.get(
                    "/api/v1/agent/monitors",
                    params={**params, "offset": len(items)},
                    headers=headers,
                )
                if response.status_code == 304 and not items:
                    return None
                if response.status_code != 200:
                    raise AssignmentRefused(f"{response.status_code} {response.text[:200]}")
                page = response.json()
                if items and response.headers.get("etag") != first:
                    break  # changed while being read: start over
                first = response.headers.get("etag")
                items.extend(page["items"])
                if not page["items"] or len(items) >= page["total"]:
                    return items, first
        raise AssignmentRefused(f"the assignment changed on each of {ASSIGNMENT_READS} reads")

    async def push(self, rows: Sequence[ResultIn]) -> httpx.Response:
        """``POST /api/v1/results`` with the rows, in order. A server older than this
        agent refuses the fields only /metrics uses (``EXTRAS``): then the batch goes
        again without them, and so does every later one, rather than having its rows
        refused (and dropped)."""
        response = await self.http.post(
            "/api/v1/results", json=results_body(rows, extras=self.extras)
        )
        if self.extras and response.status_code == 422 and refuses_extras(response):
            self.extras = False
            response = await self.http.post("/api/v1/results", json=results_body(rows, False))
        return response

    async def aclose(self) -> None:
        await self.http.aclose()


EXTRAS = ("timings", "cert_expires_at")  # result fields for /metrics, not stored


def results_body(rows: Sequence[ResultIn], extras: bool = True) -> dict[str, Any]:
    """The request body: unset fields left out, instants as RFC 3339 text, and the
    error and warning cleaned (``clean_message``): a row buffered with a NUL or a lone
    surrogate is sent as one the server accepts, instead of being refused forever (or
    failing to encode) at the head of the buffer. Without ``extras``, no ``EXTRAS``."""
    body = []
    for row in rows:
        item = {k: v for k, v in asdict(row).items() if v is not None}
        item["checked_at"] = utc_text(row.checked_at)
        for name, text in (("error", row.error), ("warning", row.warning)):
            if text is not None:
                item[name] = clean_message(text)
        if not extras:
            for name in EXTRAS:
                item.pop(name, None)
        elif row.cert_expires_at is not None:
            item["cert_expires_at"] = utc_text(row.cert_expires_at)
        body.append(item)
    return {"results": body}


def refuses_extras(response: httpx.Response) -> bool:
    """Whether a 422 refuses the batch only for ``EXTRAS`` fields it does not know."""
    try:
        errors = response.json()["detail"]
        return bool(errors) and all(
            error["type"] == "extra_forbidden" and error["loc"][-1] in EXTRAS for error in errors
        )
    except (ValueError, KeyError, TypeError, IndexError):
        return False


def refused_rows(body: Any, size: int) -> list[int]:
    """The rows of a batch of ``size`` that a 422 names (each error's ``loc`` = body,
    results, index, ...), in order and once each; empty when it names none (the batch
    as a whole is refused, or the answer is not the API's 422)."""
    rows: set[int] = set()
    try:
        for error in body["detail"]:
            loc = error["loc"]
            if len(loc) >= 3 and loc[0] == "body" and loc[1] == "results":
                index = loc[2]
                if isinstance(index, int) and 0 <= index < size:
                    rows.add(index)
    except (KeyError, TypeError):
        return []
    return sorted(rows)
