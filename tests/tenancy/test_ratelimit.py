"""The limiter against real Redis servers: GCRA semantics, atomicity, shared time, outages."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest

from app.config import RateLimitSettings
from app.devstack.redis import LocalRedis
from app.errors import RateLimited
from tenancy.principal import Principal, PrincipalKind, Role
from tenancy.ratelimit.limiter import LimiterUnavailable, RateLimiter
from tenancy.ratelimit.policy import Bucket, PlanLimits, Policy, buckets_for

if TYPE_CHECKING:
    from app.state import AppState
    from tests.support.services import TestServices


def bucket(
    key: str, limit: int, window_s: int = 60, cost: int = 1, policy: Policy = Policy.WORKSPACE
) -> Bucket:
    return Bucket(policy, key, limit, window_s, cost)


@pytest.fixture
async def limiter(services: TestServices) -> AsyncIterator[RateLimiter]:
    made = RateLimiter(services.redis_url, RateLimitSettings(), f"t{uuid.uuid4().hex[:8]}:")
    yield made
    await made.close()


def key(limiter: RateLimiter, name: str) -> str:
    return f"{limiter.prefix}{{ws:{uuid.uuid4()}}}:rl:{name}"


async def test_a_full_bucket_admits_exactly_its_limit_then_refuses(limiter: RateLimiter) -> None:
    k = key(limiter, "api")
    decisions = [await limiter.decide([bucket(k, 5)]) for _ in range(7)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 2
    assert [d.buckets[0].remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
    refused = decisions[-1]
    assert refused.refused_by is Policy.WORKSPACE
    assert refused.retry_after_s == 12  # one unit refills every 60/5 s
    assert refused.buckets[0].reset_s == 12


async def test_the_bucket_refills_continuously_not_at_a_window_edge(limiter: RateLimiter) -> None:
    k = key(limiter, "api")
    for _ in range(4):
        assert (await limiter.decide([bucket(k, 4, window_s=1)])).allowed
    assert not (await limiter.decide([bucket(k, 4, window_s=1)])).allowed
    await asyncio.sleep(0.3)  # 0.25 s per unit: one unit back, not a whole new window
    assert (await limiter.decide([bucket(k, 4, window_s=1)])).allowed
    assert not (await limiter.decide([bucket(k, 4, window_s=1)])).allowed


async def test_concurrent_decisions_never_overshoot(limiter: RateLimiter) -> None:
    k = key(limiter, "api")
    decisions = await asyncio.gather(*(limiter.decide([bucket(k, 50)]) for _ in range(200)))
    assert sum(d.allowed for d in decisions) == 50


async def test_several_buckets_are_charged_all_or_nothing(limiter: RateLimiter) -> None:
    shared, small = key(limiter, "api"), key(limiter, "user")
    both = [bucket(shared, 10), bucket(small, 2, policy=Policy.USER)]
    assert (await limiter.decide(both)).allowed
    assert (await limiter.decide(both)).allowed
    refused = await limiter.decide(both)
    assert not refused.allowed
    assert refused.refused_by is Policy.USER
    # The refused request took nothing from the shared bucket.
    alone = await limiter.decide([bucket(shared, 10)])
    assert alone.buckets[0].remaining == 7


async def test_costs_are_charged_and_capped_at_the_whole_budget(limiter: RateLimiter) -> None:
    k = key(limiter, "api")
    assert (await limiter.decide([bucket(k, 10, cost=4)])).buckets[0].remaining == 6
    assert not (await limiter.decide([bucket(k, 10, cost=7)])).allowed
    huge = key(limiter, "api")
    first = await limiter.decide([bucket(huge, 10, cost=50)])
    assert first.allowed  # takes the whole bucket instead of never fitting
    assert first.buckets[0].remaining == 0


async def test_processes_agree_through_redis_time(services: TestServices) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    # 80 decisions at once: a loaded test machine can keep the last ones past the 40 ms
    # production budget, and the fallback would then decide them alone. What is tested is
    # agreement through Redis, so Redis gets time to answer.
    patient = RateLimitSettings(redis_timeout_ms=2000)
    a = RateLimiter(services.redis_url, patient, prefix)
    b = RateLimiter(services.redis_url, patient, prefix)
    try:
        k = f"{prefix}{{ws:{uuid.uuid4()}}}:rl:api"
        results = await asyncio.gather(
            *(limiter.decide([bucket(k, 30)]) for limiter in [a, b] * 40)
        )
        assert sum(d.allowed for d in results) == 30
    finally:
        await a.close()
        await b.close()


def test_bucket_keys_share_one_cluster_hash_tag_per_decision() -> None:
    ws, user = uuid.uuid4(), uuid.uuid4()
    principal = Principal(
        kind=PrincipalKind.USER, user_id=user, workspace_id=ws, role=Role.MEMBER, ip="192.0.2.1"
    )
    plan = PlanLimits(
        api_per_window=100, answers_per_window=10, concurrent_model_calls=2, window_s=60
    )
    found = buckets_for(
        principal, plan, RateLimitSettings(principal_share=0.5), "parley:", points=3, answers=1
    )
    assert [(b.policy, b.key, b.limit, b.cost) for b in found] == [
        (Policy.WORKSPACE, f"parley:{{ws:{ws}}}:rl:api", 100, 3),
        (Policy.USER, f"parley:{{ws:{ws}}}:rl:user:{user}", 50, 3),
        (Policy.ANSWERS, f"parley:{{ws:{ws}}}:rl:answers", 10, 1),
    ]
    anonymous = buckets_for(
        Principal.anonymous("2001:db8::1"), None, RateLimitSettings(), "parley:", points=1
    )
    assert [b.key for b in anonymous] == ["parley:{ip:2001:db8::1}:rl:ip"]


async def test_model_calls_are_capped_per_workspace(limiter: RateLimiter) -> None:
    workspace, other = uuid.uuid4(), uuid.uuid4()
    async with limiter.model_call(workspace, 2), limiter.model_call(workspace, 2):
        with pytest.raises(RateLimited) as refused:
            async with limiter.model_call(workspace, 2):
                pass
        assert refused.value.extensions["limit"] == "model_calls"
        async with limiter.model_call(other, 2):  # another workspace is not affected
            pass
    async with limiter.model_call(workspace, 2), limiter.model_call(workspace, 2):
        pass  # both slots were released


async def test_a_crashed_callers_slot_expires(services: TestServices) -> None:
    settings = RateLimitSettings(model_call_lease_s=1)
    limiter = RateLimiter(services.redis_url, settings, f"t{uuid.uuid4().hex[:8]}:")
    workspace = uuid.uuid4()
    try:
        held = limiter.model_call(workspace, 1)
        await held.__aenter__()  # never exited: the process "died" holding the slot
        with pytest.raises(RateLimited):
            async with limiter.model_call(workspace, 1):
                pass
        await asyncio.sleep(1.1)
        async with limiter.model_call(workspace, 1):
            pass
        await held.__aexit__(None, None, None)  # close it here, not in a later test's loop
    finally:
        await limiter.close()


async def test_redis_stopped_and_restarted(caplog: pytest.LogCaptureFixture, tmp_path) -> None:
    redis = LocalRedis(datadir=tmp_path / "redis")  # append-only file: buckets survive the restart
    redis.start()
    settings = RateLimitSettings(fallback_fraction=0.5, redis_retry_s=0.2)
    limiter = RateLimiter(redis.url, settings, "t:")
    k = f"t:{{ws:{uuid.uuid4()}}}:rl:api"
    caplog.set_level(logging.WARNING, logger="parley.ratelimit")
    try:
        first = await limiter.decide([bucket(k, 10)])
        assert first.allowed and not first.local
        assert first.buckets[0].remaining == 9

        redis.stop()
        started = time.perf_counter()
        degraded = await limiter.decide([bucket(k, 10)])
        assert time.perf_counter() - started < 0.5
        assert degraded.allowed and degraded.local
        assert degraded.buckets[0].limit == 5  # half of each budget per process meanwhile
        assert limiter.degraded
        assert [r.event for r in caplog.records if hasattr(r, "event")] == ["ratelimit_degraded"]
        # Ordinary calls keep the conservative local limit...
        local = [await limiter.decide([bucket(k, 10)]) for _ in range(6)]
        assert [d.allowed for d in local] == [True] * 4 + [False] * 2
        # ...while answers and widget calls refuse outright.
        with pytest.raises(LimiterUnavailable) as unavailable:
            await limiter.decide([bucket(k, 10)], fallback=False)
        assert unavailable.value.status_code == 503
        assert unavailable.value.extensions["retryAfter"] == 1
        with pytest.raises(LimiterUnavailable):
            async with limiter.model_call(uuid.uuid4(), 2):
                pass

        redis.start()
        await asyncio.sleep(0.25)  # past the retry interval: the next call probes Redis
        recovered = await limiter.decide([bucket(k, 10)])
        assert not recovered.local
        assert recovered.buckets[0].remaining == 8  # Redis kept the bucket from before
        assert not limiter.degraded
        events = [r.event for r in caplog.records if hasattr(r, "event")]
        assert events == ["ratelimit_degraded", "ratelimit_recovered"]
    finally:
        await limiter.close()
        redis.stop()


@pytest.fixture
def hung_redis() -> Iterator[str]:
    """A TCP server that accepts connections and never answers (a hung Redis)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    stop.set()
    thread.join(2)
    for conn in accepted:
        conn.close()
    server.close()


