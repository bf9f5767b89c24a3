"""Agents' assignments (``GET /api/v1/agent/monitors``) against the real app on a real
database: the shard filter, a version that names the catalog without reading the list,
and a list built once per version however many agents poll."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import Monitor
from app.monitoring.assignments import (
    FIELDS,
    MAX_VIEWS,
    Assignment,
    AssignmentCache,
    catalog_version,
    edit_stamp,
)
from app.schemas.monitors import MonitorRead
from tests.conftest import Api
from tests.helpers import Catalog, make_monitor

PATH = "/api/v1/agent/monitors"


async def fra_monitors(api: Api, catalog: Catalog, count: int) -> list[int]:
    return [
        (
            await make_monitor(
                api,
                catalog["service"]["id"],
                f"db{n}.acme.example:5432",
                kind="tcp",
                name=f"db{n}",
                locations=["fra", "nyc"],
            )
        )["id"]
        for n in range(count)
    ]


def cache(app: Any) -> AssignmentCache:
    assignments: AssignmentCache = app.state.runtime.assignments
    return assignments


async def etag(api: Api, query: str = "location=fra") -> str:
    response = await api.call("GET", f"{PATH}?{query}", expect=200)
    return response.headers["etag"]


def test_the_cached_items_have_exactly_the_fields_of_monitor_read() -> None:
    assert (*FIELDS, "heartbeat_url") == tuple(MonitorRead.model_fields)


async def test_a_shard_lists_the_monitors_whose_id_modulo_n_is_k(
    api: Api, catalog: Catalog
) -> None:
    ids = await fra_monitors(api, catalog, 5)
    everything = await api.page(f"{PATH}?location=fra")
    assert [m["id"] for m in everything["items"]] == ids
    for index in (0, 1, 2):
        page = await api.page(f"{PATH}?location=fra&shard={index}/3")
        assert [m["id"] for m in page["items"]] == [i for i in ids if i % 3 == index]
        assert page["total"] == len(page["items"])
    # Each view has its own ETag: an agent moved to another shard reads its list anew.
    assert await etag(api, "location=fra&shard=0/2") != await etag(api, "location=fra&shard=1/2")


@pytest.mark.parametrize("shard", ["2/2", "0/0", "1", "a/b", "-1/2", "0/10001", "1/2/3", ""])
async def test_a_bad_shard_is_a_422_naming_the_parameter(api: Api, shard: str) -> None:
    response = await api.call("GET", f"{PATH}?location=fra&shard={shard}", expect=422)
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", "shard"], error


async def test_items_are_what_the_monitor_api_shows(api: Api, catalog: Catalog) -> None:
    await fra_monitors(api, catalog, 1)
    beat = await make_monitor(
        api, catalog["service"]["id"], "", kind="heartbeat", name="cron", locations=["fra"]
    )
    items = await api.items(f"{PATH}?location=fra")
    for item in items:
        shown = (await api.call("GET", f"/api/v1/monitors/{item['id']}", expect=200)).json()
        assert item == {name: shown[name] for name in MonitorRead.model_fields}
    assert items[-1]["heartbeat_url"] == beat["heartbeat_url"]


async def test_a_304_reads_the_version_only_and_builds_nothing(
    api: Api, app: Any, catalog: Catalog
) -> None:
    await fra_monitors(api, catalog, 3)
    first = await api.call("GET", f"{PATH}?location=fra&limit=2", expect=200)
    built = cache(app).builds
    # The second page comes from the same build, with the same ETag.
    second = await api.call("GET", f"{PATH}?location=fra&limit=2&offset=2", expect=200)
    assert second.headers["etag"] == first.headers["etag"]
    assert len(second.json()["items"]) == 1
    cache(app).version_ttl = 0  # every request reads the version
    reads = cache(app).version_reads
    for _ in range(3):
        again = await api.call(
            "GET", f"{PATH}?location=fra", headers={"If-None-Match": first.headers["etag"]}
        )
        assert again.status_code == 304
    assert cache(app).builds == built
    assert cache(app).version_reads == reads + 3


async def test_the_version_is_read_once_per_ttl_and_at_once_after_a_local_change(
    api: Api, app: Any, catalog: Catalog, sessions: async_sessionmaker[AsyncSession]
) -> None:
    ids = await fra_monitors(api, catalog, 2)
    now = [1000.0]
    cache(app).clock = lambda: now[0]
    tag = await etag(api)
    reads = cache(app).version_reads
    for offset in (0, 1):  # the pages of one poll, and another agent's poll
        await api.call("GET", f"{PATH}?location=fra&limit=1&offset={offset}", expect=200)
    assert await etag(api) == tag
    assert cache(app).version_reads == reads
    # Changed through this process: seen at once.
    await api.call("PATCH", f"/api/v1/monitors/{ids[0]}", json={"name": "renamed"}, expect=200)
    tag = await etag(api)
    assert cache(app).version_reads == reads + 1
    # Changed by another process (here: straight in the database): seen once the
    # version read is older than the ttl.
    async with sessions() as session:
        await session.execute(
            update(Monitor).where(Monitor.id == ids[1]).values(updated_at=edit_stamp())
        )
        await session.commit()
    assert await etag(api) == tag
    now[0] += cache(app).version_ttl
    assert await etag(api) != tag


async def test_agents_polling_together_after_a_change_share_one_build(
    api: Api, app: Any, catalog: Catalog
) -> None:
    ids = await fra_monitors(api, catalog, 3)
    await etag(api)
    built = cache(app).builds
    await api.call("PATCH", f"/api/v1/monitors/{ids[0]}", json={"name": "renamed"}, expect=200)
    pages = await asyncio.gather(*(api.page(f"{PATH}?location=fra") for _ in range(6)))
    assert {page["items"][0]["name"] for page in pages} == {"renamed"}
    assert cache(app).builds == built + 1


async def test_the_version_changes_on_create_edit_disable_and_delete(
    api: Api, catalog: Catalog, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async def version() -> str:
        async with sessions() as session:
            return await catalog_version(session)

    seen = [await version(), await etag(api)]

    async def changed() -> None:
        now = [await version(), await etag(api)]
        assert now[0] != seen[0] and now[1] != seen[1], (seen, now)
        seen[:] = now

    [monitor] = await fra_monitors(api, catalog, 1)
    await changed()
    path = f"/api/v1/monitors/{monitor}"
    await api.call("PATCH", path, json={"target": "db9.acme.example:5432"}, expect=200)
    await changed()
    await api.call("PATCH", path, json={"enabled": False}, expect=200)
    await changed()
    assert monitor not in [m["id"] for m in await api.items(f"{PATH}?location=fra")]
    await api.call("PATCH", path, json={"enabled": True}, expect=200)
    await changed()
    await api.call("DELETE", path, expect=204)
    await changed()
    assert seen[0] == await version()  # and nothing else moves it


async def test_an_edit_stamped_before_the_latest_one_still_changes_the_version(
    api: Api, app: Any, catalog: Catalog, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Another process's clock, or an ``uptally apply`` that commits long after it
    started, stamps an edit earlier than the latest: a version made of the latest
    ``updated_at`` would miss it, and agents would probe the old target for good."""
    first, latest = await fra_monitors(api, catalog, 2)
    async with sessions() as session:
        before = await catalog_version(session)
        stamp = (await session.get_one(Monitor, first)).updated_at
        await session.execute(
            update(Monitor)
            .where(Monitor.id == first)
            .values(target="moved.acme.example:5432", updated_at=stamp + timedelta(milliseconds=1))
        )
        await session.commit()
        assert await catalog_version(session) != before
    cache(app).version_ttl = 0  # another process's change: seen at the next read
    items = await api.items(f"{PATH}?location=fra")
    assert items[0]["target"] == "moved.acme.example:5432"
    assert [m["id"] for m in items] == [first, latest]


def test_shard_views_are_right_and_a_bounded_number_is_kept() -> None:
    built = Assignment(list(range(1, 101)), [str(i).encode() for i in range(1, 101)])
    for count in range(1, 20):
        for index in range(count):
            view = built.view((index, count))
            assert view == [str(i).encode() for i in range(1, 101) if i % count == index]
    assert len(built._shards) <= MAX_VIEWS
