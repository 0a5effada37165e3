"""Benchmark of the rate limiter: overhead per request and decisions per second per process.

    .venv/bin/python ops/bench/ratelimit.py            # everything (starts its own servers)
    .venv/bin/python ops/bench/ratelimit.py --no-http  # limiter only: no PostgreSQL needed

Starts a private Redis (and, for the HTTP part, an embedded PostgreSQL) in a temporary
directory, runs on uvloop like `parley api`, and prints:

1. decision latency: one `RateLimiter.decide` (workspace + user buckets, one Lua call);
2. the whole guard path of a request: cost estimate + buckets + decision + headers;
3. decisions per second from one process (one event loop), many keys and one hot key;
4. decisions while Redis is stopped (in-process fallback) and the first one that notices;
5. HTTP p50 of a real request (secret key, small query, in-process ASGI) with rate limiting
   on and off, alternating request by request: the difference is the overhead a request pays;
6. a quiet tenant's latency alone and while a noisy tenant floods past its limit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

# This tree's code, not whatever the shared venv's editable install points at.
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.config import RateLimitSettings  # noqa: E402


def percentiles(samples: list[float], digits: int = 3) -> str:
    """p50 / p90 / p99 of samples in seconds, printed in milliseconds."""
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return "  ".join(f"p{q} {at(q / 100):.{digits}f} ms" for q in (50, 90, 99))


async def timed(n: int, call: Callable[[], Awaitable[Any]]) -> list[float]:
    """Latency of `n` sequential awaits of `call`."""
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


async def bench_limiter(redis_url: str, decisions: int, seconds: float, concurrency: int) -> None:
    """Sections 1-3: decision latency, the guard path, decisions per second."""
    from graphql import parse

    from app.config import ApiSettings, Settings
    from app.graphql.complexity import estimate
    from app.graphql.schema import build_schema
    from tenancy.principal import Principal, PrincipalKind, Role
    from tenancy.ratelimit.headers import rate_limit_headers
    from tenancy.ratelimit.limiter import RateLimiter
    from tenancy.ratelimit.limits import workspace_limits
    from tenancy.ratelimit.policy import PlanLimits, buckets_for

    # A long Redis budget: these figures are about Redis decisions, and on a small shared
    # machine a saturated benchmark starves Redis of CPU past the 40 ms outage threshold.
    settings = RateLimitSettings(
        api_per_window=10**9, user_per_window=10**9, redis_timeout_ms=2_000
    )
    limiter = RateLimiter(redis_url, settings, "bench:")
    plan = PlanLimits(10**9, 10**6, 4, 60)
    principal = Principal(
        kind=PrincipalKind.USER,
        user_id=uuid.uuid4(),
        workspace_id=uuid.uuid4(),
        role=Role.MEMBER,
        ip="192.0.2.1",
    )
    buckets = buckets_for(principal, plan, settings, "bench:", points=1)
    for _ in range(200):  # load the script, open the connection
        await limiter.decide(buckets)

    print(f"1. decision ({len(buckets)} buckets, one EVALSHA), {decisions} sequential:")
    print("   " + percentiles(await timed(decisions, lambda: limiter.decide(buckets))))

    schema = build_schema(Settings(env="test"))._schema
    document = parse(
        "query CurrentWorkspace($first: Int) { workspace { id name members(first: $first) "
        "{ edges { cursor node { id role user { id email } } } pageInfo { hasNextPage } } } }"
    )
    per_point = ApiSettings().cost_per_point
    workspace_id = principal.workspace_id
    assert workspace_id is not None
    plans, session = await _plan_cache(redis_url, workspace_id)
    # As in a request: the API budget from the workspace's plan, through the hot cache.
    from_plan = settings.model_copy(update={"api_per_window": None})

    async def guard_path() -> None:
        cost = estimate(schema, document, None, {"first": 20}, default_page=20, max_page=100)
        limits = await workspace_limits(session, workspace_id, from_plan)
        found = buckets_for(principal, limits, settings, "bench:", points=cost.points(per_point))
        rate_limit_headers(await limiter.decide(found))

    print("2. guard path of one request (cost estimate + plan limits from the process's cache")
    print("   + decision + headers):")
    print("   " + percentiles(await timed(decisions, guard_path)))
    looked_up = await timed(decisions, lambda: workspace_limits(session, workspace_id, from_plan))
    print("   of which plan limits (a hit in the process's cache): " + percentiles(looked_up, 4))
    await plans.close()

    for label, keyed in (("many workspaces", True), ("one hot workspace", False)):
        hot = None if keyed else buckets
        rate = await _throughput(limiter, principal, plan, settings, hot, seconds, concurrency)
        print(f"3. decisions/s, one process, {concurrency} concurrent, {label}: {rate:,.0f}")
    await limiter.close()


async def _plan_cache(redis_url: str, workspace_id: uuid.UUID) -> tuple[Any, Any]:
    """A cache hub holding one workspace's plan limits in its process tier, and a session
    (never connected) through which `workspace_limits` finds it, as a request's does."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.cache.commit import HUB
    from app.cache.hub import CacheHub
    from app.config import CacheSettings
    from billing.entitlements import cache as limits_cache
    from billing.entitlements.limits import Limit
    from billing.entitlements.limits import PlanLimits as BillingLimits

    hub = CacheHub(CacheSettings(local_ttl_s=3600), redis_url, "bench:")
    entry = limits_cache.CachedLimits(BillingLimits("bench", 1, dict.fromkeys(Limit)), None)

    async def load() -> Any:
        return entry

    await hub.cache(limits_cache.SPEC).get(str(workspace_id), load)
    return hub, AsyncSession(info={HUB: hub})


