"""SQL for subscriptions. Row-level security scopes every statement to the current workspace."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing.plans.models import Plan
from billing.subscriptions.models import Subscription

_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended('billing:' || :workspace_id, 0))")


async def lock_billing(session: AsyncSession, workspace_id: uuid.UUID) -> None:
    """Serialise billing state changes of one workspace until the transaction ends (webhook
    jobs, reconciliation and mutations may touch the same subscription at once)."""
    await session.execute(_LOCK, {"workspace_id": str(workspace_id)})


async def insert(session: AsyncSession, subscription: Subscription) -> None:
    """Add a subscription row."""
    session.add(subscription)
    await session.flush()


async def current_with_plan(
    session: AsyncSession, workspace_id: uuid.UUID
) -> tuple[Subscription, Plan] | None:
    """The workspace's current subscription and the plan version it is on."""
    row = (
        await session.execute(
            select(Subscription, Plan)
            .join(Plan, Plan.id == Subscription.plan_id)
            .where(Subscription.workspace_id == workspace_id, Subscription.is_current)
            .execution_options(populate_existing=True)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def get_current(
    session: AsyncSession, workspace_id: uuid.UUID, *, lock: bool = False
) -> Subscription | None:
    """The current subscription, optionally locked."""
    query = select(Subscription).where(
        Subscription.workspace_id == workspace_id, Subscription.is_current
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


async def get_by_razorpay_id(
    session: AsyncSession, workspace_id: uuid.UUID, razorpay_subscription_id: str
) -> Subscription | None:
    """A subscription by its Razorpay id, locked for an update."""
    return await session.scalar(
        select(Subscription)
        .where(
            Subscription.workspace_id == workspace_id,
            Subscription.razorpay_subscription_id == razorpay_subscription_id,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def find_open_checkout(
    session: AsyncSession, workspace_id: uuid.UUID, plan_id: uuid.UUID, since: dt.datetime
) -> Subscription | None:
    """A subscription to `plan_id` created since `since` and still awaiting payment."""
    return await session.scalar(
        select(Subscription)
        .where(
            Subscription.workspace_id == workspace_id,
            Subscription.plan_id == plan_id,
            Subscription.status.in_(("created", "authenticated")),
            Subscription.created_at >= since,
        )
        .order_by(Subscription.created_at.desc())
        .limit(1)
    )


async def update_fields(
    session: AsyncSession, workspace_id: uuid.UUID, subscription_id: uuid.UUID, **values: Any
) -> None:
    """Write columns of one subscription (and its updated_at)."""
    await session.execute(
        update(Subscription)
        .where(Subscription.workspace_id == workspace_id, Subscription.id == subscription_id)
        .values(**values, updated_at=func.now())
        .execution_options(synchronize_session=False)
    )


async def list_for_workspace(session: AsyncSession, workspace_id: uuid.UUID) -> list[Subscription]:
    """Every subscription of the workspace, newest first (for operators and tests)."""
    return list(
        await session.scalars(
            select(Subscription)
            .where(Subscription.workspace_id == workspace_id)
            .order_by(Subscription.created_at.desc(), Subscription.id.desc())
        )
    )
