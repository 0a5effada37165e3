"""The two-level cache of hot reads (app/cache): which tier answers, how a change reaches
every process, and what happens while Redis is away. Each `CacheHub` here stands for one
process: its own local tier and subscriber, the session's real Redis shared between them."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from enum import Enum
from types import MappingProxyType
from typing import Any

import pytest

from app.cache.commit import invalidate_after_commit
from app.cache.hub import CacheHub
from app.cache.tiered import TOMBSTONE, CacheSpec
from app.config import CacheSettings
from app.devstack.redis import free_port
from app.state import AppState
from tests.support.services import TestServices

SPEC = CacheSpec("test", lambda v: v.encode(), lambda b: b.decode())


class Source:
    """A stand-in for the table behind a cache: a value, and how often it was read."""

    def __init__(self, value: str | None) -> None:
        self.value = value
        self.reads = 0

    def loader(self) -> Callable[[], Awaitable[str | None]]:
        async def load() -> str | None:
            self.reads += 1
            return self.value

        return load


@pytest.fixture
async def hubs(services: TestServices) -> AsyncIterator[Callable[..., Awaitable[CacheHub]]]:
    """Hubs ("processes") sharing a key prefix of their own on the session's Redis."""
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    made: list[CacheHub] = []

    async def make(url: str | None = None, **settings: Any) -> CacheHub:
        hub = CacheHub(CacheSettings(**settings), url or services.redis_url, prefix)
        await hub.start()
        made.append(hub)
        return hub

    yield make
    for hub in made:
        await hub.close()


