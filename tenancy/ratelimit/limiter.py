"""The rate limiter: one Lua call per decision in Redis, with a local fallback.

A decision gives up on Redis after RATELIMIT_REDIS_TIMEOUT_MS of Redis silence (see
_Liveness), so it never waits long on a dead or hung Redis. After a failure the limiter stops
asking for RATELIMIT_REDIS_RETRY_S, answers from the in-process fallback (or refuses with 503
where no fallback is allowed: answers and widget calls), then probes again with one request
while the others keep using the fallback. Both transitions are logged and sent to Sentry.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import sentry_sdk
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.config import RateLimitSettings
from app.errors import RateLimited, Unavailable
from tenancy.ratelimit.local import LocalBuckets, finish_decision
from tenancy.ratelimit.policy import Bucket, BucketState, Decision, workspace_tag
from tenancy.ratelimit.resp import NoScriptError, RespConnection, RespError

log = logging.getLogger("parley.ratelimit")

T = TypeVar("T")
_HERE = Path(__file__).parent
_REDIS_DOWN = (RespError, RedisError, OSError, TimeoutError)


class LimiterUnavailable(Unavailable):
    """Redis is unreachable and this kind of call has no fallback."""


class RateLimiter:
    """Decisions for every API process of a deployment, agreeing through Redis time."""

    def __init__(self, redis_url: str, settings: RateLimitSettings, prefix: str) -> None:
        self.settings = settings
        self.prefix = prefix
        self._timeout = settings.redis_timeout_ms / 1000
        # The hot path (one script call per request) uses a lean pipelined connection of its
        # own (resp.py); `redis` is a redis-py client for everything else (persisted queries).
        self.redis: Redis = Redis.from_url(
            redis_url, socket_connect_timeout=_HARD_LIMIT_S, decode_responses=False
        )
        self._connection = RespConnection(redis_url, connect_timeout=_HARD_LIMIT_S)
        self._gcra = _Script(self._connection, (_HERE / "gcra.lua").read_text())
        self._slots = _Script(self._connection, (_HERE / "slots.lua").read_text())
        self._renew = _Script(self._connection, (_HERE / "renew.lua").read_text())
        self._local = LocalBuckets()
        self._liveness = _Liveness()
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._probing = False

    @property
    def degraded(self) -> bool:
        """True while Redis is considered unreachable."""
        return self._down_since is not None

    async def close(self) -> None:
        """Release the connections."""
        await self._connection.close()
        await self.redis.aclose()

    async def decide(self, buckets: Sequence[Bucket], *, fallback: bool = True) -> Decision:
        """Charge every bucket its cost, or none of them; never waits long on Redis.

        Without `fallback`, an unreachable Redis raises LimiterUnavailable (HTTP 503).
        """
        buckets = [_clamped(b) for b in buckets]
        args: list[int] = []
        for b in buckets:
            args += [b.limit, b.window_s * 1000, b.cost]
        keys = [b.key for b in buckets]
        raw = await self._call(lambda: self._gcra(keys, args))
        if raw is None:
            if not fallback:
                raise self._unavailable()
            return self._local.decide(buckets, self.settings.fallback_fraction)
        return _from_script(buckets, [int(v) for v in raw])

    @asynccontextmanager
    async def model_call(self, workspace_id: uuid.UUID, cap: int) -> AsyncIterator[None]:
        """Hold one of the workspace's `cap` concurrent model-call slots for the block.

        Raises RATE_LIMITED when all slots are in use and UNAVAILABLE when Redis is down.
        A slot left behind by a crashed process expires after RATELIMIT_MODEL_CALL_LEASE_S.
        """
        key = f"{workspace_tag(self.prefix, workspace_id)}:rl:model_calls"
        token = await self.take_slot(key, cap, self.settings.model_call_lease_s * 1000)
        if token is None:
            raise RateLimited(
                f"The workspace already has {cap} model calls in progress; retry in a moment.",
                limit="model_calls",
                retryAfter=1,
            )
        try:
            yield
        finally:
            await self.release_slot(key, token)

    async def take_slot(self, key: str, cap: int, lease_ms: int) -> str | None:
        """A lease on one of `cap` concurrent slots under `key` (its token), or None when all
        are held. Raises UNAVAILABLE when Redis is unreachable."""
        token = secrets.token_hex(8)
        raw = await self._call(lambda: self._slots([key], [cap, lease_ms, token]))
        if raw is None:
            raise self._unavailable()
        return token if int(raw[0]) == 1 else None

    async def renew_slot(self, key: str, token: str, lease_ms: int) -> bool | None:
        """Extend a lease: True when it was still held, False when it had lapsed, None when
        Redis is unreachable."""
        raw = await self._call(lambda: self._renew([key], [lease_ms, token]))
        return None if raw is None else int(raw) == 1

    async def release_slot(self, key: str, token: str) -> None:
        """Give a slot back (a lapsed or unreachable one frees itself when its lease ends)."""
        await self._call(lambda: self._connection.call("ZREM", key, token))

    def _unavailable(self) -> LimiterUnavailable:
        retry = max(1, math.ceil(self.settings.redis_retry_s))
        return LimiterUnavailable(
            "This operation is paused while the rate limiter is unavailable; retry shortly.",
            retryAfter=retry,
        )

    async def _call(self, command: Callable[[], Awaitable[Any]]) -> Any | None:
        """Run a Redis command within the time budget; None when Redis is unreachable."""
        now = time.monotonic()
        probe = False
        if self._down_since is not None:
            if self._probing or now < self._retry_at:
                return None
            self._probing = probe = True
        try:
            result = await self._liveness.within(self._timeout, command)
        except _REDIS_DOWN as exc:
            if isinstance(exc, TimeoutError):
                # Redis went silent: replies may never come, so start afresh next time.
                self._connection.abort()
            self._mark_down(exc)
            return None
        finally:
            if probe:
                self._probing = False
        if self._down_since is not None:
            self._mark_up()
        return result

    def _mark_down(self, exc: BaseException) -> None:
        now = time.monotonic()
        self._retry_at = now + self.settings.redis_retry_s
        if self._down_since is not None:
            return
        self._down_since = now
        # An error log is also a Sentry event (the SDK's logging integration), once per outage.
        log.error(
            "rate limiter degraded: Redis unreachable, using the in-process fallback (%s: %s)",
            type(exc).__name__,
            exc,
            extra={"event": "ratelimit_degraded"},
        )

    def _mark_up(self) -> None:
        assert self._down_since is not None
        outage = time.monotonic() - self._down_since
        self._down_since = None
        message = f"rate limiter recovered: Redis reachable again after {outage:.1f} s"
        log.warning(message, extra={"event": "ratelimit_recovered", "outage_s": outage})
        # Warnings are only breadcrumbs in Sentry: report the end of the outage explicitly.
        sentry_sdk.capture_message(message, level="info")


class _Script:
    """A Lua script run by EVALSHA, loaded again when Redis lost it (after a restart)."""

    def __init__(self, connection: RespConnection, source: str) -> None:
        self.connection = connection
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def __call__(self, keys: Sequence[str], args: Sequence[int | str]) -> Any:
        command = ("EVALSHA", self.sha, len(keys), *keys, *args)
        try:
            return await self.connection.call(*command)
        except NoScriptError:
            await self.connection.call("SCRIPT", "LOAD", self.source)
            return await self.connection.call(*command)


# A deadline callback that runs this much later than it was due shows a busy event loop.
_LATE_S = 0.005
# However busy this process, a command gets no more than this in total.
_HARD_LIMIT_S = 1.0


class _Deadline:
    """The timer of one `_Liveness.within` call: cancels the calling task once Redis has
    been silent for the budget, moving itself later while the loop is busy or Redis is
    answering others (the rules are `within`'s)."""

    __slots__ = ("budget", "expired", "handle", "liveness", "loop", "started", "task")

    def __init__(self, liveness: _Liveness, loop: asyncio.AbstractEventLoop, budget: float) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.liveness, self.loop, self.budget, self.task = liveness, loop, budget, task
        self.started = loop.time()
        self.expired = False
        self.handle: asyncio.TimerHandle | None = None
        self._at(self.started + budget)

    def _at(self, due: float) -> None:
        self.handle = self.loop.call_at(due, self._fire, due)

    def _fire(self, due: float) -> None:
        now = self.loop.time()
        if now - self.started < _HARD_LIMIT_S:
            if now - due > _LATE_S:  # the loop was busy: give the reply time to be read
                self._at(now + self.budget)
                return
            last_reply = self.liveness.last_reply
            if now - last_reply < self.budget:  # Redis is answering others: wait our turn
                self._at(last_reply + self.budget)
                return
        self.expired = True
        self.task.cancel()

    def stop(self) -> None:
        """Cancel the timer and let go of it: the handle holds this object's method, so
        keeping it would be a reference cycle holding the task (and the request it
        serves) until the cycle collector ran."""
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None


class _Liveness:
    """When Redis last answered anything, on this process's loop clock."""

    def __init__(self) -> None:
        self.last_reply = float("-inf")

    async def within(self, budget: float, command: Callable[[], Awaitable[T]]) -> T:
        """Await `command()`, raising TimeoutError once Redis has been silent for `budget`.

        The budget is Redis's time, not this process's. Under a burst, a call may wait
        behind hundreds of others in this process (on the shared connection, or for the busy
        event loop to read a reply that already arrived); a plain timeout would then blame
        Redis and switch every process to the fallback. So at the deadline the call is
        abandoned only if Redis has answered nothing, on any connection, for the whole
        budget and the deadline itself ran on time; otherwise it moves to `budget` after
        Redis's last reply (or after now, for a late deadline), up to _HARD_LIMIT_S in total.
        """
        loop = asyncio.get_running_loop()
        timer = _Deadline(self, loop, budget)
        try:
            result = await command()
        except asyncio.CancelledError:
            if timer.expired and timer.task.uncancel() == 0:
                raise TimeoutError(f"Redis silent for {budget * 1000:.0f} ms") from None
            raise
        finally:
            timer.stop()
        self.last_reply = loop.time()
        return result


def _clamped(bucket: Bucket) -> Bucket:
    """A cost above the whole budget would never fit: it takes the full bucket instead."""
    cost = min(max(bucket.cost, 1), bucket.limit)
    if cost == bucket.cost:
        return bucket
    return Bucket(bucket.policy, bucket.key, bucket.limit, bucket.window_s, cost)


def _from_script(buckets: Sequence[Bucket], raw: list[int]) -> Decision:
    allowed, retry_ms, refused, single_ms = raw[0] == 1, raw[1], raw[2], raw[3]
    states = [
        BucketState(b.policy, b.limit, b.window_s, raw[4 + 2 * i], math.ceil(raw[5 + 2 * i] / 1000))
        for i, b in enumerate(buckets)
    ]
    refused_by = buckets[refused - 1].policy if refused else None
    return finish_decision(
        allowed,
        states,
        math.ceil(retry_ms / 1000),
        refused_by,
        local=False,
        blocked_s=single_ms / 1000,
    )
