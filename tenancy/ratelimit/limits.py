"""The one place that reads a workspace's rate-limit budgets.

The API budget comes from the workspace's plan (billing's API requests per minute, scaled to
the limiter's window) unless the operator set `RATELIMIT_API_PER_WINDOW`, which then applies to
every workspace (an emergency brake, and how tests pin a budget). The answers budget and the
model-call cap are operator settings. The plan is read through the two-level cache of hot
reads (billing/entitlements/cache.py), which every process forgets when the subscription
changes.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import RateLimitSettings
from tenancy.ratelimit.policy import PlanLimits

UNLIMITED = 1_000_000


async def workspace_limits(
    session: AsyncSession, workspace_id: uuid.UUID, settings: RateLimitSettings
) -> PlanLimits:
    """The workspace's API and answer budgets per window and its concurrent model-call cap.

    Runs in the request's transaction with the workspace already set as the tenant.
    """
    api = settings.api_per_window
    if api is None:
        from billing.entitlements.cache import plan_limits

        per_minute = (await plan_limits(session, workspace_id)).api_requests_per_minute
        # An unlimited plan still gets a budget, so a runaway client cannot monopolise Redis
        # and the database: far above what a plan sells.
        api = UNLIMITED if per_minute is None else max(1, per_minute * settings.window_s // 60)
    return PlanLimits(
        api_per_window=api,
        answers_per_window=settings.answers_per_window,
        concurrent_model_calls=settings.concurrent_model_calls,
        window_s=settings.window_s,
    )
