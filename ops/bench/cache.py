"""Benchmark of the two-level cache of hot reads (app/cache).

    .venv/bin/python ops/bench/cache.py            # starts its own PostgreSQL and Redis

Starts an embedded PostgreSQL and a private Redis in a temporary directory, runs on uvloop
like `parley api`, and prints:

1. secret-key resolution (`tenancy.apikeys.service.authenticate`, inside an open
   transaction, as a request calls it) answered by PostgreSQL (cache off), by Redis (local
   tier disabled) and by the process's own tier;
2. hit rates of two "processes" sharing Redis, resolving 1,000 keys of 100 workspaces drawn
   with a Zipf skew, measured after a warm-up as long as the measurement, at the default
   TTLs;
3. a whole HTTP request with a secret key (small query, in-process ASGI), cache on and off,
   alternating request by request, with rate limiting on (the plan is read per request)
   and off; and the SQL statements each request sends.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import random
import shutil
import signal
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from app.config import (
    AuthSettings,
    CacheSettings,
    DatabaseSettings,
    RateLimitSettings,
    RedisSettings,
    Settings,
)


def percentiles(samples: list[float]) -> str:
    """p50 / p99 of samples in seconds, printed in milliseconds."""
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return f"p50 {at(0.50):.3f} ms  p99 {at(0.99):.3f} ms"


class Bench:
    """Settings and apps on one PostgreSQL and one Redis."""

    def __init__(self, root: Path, redis_url: str, database: DatabaseSettings) -> None:
        self.root = root
        self.redis_url = redis_url
        self.database = database
        self.prefix = f"b{uuid.uuid4().hex[:6]}:"

    def settings(self, cache: CacheSettings, *, ratelimit: bool = True) -> Settings:
        """Settings of one app ("process"); all share the Redis key prefix."""
        return Settings(
            env="test",
            log_level="WARNING",
            data_dir=str(self.root / "data"),
            database=self.database,
            redis=RedisSettings(url=self.redis_url, key_prefix=self.prefix),
            auth=AuthSettings(
                jwt_secret=SecretStr("bench-" + "x" * 40),
                argon2_time_cost=1,
                argon2_memory_kib=8,
                argon2_parallelism=1,
            ),
            # The free plan's 120 requests a minute decide the budget (so the plan is read on
            # every request, through the cache), over a window long enough that the
            # benchmark's own requests are never refused.
            ratelimit=RateLimitSettings(
                enabled=ratelimit,
                window_s=600_000,
                user_per_window=10**9,
                anonymous_per_window=10**9,
            ),
            cache=cache,
        )

    @contextlib.asynccontextmanager
    async def app(self, settings: Settings) -> AsyncIterator[tuple[Any, Any]]:
        """(httpx client, AppState) of an in-process app."""
        import httpx

        from app.server import create_app
        from app.state import AppState

        state = await AppState.create(settings, with_queue=False)
        transport = httpx.ASGITransport(app=create_app(settings, state))
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                yield client, state
        finally:
            await state.close()


async def _call(client: Any, query: str, variables: dict[str, Any], **headers: str) -> Any:
    body = {"query": query, "variables": variables}
    return (await client.post("/graphql", json=body, headers=headers)).json()["data"]


async def tenant_with_keys(client: Any, name: str, keys: int) -> list[str]:
    """A new workspace and `keys` secret keys of it."""
    email = f"{name}-{uuid.uuid4().hex[:8]}@example.com"
    user = {"email": email, "password": "correct horse battery", "displayName": name}
    signed = await _call(
        client, "mutation($i: SignUpInput!) { signUp(input: $i) { accessToken } }", {"i": user}
    )
    auth = {"authorization": f"Bearer {signed['signUp']['accessToken']}"}
    ws = await _call(
        client,
        "mutation($i: CreateWorkspaceInput!) { createWorkspace(input: $i) { id } }",
        {"i": {"name": name}},
        **auth,
    )
    scoped = {**auth, "x-workspace-id": ws["createWorkspace"]["id"]}
    made = []
    for n in range(keys):
        key = await _call(
            client,
            "mutation($i: CreateSecretKeyInput!) { createSecretKey(input: $i) { key } }",
            {"i": {"name": f"k{n}"}},
            **scoped,
        )
        made.append(key["createSecretKey"]["key"])
    return made


async def resolution(state: Any, key: str, n: int, *, lookup_only: bool) -> list[float]:
    """Latency of `n` key resolutions, each in a transaction of its own that has already
    sent its first statement. `lookup_only`: the cache look-up (or, on a miss, the query)
    without the `set_tenant` statement a resolved key always costs."""
    from sqlalchemy import text

    from app.cache.commit import cache_of
    from tenancy.apikeys import cache as key_cache
    from tenancy.apikeys import repository
    from tenancy.apikeys import service as keys
    from tenancy.security import parse_scoped_token, token_hash

    workspace_id = parse_scoped_token(key, keys.SECRET_PREFIX)
    assert workspace_id is not None
    entry = key_cache.by_hash(workspace_id, token_hash(key))
    samples = []
    for _ in range(n):
        async with state.sessions() as session, session.begin():
            await session.execute(text("SELECT 1"))  # BEGIN and the pool are not measured
            cache = cache_of(session, key_cache.SPEC)
            started = time.perf_counter()
            if lookup_only:
                found: Any = await key_cache.lookup(
                    cache if state.settings.cache.enabled else None,
                    workspace_id,
                    entry,
                    lambda s=session: _load(s, repository, workspace_id, key),
                )
            else:
                found = await keys.authenticate(session, key, "secret")
            samples.append(time.perf_counter() - started)
            assert found is not None
    return samples


async def _load(session: Any, repository: Any, workspace_id: uuid.UUID, key: str) -> Any:
    from app.db.tenant import set_tenant
    from tenancy.security import token_hash

    await set_tenant(session, workspace_id)
    return await repository.find_active_key(session, workspace_id, token_hash(key))


async def bench_resolution(bench: Bench, n: int) -> None:
    """Section 1."""
    modes = {
        "PostgreSQL (cache off)": CacheSettings(enabled=False),
        "Redis tier (local tier off)": CacheSettings(local_ttl_s=0),
        "local tier": CacheSettings(local_ttl_s=3600),
    }
    async with bench.app(bench.settings(CacheSettings())) as (client, _):
        key = (await tenant_with_keys(client, "resolve", 1))[0]
    for lookup_only in (True, False):
        what = (
            "the look-up alone (a miss: set_tenant + SELECT)"
            if lookup_only
            else "authenticate() as a request calls it (a hit still sends set_tenant)"
        )
        print(f"1{'a' if lookup_only else 'b'}. secret-key resolution, {what}, {n} each:")
        for label, cache in modes.items():
            async with bench.app(bench.settings(cache)) as (_, state):
                await resolution(state, key, 200, lookup_only=lookup_only)  # warm up
                samples = await resolution(state, key, n, lookup_only=lookup_only)
                print(f"   {label:<28} {percentiles(samples)}")


async def bench_hit_rates(bench: Bench, seconds: float) -> None:
    """Section 2."""
    cache = CacheSettings()
    async with (
        bench.app(bench.settings(cache)) as (client, first),
        bench.app(bench.settings(cache)) as (_, second),
    ):
        keys: list[str] = []
        for w in range(100):
            keys += await tenant_with_keys(client, f"w{w}", 10)
        from tenancy.apikeys import service as keys_service

        weights = list(itertools.accumulate(1 / (rank + 1) ** 1.1 for rank in range(len(keys))))
        rng = random.Random(7)  # noqa: S311 - a reproducible workload, not a secret

        async def run(for_s: float) -> int:
            done = 0
            deadline = time.monotonic() + for_s
            while time.monotonic() < deadline:
                state = first if done % 2 == 0 else second
                key = rng.choices(keys, cum_weights=weights)[0]
                async with state.sessions() as session, session.begin():
                    assert await keys_service.authenticate(session, key, "secret") is not None
                done += 1
            return done

        await run(seconds)  # the same workload first, uncounted: the steady state is measured
        first.cache.stats.clear()
        second.cache.stats.clear()
        lookups = await run(seconds)
        print(
            f"2. hit rates: two processes, {len(keys)} keys of 100 workspaces (Zipf 1.1), "
            f"{lookups} resolutions in {seconds:.0f} s after as long a warm-up, "
            f"local TTL {cache.local_ttl_s} s, Redis TTL {cache.redis_ttl_s} s:"
        )
        total: Counter[str] = Counter()
        for label, state in (("process 1", first), ("process 2", second)):
            tiers = Counter({tier: n for (name, tier), n in state.cache.stats.items()})
            total.update(tiers)
            print(f"   {label}: " + _shares(tiers))
        print("   both:      " + _shares(total))


def _shares(tiers: Counter[str]) -> str:
    count = sum(tiers.values()) or 1
    return "  ".join(f"{tier} {tiers[tier] / count:.1%}" for tier in ("local", "redis", "database"))


QUERY = {"query": "query { workspace { id name } }"}


async def bench_http(bench: Bench, requests: int) -> None:
    """Section 3."""
    from sqlalchemy import event

    for ratelimit in (True, False):
        apps: dict[bool, tuple[Callable[[], Awaitable[Any]], list[int]]] = {}
        async with contextlib.AsyncExitStack() as stack:
            for enabled in (False, True):
                settings = bench.settings(CacheSettings(enabled=enabled), ratelimit=ratelimit)
                client, state = await stack.enter_async_context(bench.app(settings))
                key = (await tenant_with_keys(client, "http", 1))[0]
                headers = {"authorization": f"Bearer {key}"}
                statements: list[int] = [0]

                def count(*_: Any, statements: list[int] = statements) -> None:
                    statements[0] += 1

                event.listen(state.engine.sync_engine, "before_cursor_execute", count)

                def post(client: Any = client, headers: dict[str, str] = headers) -> Any:
                    return client.post("/graphql", json=QUERY, headers=headers)

                for _ in range(100):  # warm up
                    assert (await post()).status_code == 200
                apps[enabled] = (post, statements)
            wall: dict[bool, list[float]] = {False: [], True: []}
            sent: dict[bool, int] = {False: 0, True: 0}
            before = {enabled: apps[enabled][1][0] for enabled in apps}
            for i in range(requests):
                for enabled in (bool(i % 2), not i % 2):
                    started = time.perf_counter()
                    await apps[enabled][0]()
                    wall[enabled].append(time.perf_counter() - started)
                    sent[enabled] += 1
            per_request = {
                enabled: (apps[enabled][1][0] - before[enabled]) / sent[enabled] for enabled in apps
            }
        off, on = statistics.median(wall[False]), statistics.median(wall[True])
        limits = "on" if ratelimit else "off"
        print(
            f"3. HTTP request (secret key, small query, in-process ASGI, rate limiting "
            f"{limits}), {requests} per mode:"
        )
        print(f"   cache off: {percentiles(wall[False])}  SQL statements {per_request[False]:.2f}")
        print(f"   cache on:  {percentiles(wall[True])}  SQL statements {per_request[True]:.2f}")
        print(f"   p50 saved by the cache: {(off - on) * 1000:.3f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lookups", type=int, default=5_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--requests", type=int, default=2_000)
    args = parser.parse_args()

    from app.db.bootstrap import migrate
    from app.devstack.postgres import LocalPostgres
    from app.devstack.redis import LocalRedis

    root = Path(tempfile.mkdtemp(prefix="parley-bench-"))
    redis = LocalRedis()
    redis.start()
    pg = LocalPostgres(root / "pg", conf={"fsync": "off", "synchronous_commit": "off"})
    pg.start()
    try:
        database = DatabaseSettings(
            url=pg.url("parley_app", "parley_bench"), admin_url=pg.url("postgres", "parley_bench")
        )
        await asyncio.to_thread(migrate, database)  # runs its own event loop
        bench = Bench(root, redis.url, database)
        print(f"PostgreSQL (embedded) and Redis {redis.url} on this machine; uvloop\n")
        await bench_resolution(bench, args.lookups)
        await bench_hit_rates(bench, args.seconds)
        await bench_http(bench, args.requests)
    finally:
        pg.destroy()
        redis.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # clean up servers on kill too
    import uvloop  # the event loop `parley api` (uvicorn[standard]) runs on

    uvloop.install()
    asyncio.run(main())
