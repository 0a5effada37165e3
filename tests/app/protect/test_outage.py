"""Redis stopped and restarted under a running app: ordinary calls fall back to the local
limit, widget calls refuse with 503, and everything recovers on its own."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from app.devstack.redis import LocalRedis
from tests.app.protect.conftest import MakeApp, limits
from tests.support.factories import Factory
from tests.support.graphql import operation


async def test_redis_stopped_and_restarted_mid_test(
    make_app: MakeApp, factory: Factory, tmp_path: Path
) -> None:
    redis = LocalRedis(datadir=tmp_path / "redis")
    redis.start()
    try:
        app = await make_app(
            redis_url=redis.url,
            ratelimit=limits(api_per_window=40, fallback_fraction=0.25, redis_retry_s=0.2),
        )
        tenant = await factory.tenant()
        owner = app.gql(tenant.owner.token, tenant.id)
        key = (
            await tenant.gql.op(
                "CreatePublishableKey",
                {"input": {"name": "site", "allowedOrigins": ["https://shop.example.com"]}},
            )
        ).data["createPublishableKey"]["key"]
        widget = {"authorization": f"Bearer {key}", "origin": "https://shop.example.com"}
        digest = hashlib.sha256(operation("WidgetViewer").encode()).hexdigest()
        widget_call = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}

        before = await owner.query("{ __typename }")
        assert before.headers["ratelimit"] == '"workspace";r=39;t=2'
        assert (await app.post(widget_call, **widget)).status_code == 200

        redis.stop()
        during = await owner.query("{ __typename }")
        assert during.status == 200  # reads and writes go on under the local limit
        assert during.headers["ratelimit-policy"] == '"workspace";q=10;w=60'
        refused = await app.post(widget_call, **widget)
        assert refused.status_code == 503
        assert refused.json()["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
        assert int(refused.headers["retry-after"]) >= 1
        assert "data" not in refused.json()
        # The local limit is conservative: a quarter of the budget in each process.
        statuses = [(await owner.query("{ __typename }")).status for _ in range(10)]
        assert statuses.count(429) == 1

        redis.start()
        await asyncio.sleep(0.3)  # past RATELIMIT_REDIS_RETRY_S
        after = await owner.query("{ __typename }")
        assert after.status == 200
        # Back on Redis, which kept the bucket: two points were taken before the outage.
        assert after.headers["ratelimit"].startswith('"workspace";r=37;')
        assert (await app.post(widget_call, **widget)).status_code == 200
    finally:
        redis.stop()
