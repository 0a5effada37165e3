"""Charging requests to their budgets."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.errors import RateLimited
from tenancy.principal import Principal
from tenancy.ratelimit.limiter import RateLimiter
from tenancy.ratelimit.limits import workspace_limits
from tenancy.ratelimit.policy import (
    Bucket,
    Decision,
    Policy,
    buckets_for,
    ip_bucket,
    is_widget,
)


async def budgets(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    *,
    points: int,
    answers: int = 0,
) -> list[Bucket]:
    """The buckets a request of `points` (starting `answers` answer generations) is charged
    to: the only part of a decision that needs the session (the workspace's plan limits,
    through the hot cache, read under the tenant)."""
    workspace_id = principal.workspace_id
    limits = (
        None
        if workspace_id is None
        else await workspace_limits(session, workspace_id, settings.ratelimit)
    )
    return buckets_for(
        principal,
        limits,
        settings.ratelimit,
        settings.redis.key_prefix,
        points=points,
        answers=answers,
    )


async def decide(limiter: RateLimiter, principal: Principal, buckets: list[Bucket]) -> Decision:
    """Charge `buckets` (from `budgets`); needs no session, so it can run while the operation
    executes. Answers and widget calls have no local fallback: with Redis unreachable they
    raise UNAVAILABLE."""
    answers = any(b.policy is Policy.ANSWERS for b in buckets)
    return await limiter.decide(buckets, fallback=not answers and not is_widget(principal))


async def admit_with(
    opened: Callable[[], AbstractAsyncContextManager[AsyncSession]],
    limiter: RateLimiter,
    principal: Principal,
    settings: Settings,
    *,
    points: int,
    answers: int = 0,
) -> Decision | None:
    """Charge a request of `points` (starting `answers` answer generations) to the caller's
    budgets; None when rate limiting is off. The session `opened()` gives is held only to
    read the plan limits, never while Redis decides. Answers and widget calls have no local
    fallback: with Redis unreachable they raise UNAVAILABLE."""
    if not settings.ratelimit.enabled:
        return None
    async with opened() as session:
        found = await budgets(session, principal, settings, points=points, answers=answers)
    return await decide(limiter, principal, found)


async def admit(
    session: AsyncSession,
    limiter: RateLimiter,
    principal: Principal,
    settings: Settings,
    *,
    points: int,
    answers: int = 0,
) -> Decision | None:
    """`admit_with` on a session the caller already holds."""
    return await admit_with(
        lambda: nullcontext(session), limiter, principal, settings, points=points, answers=answers
    )


async def charge_client_ip(
    limiter: RateLimiter, ip: str | None, settings: Settings
) -> Decision | None:
    """Charge one point to the client IP's budget: for requests refused before a caller is
    known (malformed, failed authentication), so guessing keys or passwords is throttled."""
    if not settings.ratelimit.enabled:
        return None
    bucket = ip_bucket(settings.redis.key_prefix, ip, settings.ratelimit)
    return await limiter.decide([bucket])


@asynccontextmanager
async def model_call(
    session: AsyncSession, limiter: RateLimiter, workspace_id: uuid.UUID, settings: Settings
) -> AsyncIterator[None]:
    """Hold one of the workspace's concurrent model-call slots (its plan's cap) for the block.

    For the code that calls a model (answers, embeddings): RATE_LIMITED when the workspace
    already has its cap in flight, UNAVAILABLE while Redis is unreachable. `session` must have
    the workspace set as the tenant (plan limits are read under it).
    """
    limits = await workspace_limits(session, workspace_id, settings.ratelimit)
    async with limiter.model_call(workspace_id, limits.concurrent_model_calls):
        yield


def refusal(decision: Decision, now: dt.datetime | None = None) -> RateLimited:
    """The RATE_LIMITED error for a refused decision: which budget, and when it has room."""
    bucket = decision.refused_bucket
    assert bucket is not None, "refusal() needs a refused decision"
    now = now or dt.datetime.now(dt.UTC)
    resets_at = now + dt.timedelta(seconds=decision.retry_after_s)
    return RateLimited(
        f"Rate limit reached: the {bucket.policy.value} budget allows {bucket.limit} points "
        f"per {bucket.window_s} s. Retry in {decision.retry_after_s} s.",
        limit=bucket.policy.value,
        quota=bucket.limit,
        windowSeconds=bucket.window_s,
        retryAfter=decision.retry_after_s,
        resetsAt=resets_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
    )