async def _throughput(
    limiter: Any,
    principal: Any,
    plan: Any,
    settings: RateLimitSettings,
    hot: Any,
    seconds: float,
    concurrency: int,
) -> float:
    from tenancy.ratelimit.policy import buckets_for

    count = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal count
        own = hot or buckets_for(
            dataclasses.replace(principal, workspace_id=uuid.uuid4()),
            plan,
            settings,
            "bench:",
            points=1,
        )
        while time.perf_counter() < deadline:
            decision = await limiter.decide(own)
            assert not decision.local, "Redis timed out: the figure would not be Redis's"
            count += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - started)


async def bench_outage(decisions: int) -> None:
    """Section 4: decisions with Redis stopped."""
    from app.devstack.redis import LocalRedis
    from tenancy.ratelimit.limiter import RateLimiter
    from tenancy.ratelimit.policy import Bucket, Policy

    redis = LocalRedis()
    redis.start()
    limiter = RateLimiter(redis.url, RateLimitSettings(), "bench:")
    bucket = Bucket(Policy.WORKSPACE, f"bench:{{ws:{uuid.uuid4()}}}:rl:api", 10**9, 60, 1)
    await limiter.decide([bucket])
    redis.stop()
    started = time.perf_counter()
    first = await limiter.decide([bucket])
    noticed = time.perf_counter() - started
    samples = await timed(decisions, lambda: limiter.decide([bucket]))
    assert first.local
    print(f"4. Redis stopped: first decision {noticed * 1000:.2f} ms (detects the outage), then")
    print("   fallback decisions " + percentiles(samples))
    await limiter.close()

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # a hung Redis: accepts, reads, never replies

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    hung = RateLimiter(f"redis://127.0.0.1:{port}/0", RateLimitSettings(), "bench:")
    started = time.perf_counter()
    decision = await hung.decide([bucket])
    waited = time.perf_counter() - started
    assert decision.local
    budget = RateLimitSettings().redis_timeout_ms
    print(f"   hung Redis (accepts, never answers): first decision {waited * 1000:.1f} ms")
    print(f"   (budget RATELIMIT_REDIS_TIMEOUT_MS={budget}), then local until the next probe")
    await hung.close()
    server.close()


