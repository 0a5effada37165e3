"""The hot-read cache across real API processes: a change made through one process is
honoured by every other within a second, although each had the old answer cached (locally
and in Redis) a moment before."""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from app.db.engine import asyncpg_dsn
from app.db.tenant import tenant_transaction
from app.graphql.node import decode_id
from app.state import AppState
from billing.subscriptions import repository as subscriptions_repo
from billing.subscriptions import service as subscriptions
from tests.support import processes
from tests.support.factories import Factory
from tests.support.graphql import GraphQL, Result
from tests.support.services import TestServices

pytestmark = pytest.mark.slow

SHOP = "https://shop.example.com"
BLOG = "https://blog.example.com"
WITHIN_S = 1.0


@contextlib.contextmanager
def two_apis(env: dict[str, str], logs: Path) -> Iterator[list[str]]:
    """Two single-process APIs on ports of their own; yields their URLs."""
    ports = [processes.free_port(), processes.free_port()]
    children = [
        processes.start(["api", "--port", str(port)], env, logs / f"api-{port}.log")
        for port in ports
    ]
    try:
        for port, child in zip(ports, children, strict=True):
            processes.wait_http(f"http://127.0.0.1:{port}/ready", 60, child)
        yield [f"http://127.0.0.1:{port}" for port in ports]
    finally:
        for child in children:
            processes.stop(child)


async def cached_lookups(client: httpx.AsyncClient, cache: str) -> float:
    """Look-ups of `cache` this process answered without PostgreSQL (its /metrics)."""
    text = (await client.get("/metrics")).text
    pattern = rf'parley_hot_cache_lookups_total\{{cache="{cache}",tier="(local|redis)"\}} (\S+)'
    return sum(float(value) for _, value in re.findall(pattern, text))


async def seen_within(
    ask: Callable[[], Awaitable[Result]], done: Callable[[Result], bool], label: str
) -> float:
    """Poll until `done(result)`; returns the seconds it took, failing after WITHIN_S."""
    started = time.monotonic()
    polls = 0
    while True:
        result = await ask()
        polls += 1
        took = time.monotonic() - started
        if done(result):
            print(
                f"\n{label}: seen by the other process after {took * 1000:.1f} ms ({polls} poll(s))"
            )
            return took
        assert took < WITHIN_S, f"{label}: still the old answer after {took:.2f} s: {result.body}"


async def test_changes_to_keys_reach_every_process_within_a_second(
    services: TestServices, settings: object, tmp_path: Path
) -> None:
    env = processes.parley_env(services)
    with two_apis(env, tmp_path) as (api_a, api_b):
        async with (
            httpx.AsyncClient(base_url=api_a, timeout=30) as client_a,
            httpx.AsyncClient(base_url=api_b, timeout=30) as client_b,
        ):
            tenant = await Factory(GraphQL(client_a)).tenant("Cached")
            secret = (
                await tenant.gql.op("CreateSecretKey", {"input": {"name": "s", "role": "ADMIN"}})
            ).data["createSecretKey"]
            public = (
                await tenant.gql.op(
                    "CreatePublishableKey",
                    {"input": {"name": "w", "allowedOrigins": [SHOP, BLOG]}},
                )
            ).data["createPublishableKey"]
            sk_a, sk_b = GraphQL(client_a, secret["key"]), GraphQL(client_b, secret["key"])
            pk_b = GraphQL(client_b, public["key"])

            # Both processes use both keys, so each holds them in its cache.
            for client in (sk_a, sk_b, sk_a, sk_b):
                assert (await client.op("CurrentWorkspace")).data["workspace"]["id"] == tenant.id
            for origin in (SHOP, BLOG, SHOP, BLOG):
                started = await pk_b.op("StartWidgetSession", origin=origin)
                assert started.data["startWidgetSession"]["config"]["title"] == "Ask us anything"
            assert await cached_lookups(client_b, "apikey") >= 3
            assert await cached_lookups(client_b, "widget") >= 1

            # The widget's title changes on A: B's visitors see it.
            await tenant.gql.op(
                "UpdateWidgetConfig",
                {"keyId": public["apiKey"]["id"], "input": {"title": "Help desk"}},
            )
            await seen_within(
                lambda: pk_b.op("StartWidgetSession", origin=SHOP),
                lambda r: r.data["startWidgetSession"]["config"]["title"] == "Help desk",
                "widget configuration changed",
            )

            # An origin is removed on A: B refuses it.
            assert (await pk_b.op("StartWidgetSession", origin=BLOG)).status == 200
            await tenant.gql.op(
                "SetAllowedOrigins", {"id": public["apiKey"]["id"], "allowedOrigins": [SHOP]}
            )
            await seen_within(
                lambda: pk_b.op("StartWidgetSession", origin=BLOG),
                lambda r: r.code == "FORBIDDEN",
                "origin removed from a publishable key",
            )

            # The secret key is revoked on A: B refuses it.
            assert (await sk_b.op("CurrentWorkspace")).status == 200
            revoked = await tenant.gql.op("RevokeApiKey", {"id": secret["apiKey"]["id"]})
            assert revoked.data["revokeApiKey"]["revokedAt"]
            took = await seen_within(
                lambda: sk_b.op("CurrentWorkspace"),
                lambda r: r.status == 401,
                "secret key revoked",
            )
            assert took < WITHIN_S

            # The publishable key is revoked on A: B refuses it.
            assert (await pk_b.op("StartWidgetSession", origin=SHOP)).status == 200
            await tenant.gql.op("RevokeApiKey", {"id": public["apiKey"]["id"]})
            took = await seen_within(
                lambda: pk_b.op("StartWidgetSession", origin=SHOP),
                lambda r: r.status == 401,
                "publishable key revoked",
            )
            assert took < WITHIN_S
            assert (await sk_a.op("CurrentWorkspace")).status == 401


