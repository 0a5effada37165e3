"""The `make run` demo: a workspace, a publishable key for the demo page's origin and three
documents, created once and reused on later runs."""

from __future__ import annotations

from pathlib import Path

import redis.asyncio as aioredis

from app.admin import DEMO_DOCUMENTS
from app.config import RedisSettings, Settings
from app.devstack import demo
from tests.support.factories import Factory


async def test_the_demo_is_seeded_once_and_reused(
    settings: Settings, tmp_path: Path, factory: Factory
) -> None:
    # Its own Redis database, so the queued ingestion jobs reach no other test's workers.
    url = settings.redis.url.rsplit("/", 1)[0] + "/7"
    local = settings.model_copy(update={"data_dir": str(tmp_path), "redis": RedisSettings(url=url)})
    origin = "http://127.0.0.1:8001"
    key = await demo.seed(local, origin)
    assert key.startswith("pk_")
    assert await demo.seed(local, origin) == key  # the second run reuses it
    page = demo.render("http://127.0.0.1:8000", key, origin).decode()
    assert f'data-parley-key="{key}"' in page and 'integrity="sha384-' in page

    owner = await factory.gql.op(
        "LogIn", {"input": {"email": demo.DEMO_EMAIL, "password": demo.DEMO_PASSWORD}}
    )
    token = owner.data["logIn"]["accessToken"]
    viewer = (await factory.gql.as_(token).op("Viewer")).data["viewer"]
    workspaces = [e["node"] for e in viewer["workspaces"]["edges"]]
    assert [w["slug"] for w in workspaces] == [demo.DEMO_SLUG]
    owned = factory.gql.as_(token, workspaces[0]["id"])
    documents = (await owned.op("Documents")).data["documents"]["edges"]
    assert sorted(d["node"]["sourceUrl"] for d in documents) == sorted(
        url for _, url, _ in DEMO_DOCUMENTS
    )
    client = aioredis.from_url(url)
    try:
        assert await client.dbsize() > 0  # their ingestion jobs were enqueued
        await client.flushdb()
    finally:
        await client.aclose()

    # A new origin (another --demo-port) gets a key of its own.
    moved = await demo.seed(local, "http://127.0.0.1:8002")
    assert moved != key