async def test_a_hung_redis_costs_at_most_the_time_budget(hung_redis: str) -> None:
    limiter = RateLimiter(hung_redis, RateLimitSettings(redis_timeout_ms=40), "t:")
    try:
        started = time.perf_counter()
        decision = await limiter.decide([bucket(f"t:{{ws:{uuid.uuid4()}}}:rl:api", 10)])
        elapsed = time.perf_counter() - started
        assert decision.local
        # 40 ms budget; the bound leaves room for a loaded test machine, not for a hang.
        assert elapsed < 0.2, elapsed
        started = time.perf_counter()
        await limiter.decide([bucket(f"t:{{ws:{uuid.uuid4()}}}:rl:api", 10)])
        assert time.perf_counter() - started < 0.01  # no second wait while Redis is down
    finally:
        await limiter.close()


async def test_answers_have_a_separate_lower_budget_and_no_fallback(
    services: TestServices, state: AppState
) -> None:
    from app.config import RedisSettings
    from app.devstack.redis import free_port
    from tenancy.ratelimit import service
    from tests.conftest import make_settings

    prefix = f"t{uuid.uuid4().hex[:8]}:"
    settings = make_settings(
        services,
        redis=RedisSettings(url=services.redis_url, key_prefix=prefix),
        ratelimit=RateLimitSettings(api_per_window=100, answers_per_window=2, principal_share=1.0),
    )
    limiter = RateLimiter(services.redis_url, settings.ratelimit, prefix)
    principal = Principal(
        kind=PrincipalKind.SECRET_KEY,
        workspace_id=uuid.uuid4(),
        key_id=uuid.uuid4(),
        role=Role.ADMIN,
    )
    try:
        async with state.sessions() as session:
            answers = [
                await service.admit(session, limiter, principal, settings, points=1, answers=1)
                for _ in range(3)
            ]
            plain = await service.admit(session, limiter, principal, settings, points=1)
        assert [d.allowed for d in answers if d] == [True, True, False]
        assert answers[2] is not None and answers[2].refused_by is Policy.ANSWERS
        assert plain is not None and plain.allowed
        assert [b.policy for b in plain.buckets] == [Policy.WORKSPACE]
        assert plain.buckets[0].remaining == 97  # two admitted answers and this call

        dead = RateLimiter(f"redis://127.0.0.1:{free_port()}/0", settings.ratelimit, prefix)
        try:
            async with state.sessions() as session:
                with pytest.raises(LimiterUnavailable):
                    await service.admit(session, dead, principal, settings, points=1, answers=1)
                fallback = await service.admit(session, dead, principal, settings, points=1)
            assert fallback is not None and fallback.allowed and fallback.local
        finally:
            await dead.close()
    finally:
        await limiter.close()


