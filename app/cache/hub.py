"""The process's cache: its local tier, its Redis connection and its invalidation subscriber.

Invalidating deletes nothing: it evicts the local entries at once, then writes a short-lived
tombstone over each Redis entry and PUBLISHes the keys on one channel; every process's
subscriber evicts them from its local tier. While the subscription is down (Redis restarted,
network cut) nothing is evicted remotely, so local entries live only CACHE_LOCAL_TTL_S; on
re-subscribing the local tier is emptied, since messages may have been missed.

Redis trouble never fails a request: reads fall through to PostgreSQL for
CACHE_REDIS_RETRY_S, and an invalidation that could not reach Redis is retried until it does
(or until the entries it covers have expired there anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.cache.local import LocalTier
from app.cache.tiered import TOMBSTONE, CacheSpec, TwoLevelCache
from app.config import CacheSettings
from app.observability import metrics

log = logging.getLogger("parley.cache")

T = TypeVar("T")
Entry = tuple[str, str]  # (cache name, key)
_REDIS_DOWN = (RedisError, OSError, TimeoutError)


class CacheHub:
    """Every named cache of one process, sharing one LRU, one Redis client and one
    subscriber. Build it with `create()`; `start()` subscribes, `close()` finishes pending
    invalidations and disconnects."""

    def __init__(self, settings: CacheSettings, redis_url: str, key_prefix: str) -> None:
        self.settings = settings
        self.redis_url = redis_url
        self.prefix = f"{key_prefix}cache:"
        self.channel = f"{key_prefix}cache:invalidate"
        self.local = LocalTier(settings.local_max_entries)
        timeout = settings.redis_timeout_ms / 1000
        self.redis: Redis = Redis.from_url(
            redis_url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            decode_responses=False,
        )
        self.stats: Counter[tuple[str, str]] = Counter()
        self.subscribed = asyncio.Event()
        self._caches: dict[str, TwoLevelCache[Any]] = {}
        self._down_until = 0.0
        self._down = False
        self._in_flight: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        self._subscriber: asyncio.Task[None] | None = None

    # --- look-ups ------------------------------------------------------------------------

    def cache(self, spec: CacheSpec[T]) -> TwoLevelCache[T]:
        """The named cache for `spec` (one per name and process)."""
        found = self._caches.get(spec.name)
        if found is None:
            found = self._caches[spec.name] = TwoLevelCache(self, spec)
        return found

    def redis_key(self, name: str, key: str) -> str:
        """Where Redis keeps an entry."""
        return f"{self.prefix}{name}:{key}"

    @staticmethod
    def local_key(name: str, key: str) -> str:
        """Where this process's tier keeps an entry."""
        return f"{name}:{key}"

    def count(self, name: str, tier: str) -> None:
        """Record where a look-up was answered (local, redis, database)."""
        self.stats[(name, tier)] += 1
        metrics.hot_cache_lookup(name, tier)

    def invalidating(self, local_key: str) -> bool:
        """True while this process's invalidation of the entry has not reached Redis."""
        return self._in_flight[local_key] > 0

    async def redis_get(self, key: str) -> bytes | None:
        """The Redis entry, or None when absent or Redis is unavailable."""
        value = await self._call(lambda: self.redis.get(key))
        return value if isinstance(value, bytes) else None

    async def redis_add(self, key: str, value: bytes, ttl_s: float) -> None:
        """Store an entry unless Redis already holds one (a tombstone above all)."""
        await self._call(lambda: self.redis.set(key, value, px=max(1, int(ttl_s * 1000)), nx=True))

    async def _call(self, command: Callable[[], Awaitable[T]]) -> T | None:
        if self._down and time.monotonic() < self._down_until:
            return None
        try:
            result = await command()
        except _REDIS_DOWN as exc:
            self._mark_down(exc)
            return None
        if self._down:
            self._down = False
            log.warning("cache: Redis reachable again", extra={"event": "cache_recovered"})
        return result

    def _mark_down(self, exc: BaseException) -> None:
        self._down_until = time.monotonic() + self.settings.redis_retry_s
        metrics.hot_cache_redis_error()
        if not self._down:
            self._down = True
            log.warning(
                "cache: Redis unavailable, reading PostgreSQL (%s: %s)",
                type(exc).__name__,
                exc,
                extra={"event": "cache_degraded"},
            )

    # --- invalidation ------------------------------------------------------------------------

    def invalidate(self, entries: Iterable[Entry]) -> asyncio.Task[None] | None:
        """Forget `entries` in this process now and in every process shortly (the returned
        task writes the tombstones and publishes). Call only after the change committed."""
        unique = sorted(set(entries))
        if not unique:
            return None
        for name, key in unique:
            local_key = self.local_key(name, key)
            self.local.evict(local_key)
            self._in_flight[local_key] += 1
            metrics.hot_cache_invalidation(name)
        task = asyncio.get_running_loop().create_task(self._announce(unique))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _announce(self, entries: list[Entry]) -> None:
        payload = orjson.dumps(entries)
        hold_ms = max(1, int(self.settings.invalidation_hold_s * 1000))
        give_up = time.monotonic() + self.settings.redis_ttl_s
        try:
            while True:
                try:
                    async with self.redis.pipeline(transaction=False) as pipe:
                        for name, key in entries:
                            pipe.set(self.redis_key(name, key), TOMBSTONE, px=hold_ms)
                        pipe.publish(self.channel, payload)
                        await pipe.execute()
                    return
                except _REDIS_DOWN as exc:
                    self._mark_down(exc)
                    if time.monotonic() >= give_up:  # the old entries have expired by now
                        return
                    await asyncio.sleep(self.settings.redis_retry_s)
        finally:
            for name, key in entries:
                local_key = self.local_key(name, key)
                self._in_flight[local_key] -= 1
                if self._in_flight[local_key] <= 0:
                    del self._in_flight[local_key]

    def _evict_message(self, data: bytes) -> None:
        try:
            entries = orjson.loads(data)
            for name, key in entries:
                self.local.evict(self.local_key(name, key))
        except (orjson.JSONDecodeError, TypeError, ValueError):
            log.warning("cache: ignored a malformed invalidation message")

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self, wait_s: float = 2.0) -> None:
        """Start the subscriber and wait (up to `wait_s`) until it listens."""
        if not self.settings.enabled or self._subscriber is not None:
            return
        self._subscriber = asyncio.create_task(self._listen(), name="cache-invalidations")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.subscribed.wait(), wait_s)

    async def _listen(self) -> None:
        delay = 0.1
        while True:
            client = Redis.from_url(
                self.redis_url, socket_connect_timeout=1.0, decode_responses=False
            )
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                # Anything published while we were not listening was lost: start clean.
                self.local.clear()
                self.subscribed.set()
                delay = 0.1
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._evict_message(message["data"])
                raise ConnectionError("subscription ended")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.subscribed.is_set():
                    log.warning(
                        "cache: invalidation subscription lost (%s); entries now live "
                        "CACHE_LOCAL_TTL_S at most",
                        type(exc).__name__,
                        extra={"event": "cache_subscription_lost"},
                    )
                self.subscribed.clear()
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                with contextlib.suppress(Exception):
                    await client.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def close(self) -> None:
        """Finish pending invalidations (briefly), stop listening, disconnect."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=2.0)
            for task in set(self._tasks):  # Redis is away: its entries expire by themselves
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._subscriber is not None:
            self._subscriber.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._subscriber
            self._subscriber = None
        await self.redis.aclose()