@dataclasses.dataclass
class HttpBench:
    """An in-process app on a real PostgreSQL and Redis."""

    root: Path
    redis_url: str
    database: Any

    def settings(self, enabled: bool, **limits: int) -> Any:
        from pydantic import SecretStr

        from app.config import AuthSettings, RedisSettings, Settings

        values: dict[str, Any] = {
            "api_per_window": 10**9,
            "user_per_window": 10**9,
            "anonymous_per_window": 10**9,
            **limits,
        }
        return Settings(
            env="test",
            log_level="WARNING",  # no line per request in the figures
            data_dir=str(self.root / "data"),
            database=self.database,
            redis=RedisSettings(url=self.redis_url, key_prefix=f"b{uuid.uuid4().hex[:6]}:"),
            auth=AuthSettings(
                jwt_secret=SecretStr("bench-" + "x" * 40),
                argon2_time_cost=1,
                argon2_memory_kib=8,
                argon2_parallelism=1,
            ),
            ratelimit=RateLimitSettings(enabled=enabled, **values),
        )

    async def client(self, settings: Any) -> tuple[Any, Any]:
        import httpx

        from app.server import create_app
        from app.state import AppState

        state = await AppState.create(settings, with_queue=False)
        transport = httpx.ASGITransport(app=create_app(settings, state))
        return httpx.AsyncClient(transport=transport, base_url="http://bench"), state


async def _call(client: Any, query: str, variables: dict[str, Any], **headers: str) -> Any:
    body = {"query": query, "variables": variables}
    return (await client.post("/graphql", json=body, headers=headers)).json()["data"]


async def secret_key(client: Any, name: str) -> dict[str, str]:
    """Authorization headers of a new workspace's secret key."""
    email = f"{name}-{uuid.uuid4().hex[:8]}@example.com"
    user = {"email": email, "password": "correct horse battery", "displayName": name}
    signed = await _call(
        client, "mutation($i: SignUpInput!) { signUp(input: $i) { accessToken } }", {"i": user}
    )
    token = signed["signUp"]["accessToken"]
    auth = {"authorization": f"Bearer {token}"}
    ws = await _call(
        client,
        "mutation($i: CreateWorkspaceInput!) { createWorkspace(input: $i) { id } }",
        {"i": {"name": name}},
        **auth,
    )
    key = await _call(
        client,
        "mutation($i: CreateSecretKeyInput!) { createSecretKey(input: $i) { key } }",
        {"i": {"name": "bench"}},
        **auth,
        **{"x-workspace-id": ws["createWorkspace"]["id"]},
    )
    return {"authorization": f"Bearer {key['createSecretKey']['key']}"}


QUERY = {"query": "query { workspace { id name } }"}


def _post(client: Any, headers: dict[str, str]) -> Callable[[], Awaitable[Any]]:
    return lambda: client.post("/graphql", json=QUERY, headers=headers)


async def bench_overhead(bench: HttpBench, requests: int) -> None:
    """Section 5: HTTP latency and CPU with the limiter off and on. Requests alternate between
    the two apps one by one, so load from anything else on the machine hits both alike."""
    apps = {}
    for enabled in (False, True):
        client, state = await bench.client(bench.settings(enabled))
        headers = await secret_key(client, "bench")
        await timed(100, _post(client, headers))  # warm up
        apps[enabled] = (client, state, _post(client, headers))
    wall: dict[bool, list[float]] = {False: [], True: []}
    cpu: dict[bool, float] = {False: 0.0, True: 0.0}
    for i in range(requests):
        for enabled in (bool(i % 2), not i % 2):
            started, cpu_started = time.perf_counter(), time.process_time()
            await apps[enabled][2]()
            wall[enabled].append(time.perf_counter() - started)
            cpu[enabled] += time.process_time() - cpu_started
    for client, state, _ in apps.values():
        await client.aclose()
        await state.close()
    off, on = statistics.median(wall[False]), statistics.median(wall[True])
    print(f"5. HTTP request (secret key, small query, in-process ASGI), {requests} per mode:")
    print("   rate limiting off: " + percentiles(wall[False]))
    print("   rate limiting on:  " + percentiles(wall[True]))
    print(f"   p50 added by the limiter: {(on - off) * 1000:.3f} ms")
    added_cpu = (cpu[True] - cpu[False]) / requests * 1000
    print(f"   CPU added per request in the API process: {added_cpu:.3f} ms")