async def test_model_calls_take_the_cap_from_the_plan(
    services: TestServices, state: AppState
) -> None:
    from app.config import RedisSettings
    from tenancy.ratelimit import service
    from tests.conftest import make_settings

    prefix = f"t{uuid.uuid4().hex[:8]}:"
    settings = make_settings(
        services,
        redis=RedisSettings(url=services.redis_url, key_prefix=prefix),
        ratelimit=RateLimitSettings(concurrent_model_calls=1),
    )
    limiter = RateLimiter(services.redis_url, settings.ratelimit, prefix)
    workspace = uuid.uuid4()
    try:
        async with state.sessions() as session:
            async with service.model_call(session, limiter, workspace, settings):
                with pytest.raises(RateLimited):
                    async with service.model_call(session, limiter, workspace, settings):
                        pass
            async with service.model_call(session, limiter, workspace, settings):
                pass
    finally:
        await limiter.close()


async def test_outage_and_recovery_are_reported_to_sentry() -> None:
    import sentry_sdk

    from app.devstack.redis import free_port
    from tests.support.sentry import sentry_server

    port = free_port()
    settings = RateLimitSettings(redis_retry_s=0.1)
    limiter = RateLimiter(f"redis://127.0.0.1:{port}/0", settings, "t:")
    key = f"t:{{ws:{uuid.uuid4()}}}:rl:api"
    with sentry_server() as sentry:
        client = sentry_sdk.Client(dsn=sentry.dsn)
        try:
            with sentry_sdk.isolation_scope() as scope:
                scope.set_client(client)
                assert (await limiter.decide([bucket(key, 10)])).local  # nothing listens yet
                redis = LocalRedis(port=port)
                redis.start()
                try:
                    await asyncio.sleep(0.15)
                    assert not (await limiter.decide([bucket(key, 10)])).local
                finally:
                    redis.stop()
            client.flush(timeout=5)
        finally:
            client.close()
            await limiter.close()
        reported = [
            (e["level"], e.get("message") or e["logentry"]["formatted"]) for e in sentry.events
        ]
    assert len(reported) == 2
    assert reported[0][0] == "error"
    assert reported[0][1].startswith("rate limiter degraded: Redis unreachable")
    assert reported[1][0] == "info"
    assert reported[1][1].startswith("rate limiter recovered")


async def test_workspace_budget_comes_from_its_plan(services, settings, factory) -> None:  # type: ignore[no-untyped-def]
    """Without an operator override, the API budget is the plan's requests per minute."""
    import httpx

    from app.config import RateLimitSettings
    from app.server import create_app
    from app.state import AppState
    from tests.conftest import make_settings
    from tests.support.graphql import GraphQL

    planned = make_settings(
        services,
        ratelimit=RateLimitSettings(
            api_per_window=None, user_per_window=10**6, anonymous_per_window=10**6
        ),
    )
    state = await AppState.create(planned)
    try:
        transport = httpx.ASGITransport(app=create_app(planned, state))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            tenant = await factory.tenant()
            client = GraphQL(http, tenant.owner.token, tenant.id)
            result = await client.op("CurrentWorkspace")
            # The free plan sells 120 API requests per minute.
            assert "q=120" in result.headers["ratelimit-policy"], result.headers
    finally:
        await state.close()
