"""Converging on what Razorpay holds, one fetched object at a time (inside a transaction
the caller owns; the fetch itself happens before, outside any transaction)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.tenant import set_tenant
from app.jobs import JobBuffer
from billing.payments import repository as payments_repo
from billing.payments import service as payments
from billing.razorpay_entities import OrderEntity, PaymentEntity, SubscriptionEntity
from billing.reconcile import repository
from billing.subscriptions import repository as subscriptions_repo
from billing.subscriptions import service as subscriptions
from billing.webhooks import repository as ledger


async def apply_fetched_subscription(
    session: AsyncSession,
    entity: SubscriptionEntity,
    now: dt.datetime,
    *,
    grace: dt.timedelta,
    jobs: JobBuffer,
) -> str:
    """Apply a subscription fetched from Razorpay at `now` (a snapshot newer than any event
    sent before it). An id no workspace holds any more is dropped from the watchlist."""
    await set_tenant(session, None)
    found = await ledger.workspaces_for(session, "subscription", entity.id)
    if len(found) != 1:
        await repository.unwatch(session, entity.id)
        return f"{entity.id}: held by {len(found)} workspaces; no longer watched"
    workspace_id = found[0]
    await set_tenant(session, workspace_id)
    await subscriptions_repo.lock_billing(session, workspace_id)
    subscription = await subscriptions_repo.get_by_razorpay_id(session, workspace_id, entity.id)
    assert subscription is not None
    note = await subscriptions.apply_snapshot(
        session, subscription, entity, now, grace=grace, jobs=jobs
    )
    return f"{entity.id}: {note}"


async def apply_fetched_order(session: AsyncSession, entity: OrderEntity, now: dt.datetime) -> str:
    """Apply an order fetched from Razorpay: a paid order grants its top-up (once)."""
    await set_tenant(session, None)
    found = await ledger.workspaces_for(session, "order", entity.id)
    if len(found) != 1:
        await repository.unwatch(session, entity.id)
        return f"{entity.id}: held by {len(found)} workspaces; no longer watched"
    workspace_id = found[0]
    await set_tenant(session, workspace_id)
    await subscriptions_repo.lock_billing(session, workspace_id)
    order = await payments_repo.order_by_razorpay_id(session, workspace_id, entity.id, lock=True)
    assert order is not None
    if entity.status == "paid":
        return await payments.mark_order_paid(session, order, now, source="fetch")
    return f"{entity.id}: still {entity.status}"


async def apply_fetched_payment(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    payment: PaymentEntity,
    subscription: SubscriptionEntity | None,
    now: dt.datetime,
    *,
    grace: dt.timedelta,
    jobs: JobBuffer,
) -> list[str]:
    """Apply a payment (and its subscription) fetched to confirm a verified Checkout payment.
    The caller has set the tenant to the workspace that verified it."""
    await subscriptions_repo.lock_billing(session, workspace_id)
    row = await payments_repo.payment_by_razorpay_id(session, workspace_id, payment.id, lock=True)
    if row is None:
        return [f"payment {payment.id} is not this workspace's"]
    notes = [
        await payments.record_payment(
            session, workspace_id, payment, subscription_id=row.razorpay_subscription_id
        )
    ]
    if row.razorpay_order_id:
        order = await payments_repo.order_by_razorpay_id(
            session, workspace_id, row.razorpay_order_id, lock=True
        )
        if (
            order is not None
            and payment.status == "captured"
            and payment.order_id == order.razorpay_order_id
            and payment.amount >= order.amount_minor
        ):
            notes.append(await payments.mark_order_paid(session, order, now, source="fetch"))
    if subscription is not None and row.razorpay_subscription_id == subscription.id:
        held = await subscriptions_repo.get_by_razorpay_id(session, workspace_id, subscription.id)
        if held is not None:
            notes.append(
                await subscriptions.apply_snapshot(
                    session, held, subscription, now, grace=grace, jobs=jobs
                )
            )
    return notes
