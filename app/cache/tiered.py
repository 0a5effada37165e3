"""One named cache: look up in the process, then Redis, then load from PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar, cast

from app.cache.local import ABSENT

if TYPE_CHECKING:
    from app.cache.hub import CacheHub

T = TypeVar("T")

# What Redis holds for an entry that just changed: readers treat it as a miss, and a reader
# that loaded the old row cannot overwrite it (SET NX) until it expires.
TOMBSTONE = b"\x00changed"


@dataclass(frozen=True, slots=True)
class CacheSpec(Generic[T]):
    """A named cache and how its values travel as bytes. `ttl_of` may shorten an entry's
    life (seconds left, e.g. until a grace period ends; None: the configured TTLs).

    Values must be immutable (frozen dataclasses of tuples, read-only mappings): the process
    tier hands the very same object to every request that hits it."""

    name: str
    encode: Callable[[T], bytes]
    decode: Callable[[bytes], T]
    ttl_of: Callable[[T], float | None] | None = None


class TwoLevelCache(Generic[T]):
    """Look-ups of one kind of value, keyed by strings the caller builds from what the
    database would be asked (never anything a client can choose freely)."""

    def __init__(self, hub: CacheHub, spec: CacheSpec[T]) -> None:
        self.hub = hub
        self.spec = spec
        self.name = spec.name

    async def get(
        self, key: str, load: Callable[[], Awaitable[T | None]], *, share: bool = True
    ) -> T | None:
        """The value for `key`, calling `load()` (PostgreSQL) only when neither tier has it.

        A None from `load` (no such row) is remembered in this process only, for
        CACHE_NEGATIVE_TTL_S. `share=False` is for loads from a replica, which may lag behind
        a change: the value serves this process for CACHE_LOCAL_TTL_S only, never reaches
        Redis, and a miss is not remembered.
        """
        hub = self.hub
        settings = hub.settings
        if not settings.enabled:
            return await load()
        local_key = hub.local_key(self.name, key)
        now = time.monotonic()
        found = hub.local.get(local_key, now)
        if found is not None:
            hub.count(self.name, "local")
            return None if found is ABSENT else cast(T, found)
        generation = hub.local.generation
        # While this process's own invalidation of the key is still on its way to Redis,
        # Redis may hold the old value: read the database.
        in_flight = hub.invalidating(local_key)
        if not in_flight:
            raw = await hub.redis_get(self._redis_key(key))
            if raw is not None and raw != TOMBSTONE:
                value = self.spec.decode(raw)
                hub.count(self.name, "redis")
                ttl = self._ttl(value, settings.local_ttl_s)
                hub.local.put(local_key, value, ttl, time.monotonic(), generation)
                return value
            in_flight = raw == TOMBSTONE
        loaded = await load()
        hub.count(self.name, "database")
        now = time.monotonic()
        if loaded is None:
            if share:  # a lagging replica's "no such row" must not refuse the primary's retry
                hub.local.put(local_key, ABSENT, settings.negative_ttl_s, now, generation)
            return None
        raw = self.spec.encode(loaded)
        if share and not in_flight:
            ttl = self._ttl(loaded, settings.redis_ttl_s)
            if ttl > 0:
                await hub.redis_add(self._redis_key(key), raw, ttl)
        hub.local.put(local_key, loaded, self._ttl(loaded, settings.local_ttl_s), now, generation)
        return loaded

    def _ttl(self, value: T, configured: float) -> float:
        left = self.spec.ttl_of(value) if self.spec.ttl_of is not None else None
        return configured if left is None else min(configured, left)

    def _redis_key(self, key: str) -> str:
        return self.hub.redis_key(self.name, key)
