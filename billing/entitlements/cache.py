"""The limits in force per workspace, through the two-level cache (app/cache), for the
callers that read them on every request (the rate limiter). Quota checks that must be exact
under their locks read the database (`service.plan_limits`).

Entries are invalidated when a subscription changes (`subscriptions.forget`), and expire by
themselves when a grace period ends, the one change that happens by time alone.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from app.cache.commit import read_through
from app.cache.tiered import CacheSpec
from billing.entitlements.limits import Limit, PlanLimits
from billing.subscriptions import service as subscriptions


@dataclass(frozen=True, slots=True)
class CachedLimits:
    """The limits in force, and until when they hold by themselves (a grace period's end,
    as Unix time; None: until the subscription changes)."""

    limits: PlanLimits
    until: float | None


def _encode(entry: CachedLimits) -> bytes:
    values = {limit.value: value for limit, value in entry.limits.values.items()}
    return orjson.dumps([entry.limits.plan_code, entry.limits.plan_version, values, entry.until])


def _decode(raw: bytes) -> CachedLimits:
    code, version, values, until = orjson.loads(raw)
    limits = PlanLimits(code, version, {Limit(name): value for name, value in values.items()})
    return CachedLimits(limits, until)


def _seconds_left(entry: CachedLimits) -> float | None:
    return None if entry.until is None else entry.until - time.time()


SPEC = CacheSpec(subscriptions.LIMITS_CACHE, _encode, _decode, _seconds_left)


async def plan_limits(session: AsyncSession, workspace_id: uuid.UUID) -> PlanLimits:
    """The limits in force for the workspace; the transaction is scoped to it."""

    async def load() -> CachedLimits:
        current = await subscriptions.current_plan(session, workspace_id)
        grace = current.grace_ends_at
        now = dt.datetime.now(dt.UTC)
        until = grace.timestamp() if grace is not None and grace > now else None
        return CachedLimits(PlanLimits.of(current.effective), until)

    return (await read_through(session, SPEC, str(workspace_id), load)).limits