async def test_a_plan_change_reaches_every_process_within_a_second(
    services: TestServices, state: AppState, tmp_path: Path
) -> None:
    """The rate limiter's budget comes from the plan, read through the cache; a subscription
    moving to another plan (committed here, by the same code a webhook job runs) shows in
    the other processes' RateLimit-Policy within a second."""
    env = processes.parley_env(services)
    with two_apis(env, tmp_path) as (api_a, api_b):
        async with (
            httpx.AsyncClient(base_url=api_a, timeout=30) as client_a,
            httpx.AsyncClient(base_url=api_b, timeout=30) as client_b,
        ):
            tenant = await Factory(GraphQL(client_a)).tenant("Planned")
            key = (await tenant.gql.op("CreateSecretKey", {"input": {"name": "s"}})).data[
                "createSecretKey"
            ]["key"]
            on_a, on_b = GraphQL(client_a, key), GraphQL(client_b, key)
            for client in (on_a, on_b, on_a, on_b):
                result = await client.op("CurrentWorkspace")
                # The free plan sells 120 API requests a minute.
                assert '"workspace";q=120;' in result.headers["ratelimit-policy"]
            assert await cached_lookups(client_b, "plan") >= 1

            plan_id = await _plan_with_api_budget(services, 500)
            workspace_id = decode_id(tenant.id, "Workspace")
            async with tenant_transaction(state.sessions, workspace_id) as session:
                current = await subscriptions_repo.get_current(session, workspace_id, lock=True)
                assert current is not None
                await subscriptions_repo.update_fields(
                    session, workspace_id, current.id, plan_id=plan_id
                )
                subscriptions.forget(session, workspace_id)
            await seen_within(
                lambda: on_b.op("CurrentWorkspace"),
                lambda r: '"workspace";q=500;' in r.headers["ratelimit-policy"],
                "plan changed",
            )
            assert (
                '"workspace";q=500;'
                in (await on_a.op("CurrentWorkspace")).headers["ratelimit-policy"]
            )


async def _plan_with_api_budget(services: TestServices, per_minute: int) -> uuid.UUID:
    """A plan version (not offered to buyers) selling `per_minute` API requests a minute,
    inserted as the database owner; every other limit unlimited."""
    conn = await asyncpg.connect(asyncpg_dsn(services.admin_url))
    try:
        plan_id = uuid.uuid4()
        await conn.execute(
            "INSERT INTO plans (id, code, version, name, price_minor, currency, billing_period, "
            "available, api_requests_per_minute) "
            "VALUES ($1, $2, 1, 'Lab', 0, 'INR', 'monthly', false, $3)",
            plan_id,
            f"lab_{plan_id.hex[:10]}",
            per_minute,
        )
    finally:
        await conn.close()
    return plan_id