FLOOD = """
import asyncio, sys, time, httpx
async def main(url, token, seconds, concurrency):
    sent = refused = 0
    deadline = time.perf_counter() + seconds
    headers = {"authorization": "Bearer " + token}
    async with httpx.AsyncClient(base_url=url) as client:
        async def worker():
            nonlocal sent, refused
            while time.perf_counter() < deadline:
                r = await client.post("/graphql", json={"query": "{ __typename }"}, headers=headers)
                sent += 1
                refused += r.status_code == 429
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    print(sent, refused)
asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])))
"""


async def bench_neighbours(bench: HttpBench, requests: int) -> None:
    """Section 6: a quiet tenant while a noisy one floods past its limit, each from its own
    process, against a real API process (uvicorn)."""
    from asyncio.subprocess import PIPE

    import httpx

    from app.devstack.redis import free_port

    settings = bench.settings(True, api_per_window=50)
    port = free_port()
    env = {
        **os.environ,
        "PARLEY_ENV": "test",
        "PARLEY_LOG_LEVEL": "WARNING",
        "PARLEY_DATA_DIR": settings.data_dir,
        "DATABASE_URL": bench.database.url,
        "REDIS_URL": bench.redis_url,
        "REDIS_KEY_PREFIX": settings.redis.key_prefix,
        "AUTH_JWT_SECRET": settings.auth.jwt_secret.get_secret_value(),
        "RATELIMIT_API_PER_WINDOW": "50",
        "RATELIMIT_ANONYMOUS_PER_WINDOW": "1000000",
    }
    command = [sys.executable, "-m", "app.cli", "api", "--port", str(port), "--workers", "1"]
    api = await asyncio.create_subprocess_exec(*command, env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url) as client:
            for _ in range(200):
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/health")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            quiet, noisy = await secret_key(client, "quiet"), await secret_key(client, "noisy")
            await timed(50, _post(client, quiet))  # warm up
            alone = await timed(requests, _post(client, quiet))
            token = noisy["authorization"].removeprefix("Bearer ")
            seconds = max(5.0, len(alone) and statistics.mean(alone) * requests * 4)
            flood = await asyncio.create_subprocess_exec(
                sys.executable, "-c", FLOOD, url, token, str(seconds), "8", stdout=PIPE
            )
            await asyncio.sleep(1.0)
            during = await timed(requests, _post(client, quiet))
            out, _ = await flood.communicate()
        sent, refused = (int(v) for v in out.decode().split())
        print("6. quiet tenant while a noisy tenant floods past its limit (API: one uvicorn")
        print("   process; each client its own process; 8 concurrent noisy connections):")
        print("   quiet alone:        " + percentiles(alone))
        print("   quiet during flood: " + percentiles(during))
        print(f"   noisy: {sent / seconds:,.0f} requests/s, {refused / max(sent, 1):.1%} refused")
    finally:
        api.terminate()
        await asyncio.wait_for(api.wait(), 10)


async def bench_http(root: Path, redis_url: str, requests: int) -> None:
    """Sections 5-6 on an embedded PostgreSQL."""
    from app.config import DatabaseSettings
    from app.db.bootstrap import migrate
    from app.devstack.postgres import LocalPostgres

    pg = LocalPostgres(root / "pg", conf={"fsync": "off", "synchronous_commit": "off"})
    pg.start()
    try:
        database = DatabaseSettings(
            url=pg.url("parley_app", "parley_bench"), admin_url=pg.url("postgres", "parley_bench")
        )
        await asyncio.to_thread(migrate, database)  # runs its own event loop
        bench = HttpBench(root, redis_url, database)
        await bench_overhead(bench, requests)
        await bench_neighbours(bench, requests // 4)
    finally:
        pg.destroy()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--no-http", action="store_true", help="skip the PostgreSQL parts")
    args = parser.parse_args()

    from app.devstack.redis import LocalRedis

    root = Path(tempfile.mkdtemp(prefix="parley-bench-"))
    redis = LocalRedis()
    redis.start()
    try:
        print(f"Redis {redis.url} (private), Python event loop per process\n")
        await bench_limiter(redis.url, args.decisions, args.seconds, args.concurrency)
        await bench_outage(args.decisions // 10)
        if not args.no_http:
            await bench_http(root, redis.url, args.requests)
    finally:
        redis.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # clean up servers on kill too
    import uvloop  # the event loop `parley api` (uvicorn[standard]) runs on

    uvloop.install()
    asyncio.run(main())
