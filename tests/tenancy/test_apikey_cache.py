"""API keys through the hot-read cache: isolation holds with a warm cache (and even with a
tampered Redis entry), unknown keys stay refused, and PostgreSQL answers while Redis is away."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import httpx

from app.config import CacheSettings, RedisSettings
from app.devstack.redis import LocalRedis
from app.graphql.node import decode_id
from app.server import create_app
from app.state import AppState
from tenancy.apikeys import cache as key_cache
from tests.conftest import make_settings
from tests.support.factories import Factory
from tests.support.graphql import GraphQL
from tests.support.services import TestServices


def _hash(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


async def _secret_key(tenant_gql: GraphQL) -> str:
    return (await _create_key(tenant_gql))[0]


async def _create_key(tenant_gql: GraphQL) -> tuple[str, str]:
    created = await tenant_gql.op("CreateSecretKey", {"input": {"name": "c", "role": "ADMIN"}})
    payload = created.data["createSecretKey"]
    return str(payload["key"]), str(payload["apiKey"]["id"])


async def test_a_warm_cache_never_resolves_a_key_in_another_workspace(
    gql: GraphQL, factory: Factory, state: AppState
) -> None:
    a, b = await factory.tenant("A"), await factory.tenant("B")
    key = await _secret_key(a.gql)
    for _ in range(3):  # warm: this process and Redis now hold the key
        assert (await gql.as_(key).op("CurrentWorkspace")).data["workspace"]["id"] == a.id
    ws_a, ws_b = decode_id(a.id, "Workspace"), decode_id(b.id, "Workspace")
    redis = state.cache.redis
    assert await redis.get(state.cache.redis_key("apikey", key_cache.by_hash(ws_a, _hash(key))))

    secret = key.split("_", 2)[2]
    forged = f"sk_{ws_b.hex}_{secret}"  # A's secret presented as B's key
    unknown = f"sk_{ws_a.hex}_{'x' * 43}"  # a key A never had
    for _ in range(2):  # the second time any remembered miss answers
        assert (await gql.as_(forged).op("CurrentWorkspace")).status == 401
        assert (await gql.as_(unknown).op("CurrentWorkspace")).status == 401
        assert (await gql.as_(key, b.id).op("CurrentWorkspace")).code == "FORBIDDEN"
    # Nothing was filed under B for A's secret, and misses never reach Redis.
    assert not await redis.get(
        state.cache.redis_key("apikey", key_cache.by_hash(ws_b, _hash(forged)))
    )
    assert not await redis.get(
        state.cache.redis_key("apikey", key_cache.by_hash(ws_a, _hash(unknown)))
    )
    assert (await gql.as_(key).op("CurrentWorkspace")).data["workspace"]["id"] == a.id


async def test_an_entry_filed_under_the_wrong_workspace_is_not_believed(
    gql: GraphQL, factory: Factory, state: AppState
) -> None:
    """Even a Redis entry claiming that B's key slot holds A's key (a bug, or tampering)
    does not let a B-scoped token act in A."""
    a, b = await factory.tenant("A"), await factory.tenant("B")
    key = await _secret_key(a.gql)
    assert (await gql.as_(key).op("CurrentWorkspace")).status == 200
    ws_a, ws_b = decode_id(a.id, "Workspace"), decode_id(b.id, "Workspace")
    genuine = state.cache.redis_key("apikey", key_cache.by_hash(ws_a, _hash(key)))
    entry = await state.cache.redis.get(genuine)
    assert entry is not None and str(ws_a) in entry.decode()
    forged = f"sk_{ws_b.hex}_{key.split('_', 2)[2]}"
    planted = state.cache.redis_key("apikey", key_cache.by_hash(ws_b, _hash(forged)))
    await state.cache.redis.set(planted, entry, ex=60)
    result = await gql.as_(forged).op("CurrentWorkspace")
    assert result.status == 401, result.body
    assert (await gql.as_(forged, a.id).op("CurrentWorkspace")).status == 401


async def test_keys_resolve_from_postgresql_while_redis_is_down(
    services: TestServices, settings: object
) -> None:
    redis = LocalRedis()
    redis.start()
    own = make_settings(
        services, redis=RedisSettings(url=redis.url), cache=CacheSettings(local_ttl_s=0.1)
    )
    state = await AppState.create(own, with_queue=False)
    try:
        transport = httpx.ASGITransport(app=create_app(own, state))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            gql = GraphQL(http)
            tenant = await Factory(gql).tenant("Offline")
            key, key_id = await _create_key(tenant.gql)
            assert (await gql.as_(key).op("CurrentWorkspace")).status == 200
            assert state.cache.stats[("apikey", "database")] == 1
            redis.stop()
            before = state.cache.stats[("apikey", "database")]
            for _ in range(3):
                await asyncio.sleep(0.12)  # past the local TTL: Redis would be asked
                result = await gql.as_(key).op("CurrentWorkspace")
                assert result.data["workspace"]["id"] == tenant.id
            assert state.cache.stats[("apikey", "database")] == before + 3
            # Changes still take effect at once in this process, and new keys work at once.
            fresh = await _secret_key(tenant.gql)
            assert (await gql.as_(fresh).op("CurrentWorkspace")).status == 200
            assert (await tenant.gql.op("RevokeApiKey", {"id": key_id})).data
            assert (await gql.as_(key).op("CurrentWorkspace")).status == 401
            stranger = f"sk_{uuid.uuid4().hex}_{'y' * 43}"
            assert (await gql.as_(stranger).op("CurrentWorkspace")).status == 401
    finally:
        await state.close()
        redis.stop()
