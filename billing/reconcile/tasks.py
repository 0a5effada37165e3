"""arq jobs that fetch from Razorpay and converge: the periodic reconciliation, the
confirmation after a verified Checkout payment, and cancelling a superseded subscription.

Each fetches first, outside any transaction, then applies in a short transaction of its own
scoped to the workspace, so a slow Razorpay never holds a database connection.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from arq import cron

from app.db.tenant import tenant_transaction
from app.errors import ParleyError
from app.jobs import JobBuffer
from app.state import AppState
from billing.payments import repository as payments_repo
from billing.razorpay_client import Gateway, ProviderRejected
from billing.razorpay_entities import OrderEntity, SubscriptionEntity
from billing.reconcile import repository, service
from billing.subscriptions import repository as subscriptions_repo
from billing.subscriptions import service as subscriptions

log = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=5)
MAX_FAILURES = 10


def _grace(state: AppState) -> dt.timedelta:
    return dt.timedelta(seconds=state.settings.billing.grace_period_s)


@dataclass
class Report:
    """What one reconciliation run did."""

    checked: int = 0
    failed: int = 0
    notes: list[str] = field(default_factory=list)


async def reconcile(state: AppState, now: dt.datetime | None = None) -> Report:
    """Fetch every watched subscription and order that is due and converge on it."""
    settings = state.settings.billing
    gateway = Gateway(state.settings.razorpay)
    now = now or dt.datetime.now(dt.UTC)
    report = Report()
    if not gateway.configured:
        return report
    async with state.sessions() as session, session.begin():
        due = await repository.claim_due(session, now, settings.reconcile_batch, LEASE)
    jobs = JobBuffer()
    for item in due:
        report.checked += 1
        entity: SubscriptionEntity | OrderEntity
        try:
            if item.kind == "subscription":
                entity = await gateway.fetch_subscription(item.razorpay_id)
            else:
                entity = await gateway.fetch_order(item.razorpay_id)
        except ParleyError as exc:
            report.failed += 1
            gone = isinstance(exc, ProviderRejected) and item.failures + 1 >= MAX_FAILURES
            async with state.sessions() as session, session.begin():
                if gone:
                    await repository.unwatch(session, item.razorpay_id)
                else:
                    backoff = dt.timedelta(minutes=5 * 2 ** min(item.failures, 6))
                    await repository.checked(
                        session, item.razorpay_id, now, now + backoff, failed=True
                    )
            report.notes.append(f"{item.razorpay_id}: {exc.message}")
            continue
        async with state.sessions() as session, session.begin():
            if isinstance(entity, SubscriptionEntity):
                note = await service.apply_fetched_subscription(
                    session, entity, now, grace=_grace(state), jobs=jobs
                )
                await jobs.stage(session)  # the subscription's workspace is the tenant here
                stale_checkout = entity.status == "created" and now - item.added_at > dt.timedelta(
                    seconds=settings.checkout_watch_s
                )
            else:
                note = await service.apply_fetched_order(session, entity, now)
                stale_checkout = entity.status != "paid" and now - item.added_at > dt.timedelta(
                    seconds=settings.checkout_watch_s
                )
            if stale_checkout:
                await repository.unwatch(session, item.razorpay_id)
                note += "; checkout abandoned, no longer watched"
            else:
                await repository.checked(
                    session,
                    item.razorpay_id,
                    now,
                    now + dt.timedelta(seconds=settings.reconcile_interval_s),
                    failed=False,
                )
        report.notes.append(note)
    await jobs.deliver_from(state)
    return report


async def reconcile_razorpay(ctx: dict[str, Any]) -> str:
    """Cron: converge on Razorpay's view of watched subscriptions and orders."""
    report = await reconcile(ctx["state"])
    if report.checked:
        log.info(
            "reconciled %d razorpay objects (%d failed)",
            report.checked,
            report.failed,
            extra={"notes": report.notes[:20]},
        )
    return f"checked {report.checked}, failed {report.failed}"


async def confirm_payment(ctx: dict[str, Any], workspace_id: str, payment_id: str) -> str:
    """After verifyPayment: fetch the payment (and its subscription) from Razorpay and apply
    what Razorpay says. Runs under the workspace that verified it; a forged pair finds no
    payment row and does nothing."""
    state: AppState = ctx["state"]
    workspace = uuid.UUID(workspace_id)
    async with tenant_transaction(state.sessions, workspace) as session:
        row = await payments_repo.payment_by_razorpay_id(session, workspace, payment_id)
        subscription_id = row.razorpay_subscription_id if row else None
    if row is None:
        return "no such payment in this workspace"
    gateway = Gateway(state.settings.razorpay)
    payment = await gateway.fetch_payment(payment_id)
    subscription = await gateway.fetch_subscription(subscription_id) if subscription_id else None
    jobs = JobBuffer()
    now = dt.datetime.now(dt.UTC)
    async with tenant_transaction(state.sessions, workspace) as session:
        notes = await service.apply_fetched_payment(
            session, workspace, payment, subscription, now, grace=_grace(state), jobs=jobs
        )
        await jobs.stage(session)
    await jobs.deliver_from(ctx["state"], ctx.get("redis"))
    return "; ".join(notes)[:500]


async def cancel_replaced_subscription(
    ctx: dict[str, Any], workspace_id: str, razorpay_subscription_id: str
) -> str:
    """Cancel, at Razorpay, a paid subscription another one replaced (two checkouts both
    paid), so the workspace is not charged twice."""
    state: AppState = ctx["state"]
    workspace = uuid.UUID(workspace_id)
    async with tenant_transaction(state.sessions, workspace) as session:
        held = await subscriptions_repo.get_by_razorpay_id(
            session, workspace, razorpay_subscription_id
        )
        if held is None or held.is_current:
            return "nothing to cancel"
    entity = await Gateway(state.settings.razorpay).cancel_subscription(
        razorpay_subscription_id, at_cycle_end=False
    )
    jobs = JobBuffer()
    async with tenant_transaction(state.sessions, workspace) as session:
        await subscriptions_repo.lock_billing(session, workspace)
        held = await subscriptions_repo.get_by_razorpay_id(
            session, workspace, razorpay_subscription_id
        )
        assert held is not None
        note = await subscriptions.apply_snapshot(
            session, held, entity, dt.datetime.now(dt.UTC), grace=_grace(state), jobs=jobs
        )
        await jobs.stage(session)
    await jobs.deliver_from(ctx["state"], ctx.get("redis"))
    return note


FUNCTIONS = [reconcile_razorpay, confirm_payment, cancel_replaced_subscription]
CRON_JOBS = [cron(reconcile_razorpay, minute={0, 10, 20, 30, 40, 50}, second=0)]