async def eventually(check: Callable[[], bool], within_s: float = 1.0) -> float:
    """Seconds until `check()` held; fails after `within_s`."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < within_s, "not within the time allowed"
        await asyncio.sleep(0.005)
    return time.monotonic() - started


async def test_each_tier_answers_in_turn(hubs: Callable[..., Awaitable[CacheHub]]) -> None:
    first, second = await hubs(local_ttl_s=0.2), await hubs(local_ttl_s=0.2)
    source = Source("v1")
    one, two = first.cache(SPEC), second.cache(SPEC)
    assert await one.get("k", source.loader()) == "v1"  # PostgreSQL, then stored in both tiers
    assert await one.get("k", source.loader()) == "v1"  # this process
    assert await two.get("k", source.loader()) == "v1"  # another process: from Redis
    await asyncio.sleep(0.25)  # the local entries expire; Redis still has it
    assert await one.get("k", source.loader()) == "v1"
    assert source.reads == 1
    assert first.stats == {("test", "database"): 1, ("test", "local"): 1, ("test", "redis"): 1}
    assert second.stats == {("test", "redis"): 1}


async def test_an_invalidation_reaches_every_process(
    hubs: Callable[..., Awaitable[CacheHub]],
) -> None:
    writer, reader = await hubs(local_ttl_s=60), await hubs(local_ttl_s=60)
    source = Source("old")
    assert await writer.cache(SPEC).get("k", source.loader()) == "old"
    assert await reader.cache(SPEC).get("k", source.loader()) == "old"
    assert await reader.cache(SPEC).get("k", source.loader()) == "old"  # a local hit now
    source.value = "new"  # the row changed and committed
    task = writer.invalidate([("test", "k")])
    assert task is not None
    await task
    took = await eventually(lambda: reader.local.get("test:k", time.monotonic()) is None)
    print(f"\ninvalidation reached the other process's local tier in {took * 1000:.1f} ms")
    assert await reader.cache(SPEC).get("k", source.loader()) == "new"
    assert await writer.cache(SPEC).get("k", source.loader()) == "new"


async def test_a_load_that_raced_with_a_change_is_not_put_back(
    hubs: Callable[..., Awaitable[CacheHub]],
) -> None:
    """A reader that loaded the old row just before the change committed finishes after the
    invalidation: neither Redis nor its own process may keep what it read."""
    writer, racer, later = await hubs(local_ttl_s=60), await hubs(local_ttl_s=60), await hubs()
    source = Source("old")
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_old_read() -> str | None:
        started.set()
        await release.wait()
        return "old"

    racing = asyncio.create_task(racer.cache(SPEC).get("k", slow_old_read))
    await started.wait()
    source.value = "new"
    generation = racer.local.generation
    task = writer.invalidate([("test", "k")])
    assert task is not None
    await task
    await eventually(lambda: racer.local.generation > generation)  # the message arrived
    release.set()
    assert await racing == "old"  # what it read, it returns; it does not keep it
    assert await racer.redis.get(racer.redis_key("test", "k")) == TOMBSTONE
    assert await later.cache(SPEC).get("k", source.loader()) == "new"
    assert await racer.cache(SPEC).get("k", source.loader()) == "new"


async def test_misses_are_remembered_briefly_and_only_in_process(
    hubs: Callable[..., Awaitable[CacheHub]],
) -> None:
    first, second = await hubs(negative_ttl_s=0.2), await hubs(negative_ttl_s=0.2)
    source = Source(None)
    assert await first.cache(SPEC).get("k", source.loader()) is None
    assert await first.cache(SPEC).get("k", source.loader()) is None
    assert source.reads == 1
    assert await second.cache(SPEC).get("k", source.loader()) is None  # not shared
    assert source.reads == 2
    assert await first.redis.get(first.redis_key("test", "k")) is None
    source.value = "created"
    await asyncio.sleep(0.25)
    assert await first.cache(SPEC).get("k", source.loader()) == "created"
    # A replica's miss (share=False) is not remembered at all: the primary is asked next.
    source.value = None
    assert await second.cache(SPEC).get("r", source.loader(), share=False) is None
    source.value = "on the primary"
    assert await second.cache(SPEC).get("r", source.loader(), share=False) == "on the primary"


async def test_without_redis_every_read_goes_to_the_database(
    hubs: Callable[..., Awaitable[CacheHub]],
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    hub = await hubs(url=dead, local_ttl_s=0.05)
    source = Source("v")
    started = time.monotonic()
    for _ in range(5):
        assert await hub.cache(SPEC).get("k", source.loader()) == "v"
        await asyncio.sleep(0.06)
    task = hub.invalidate([("test", "k")])  # does not raise; retried in the background
    assert task is not None and not hub.subscribed.is_set()
    assert source.reads == 5
    assert time.monotonic() - started < 2.0
    await hub.close()  # gives up on the pending announcement without hanging


async def test_invalidations_wait_for_the_commit(state: AppState) -> None:
    hub = state.cache
    source = Source("kept")
    cache = hub.cache(SPEC)
    key = uuid.uuid4().hex
    assert await cache.get(key, source.loader()) == "kept"
    async with state.sessions() as session:
        await session.begin()
        invalidate_after_commit(session, "test", key)
        await session.rollback()  # the change never happened: nothing is forgotten
    assert await cache.get(key, source.loader()) == "kept"
    assert source.reads == 1
    async with state.sessions() as session:
        await session.begin()
        invalidate_after_commit(session, "test", key)
        assert hub.local.get(f"test:{key}", time.monotonic()) is not None  # not before COMMIT
        await session.commit()
        assert hub.local.get(f"test:{key}", time.monotonic()) is None
    source.value = "changed"
    assert await cache.get(key, source.loader()) == "changed"


def _assert_immutable(value: object, where: str = "value") -> None:
    """Fail unless `value` is built only of immutable parts: the process tier hands the same
    object to every request, so nothing reachable from it may be changed in place."""
    if isinstance(value, str | bytes | int | float | bool | uuid.UUID | Enum) or value is None:
        return
    if isinstance(value, tuple | frozenset):
        for i, item in enumerate(value):
            _assert_immutable(item, f"{where}[{i}]")
        return
    if isinstance(value, MappingProxyType):
        for key, item in value.items():
            _assert_immutable(key, f"{where} key")
            _assert_immutable(item, f"{where}[{key!r}]")
        return
    assert dataclasses.is_dataclass(value), f"{where} is a mutable {type(value).__name__}"
    params = getattr(type(value), "__dataclass_params__", None)
    assert params is not None and params.frozen, f"{where} is not a frozen dataclass"
    for f in dataclasses.fields(value):
        _assert_immutable(getattr(value, f.name), f"{where}.{f.name}")


def _cached_values() -> list[tuple[CacheSpec[Any], object]]:
    """A value of every cache in the application, as loaded and as decoded from Redis."""
    from app.widget import cache as widget_cache
    from app.widget.views import ConfigView
    from billing.entitlements import cache as limits_cache
    from billing.entitlements.limits import Limit, PlanLimits
    from tenancy.apikeys import cache as key_cache

    values: list[tuple[CacheSpec[Any], object]] = [
        (
            key_cache.SPEC,
            key_cache.KeyInfo(uuid.uuid4(), uuid.uuid4(), "secret", "admin", ("https://a.test",)),
        ),
        (
            widget_cache.SPEC,
            ConfigView(uuid.uuid4(), suggested_questions=("How?",), lead_fields=("email",)),
        ),
        (
            limits_cache.SPEC,
            limits_cache.CachedLimits(
                PlanLimits("free", 1, dict.fromkeys(Limit, 10)), time.time() + 60
            ),
        ),
    ]
    return values + [(spec, spec.decode(spec.encode(value))) for spec, value in values]


def test_every_cached_value_is_immutable() -> None:
    for spec, value in _cached_values():
        _assert_immutable(value, spec.name)
        assert spec.decode(spec.encode(value)) == value


async def test_a_local_hit_hands_out_the_stored_object(
    hubs: Callable[..., Awaitable[CacheHub]],
) -> None:
    from billing.entitlements import cache as limits_cache
    from billing.entitlements.limits import Limit, PlanLimits

    hub = await hubs()
    cache = hub.cache(limits_cache.SPEC)
    source = dict.fromkeys(Limit, 5)
    entry = limits_cache.CachedLimits(PlanLimits("free", 1, source), None)

    async def load() -> limits_cache.CachedLimits:
        return entry

    first = await cache.get("w", load)
    source[Limit.MEMBERS] = 99  # the dict it was built from changes: the entry does not
    again = await cache.get("w", load)
    assert again is first  # no decoding on a local hit
    assert again is not None and again.limits[Limit.MEMBERS] == 5
    with pytest.raises(TypeError):
        again.limits.values[Limit.MEMBERS] = 1  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        again.until = 0.0  # type: ignore[misc]
