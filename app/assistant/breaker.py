"""A circuit breaker around the model endpoint, kept in Redis so every worker process agrees.

After `failures` transient failures (429, 5xx, timeouts) within `window_s`, the breaker opens
for `cooldown_s`: answers are then composed extractively from the retrieved passages (and say
so) instead of queueing up behind an endpoint that is down. When the cooldown ends one call
is let through; if it fails the breaker opens again at once, if it succeeds it closes.

Redis trouble never blocks an answer: the breaker then counts as closed.
"""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.config import AssistantSettings

log = logging.getLogger(__name__)

# How long after opening a single failure re-opens the breaker (the half-open trial).
_TRIAL_FACTOR = 10


class Breaker:
    """The breaker of one endpoint (`name`, e.g. "chat" or "embed")."""

    def __init__(
        self, redis: aioredis.Redis, prefix: str, name: str, settings: AssistantSettings
    ) -> None:
        self._redis = redis
        self._settings = settings
        self.name = name
        base = f"{prefix}breaker:{name}"
        self._failures, self._open, self._tripped = (
            f"{base}:failures",
            f"{base}:open",
            f"{base}:tripped",
        )

    async def is_open(self) -> bool:
        """True while calls should not be made."""
        try:
            return bool(await self._redis.exists(self._open))
        except RedisError:
            return False

    async def failed(self) -> None:
        """Count one transient failure; opens the breaker at the threshold (or at once after a
        failed trial)."""
        s = self._settings
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                # The window starts with the first failure (SET NX: EXPIRE NX needs Redis 7).
                pipe.set(self._failures, 0, ex=s.breaker_window_s, nx=True)
                pipe.incr(self._failures)
                pipe.exists(self._tripped)
                _, count, tripped = await pipe.execute()
            if int(count) >= s.breaker_failures or tripped:
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.set(self._open, "1", ex=s.breaker_cooldown_s)
                    pipe.set(self._tripped, "1", ex=s.breaker_cooldown_s * _TRIAL_FACTOR)
                    pipe.delete(self._failures)
                    await pipe.execute()
                log.warning(
                    "model breaker opened",
                    extra={"breaker": self.name, "cooldown_s": s.breaker_cooldown_s},
                )
        except RedisError as exc:
            log.warning("model breaker could not record a failure: %s", exc)

    async def succeeded(self) -> None:
        """A call worked: forget earlier failures and close."""
        try:
            await self._redis.delete(self._failures, self._tripped)
        except RedisError:
            return
