"""Subscription rules: one current subscription per workspace, free by default; checkout,
cancellation and plan changes through Razorpay; snapshots from Razorpay applied forward-only.

A paid subscription never becomes current because a browser said so: only a snapshot from
Razorpay (a verified webhook, or our own fetch or API call) moves it, through
`apply_snapshot`.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.cache.commit import invalidate_after_commit
from app.config import BillingSettings
from app.db.ids import uuid7
from app.errors import Conflict, ValidationFailed
from app.jobs import QUEUE_INTERACTIVE, JobBuffer
from billing.mirror import mirror
from billing.plans import repository as plans_repo
from billing.plans import service as plans
from billing.plans.models import Plan
from billing.razorpay_client import Gateway
from billing.razorpay_entities import SubscriptionEntity
from billing.reconcile import repository as watchlist
from billing.subscriptions import repository
from billing.subscriptions.models import Subscription
from billing.subscriptions.state import ENDED, LIVE, PAST_DUE, Position, judge
from tenancy.accounts import repository as accounts_repo
from tenancy.audit import service as audit
from tenancy.principal import Principal, Role

log = logging.getLogger(__name__)

CACHE_KEY = "billing.current_plan"
# The two-level cache of the limits in force per workspace (billing/entitlements/cache.py).
LIMITS_CACHE = "plan"
# A checkout left open is reused for this long rather than creating another subscription.
OPEN_CHECKOUT_REUSE = dt.timedelta(hours=23)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class CurrentPlan:
    """A workspace's current subscription, the plan version it is on, and the plan whose
    limits apply now (the free plan while a payment is overdue past its grace period, or the
    subscription is paused)."""

    subscription: Subscription | None
    plan: Plan
    effective: Plan
    grace_ends_at: dt.datetime | None
    downgraded_because: str | None


def forget(session: AsyncSession, workspace_id: uuid.UUID) -> None:
    """Drop the cached current plan after a change (see `current_plan`): from this
    transaction's memo now, and from every process's hot cache once it commits."""
    cache = session.info.get(CACHE_KEY)
    if isinstance(cache, dict):
        cache.pop(workspace_id, None)
    invalidate_after_commit(session, LIMITS_CACHE, str(workspace_id))


def _effective(
    subscription: Subscription, plan: Plan, free: Plan, now: dt.datetime
) -> tuple[Plan, str | None]:
    status = subscription.status
    if status == "active":
        return plan, None
    if status in PAST_DUE:
        if subscription.grace_ends_at is not None and now < subscription.grace_ends_at:
            return plan, None
        return free, "a payment is overdue and the grace period has ended"
    if status == "paused":
        return free, "the subscription is paused"
    return free, f"the subscription is {status}"


async def current_plan(
    session: AsyncSession, workspace_id: uuid.UUID, now: dt.datetime | None = None
) -> CurrentPlan:
    """The workspace's current plan. A workspace without a subscription row (none should
    exist: the migration backfilled and creation adds one) is treated as free, consistently.

    Cached on the session for its transaction, keyed by workspace (only when `now` is not
    given), so several quota checks in one request cost one query."""
    cache = session.info.setdefault(CACHE_KEY, {})
    if now is None and workspace_id in cache:
        cached: CurrentPlan = cache[workspace_id]
        return cached
    at = now or _now()
    free = await plans.free_plan(session)
    found = await repository.current_with_plan(session, workspace_id)
    if found is None:
        result = CurrentPlan(None, free, free, None, None)
    else:
        subscription, plan = found
        effective, why = _effective(subscription, plan, free, at)
        grace = subscription.grace_ends_at if subscription.status in PAST_DUE else None
        result = CurrentPlan(subscription, plan, effective, grace, why)
    if now is None:
        cache[workspace_id] = result
    return result


async def start_free(session: AsyncSession, workspace_id: uuid.UUID) -> Subscription:
    """Put a new workspace on the free plan (called when the workspace is created, in the
    same transaction)."""
    free = await plans.free_plan(session)
    subscription = Subscription(
        workspace_id=workspace_id,
        id=uuid7(),
        plan_id=free.id,
        status="active",
        is_current=True,
        activated_at=_now(),
    )
    await repository.insert(session, subscription)
    forget(session, workspace_id)
    return subscription


async def has_live_paid_subscription(session: AsyncSession, workspace_id: uuid.UUID) -> bool:
    """True while Razorpay may still charge the workspace (so deleting it must wait)."""
    found = await repository.current_with_plan(session, workspace_id)
    if found is None:
        return False
    subscription, _ = found
    return subscription.razorpay_subscription_id is not None and subscription.status not in ENDED


# --- applying what Razorpay says -------------------------------------------------------------


async def _sync_plan(
    session: AsyncSession,
    subscription: Subscription,
    snapshot: SubscriptionEntity,
    values: dict[str, object],
) -> str | None:
    """Follow a plan change Razorpay reports (one we scheduled, or made elsewhere)."""
    plan = await plans_repo.get(session, subscription.plan_id)
    if plan is not None and plan.razorpay_plan_id == snapshot.plan_id:
        return None
    if subscription.scheduled_plan_id is not None:
        scheduled = await plans_repo.get(session, subscription.scheduled_plan_id)
        if scheduled is not None and scheduled.razorpay_plan_id == snapshot.plan_id:
            values.update(plan_id=scheduled.id, scheduled_plan_id=None, scheduled_change_at=None)
            return f"plan changed to {scheduled.code} v{scheduled.version}"
    other = await plans_repo.by_razorpay_plan_id(session, snapshot.plan_id)
    if other is None:
        return f"Razorpay plan {snapshot.plan_id} is not in the catalogue; plan kept"
    values["plan_id"] = other.id
    return f"plan changed to {other.code} v{other.version}"


async def _snapshot_values(
    session: AsyncSession,
    subscription: Subscription,
    snapshot: SubscriptionEntity,
    at: dt.datetime,
    grace: dt.timedelta,
) -> tuple[str, dict[str, object], list[str]]:
    """The status a snapshot leaves the row in, the columns to write, and notes."""
    verdict = judge(
        Position(subscription.status, subscription.paid_count, subscription.provider_synced_at),
        Position(snapshot.status, snapshot.paid_count, at),
    )
    notes = [verdict.reason]
    values: dict[str, object] = {}
    # Counts and periods only grow, whichever snapshot carries them.
    if snapshot.paid_count > subscription.paid_count:
        values["paid_count"] = snapshot.paid_count
    if snapshot.current_end is not None and (
        subscription.current_period_end is None
        or snapshot.current_end > subscription.current_period_end
    ):
        values["current_period_start"] = snapshot.current_start
        values["current_period_end"] = snapshot.current_end
    status = snapshot.status if verdict.take_status else subscription.status
    if status != subscription.status:
        values["status"] = status
    if verdict.newer:
        values["provider_synced_at"] = at
        if snapshot.short_url:
            values["checkout_url"] = snapshot.short_url
        if status not in ENDED:
            notes += await _schedule_values(session, subscription, snapshot, values)
    if status in PAST_DUE and subscription.past_due_since is None:
        values.update(past_due_since=at, grace_ends_at=at + grace)
        notes.append(f"payment overdue; paid limits kept until {at + grace:%Y-%m-%d %H:%M} UTC")
    elif status == "active" and subscription.past_due_since is not None:
        values.update(past_due_since=None, grace_ends_at=None)
    if status in ENDED and subscription.ended_at is None:
        values.update(
            ended_at=snapshot.ended_at or at,
            cancel_at_period_end=False,
            scheduled_plan_id=None,
            scheduled_change_at=None,
        )
    return status, values, notes


async def _schedule_values(
    session: AsyncSession,
    subscription: Subscription,
    snapshot: SubscriptionEntity,
    values: dict[str, object],
) -> list[str]:
    """Plan and scheduled-change columns from a snapshot newer than what we hold."""
    notes = []
    note = await _sync_plan(session, subscription, snapshot, values)
    if note:
        notes.append(note)
    if snapshot.has_scheduled_changes:
        values["scheduled_change_at"] = snapshot.change_scheduled_at
    elif subscription.scheduled_plan_id is not None and "plan_id" not in values:
        values.update(scheduled_plan_id=None, scheduled_change_at=None)
        notes.append("scheduled plan change no longer pending")
    return notes


async def apply_snapshot(
    session: AsyncSession,
    subscription: Subscription,
    snapshot: SubscriptionEntity,
    at: dt.datetime,
    *,
    grace: dt.timedelta,
    jobs: JobBuffer,
) -> str:
    """Converge our row on a Razorpay snapshot taken at `at` (an event's time, or now for a
    fetch), moving only forward (see billing/subscriptions/state.py). The caller holds the
    workspace's billing lock and the row (`repository.lock_billing`, `get_by_razorpay_id`).
    Returns a note of what happened, for the webhook ledger."""
    workspace_id = subscription.workspace_id
    status, values, notes = await _snapshot_values(session, subscription, snapshot, at, grace)
    if values:
        await repository.update_fields(session, workspace_id, subscription.id, **values)
        mirror(subscription, **values)
    if status in LIVE and not subscription.is_current:
        notes.append(await _make_current(session, subscription, at, jobs))
    elif status in ENDED and subscription.is_current:
        await _fall_back_to_free(session, subscription)
        notes.append("workspace back on the free plan")
    if subscription.razorpay_subscription_id:
        if status in ENDED:
            await watchlist.unwatch(session, subscription.razorpay_subscription_id)
        else:
            await watchlist.watch(session, subscription.razorpay_subscription_id, "subscription")
    forget(session, workspace_id)
    return "; ".join(notes)


def _cancel_later(jobs: JobBuffer, workspace_id: uuid.UUID, subscription: Subscription) -> None:
    jobs.add(
        "cancel_replaced_subscription",
        str(workspace_id),
        subscription.razorpay_subscription_id,
        job_id=f"billing:cancel-replaced:{subscription.razorpay_subscription_id}",
        queue=QUEUE_INTERACTIVE,
    )


async def _make_current(
    session: AsyncSession, subscription: Subscription, at: dt.datetime, jobs: JobBuffer
) -> str:
    workspace_id = subscription.workspace_id
    previous = await repository.get_current(session, workspace_id, lock=True)
    note = "now the current subscription"
    if (
        previous is not None
        and previous.id != subscription.id
        and previous.razorpay_subscription_id is not None
        and previous.status in LIVE
        and previous.created_at > subscription.created_at
    ):
        # Two paid subscriptions live at once (two checkouts, both paid): the newer checkout
        # wins whatever order Razorpay reports them in, and the older one is cancelled. This
        # also keeps a reconciliation of the older one from taking the workspace back.
        _cancel_later(jobs, workspace_id, subscription)
        return (
            "a newer paid subscription is current; "
            f"{subscription.razorpay_subscription_id} will be cancelled"
        )
    if previous is not None and previous.id != subscription.id:
        if previous.razorpay_subscription_id is None:
            await repository.update_fields(
                session,
                workspace_id,
                previous.id,
                is_current=False,
                status="replaced",
                ended_at=at,
            )
            mirror(previous, is_current=False, status="replaced", ended_at=at)
        else:
            # Another paid subscription was live (two checkouts both paid): it must stop
            # charging. Cancel it at Razorpay after commit; its cancellation webhook ends it.
            await repository.update_fields(session, workspace_id, previous.id, is_current=False)
            mirror(previous, is_current=False)
            if previous.status not in ENDED:
                _cancel_later(jobs, workspace_id, previous)
                note += f"; replaced {previous.razorpay_subscription_id}, which will be cancelled"
    await repository.update_fields(
        session,
        workspace_id,
        subscription.id,
        is_current=True,
        activated_at=subscription.activated_at or at,
    )
    mirror(subscription, is_current=True, activated_at=subscription.activated_at or at)
    return note


async def _fall_back_to_free(session: AsyncSession, subscription: Subscription) -> None:
    await repository.update_fields(
        session, subscription.workspace_id, subscription.id, is_current=False
    )
    mirror(subscription, is_current=False)
    await start_free(session, subscription.workspace_id)


# --- what owners and admins do ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkout:
    """What Razorpay Checkout needs in the browser for a subscription."""

    subscription: Subscription
    plan: Plan
    key_id: str
    razorpay_subscription_id: str
    name: str
    description: str
    prefill_email: str | None
    prefill_name: str | None
    short_url: str | None


async def start_checkout(
    session: AsyncSession,
    principal: Principal,
    gateway: Gateway,
    settings: BillingSettings,
    *,
    plan_id: uuid.UUID,
) -> Checkout:
    """Create (or reuse) a Razorpay subscription for a paid plan and return what Checkout
    needs. Nothing changes for the workspace until Razorpay reports the subscription live."""
    workspace_id = principal.require_role(Role.ADMIN)
    plan = await plans.plan_for_purchase(session, plan_id, field="planId")
    await repository.lock_billing(session, workspace_id)
    current = await current_plan(session, workspace_id)
    held = current.subscription
    if held is not None and held.razorpay_subscription_id and held.status in LIVE:
        raise Conflict(
            f"The workspace already pays for {current.plan.name}; use changePlan to switch.",
            field="planId",
        )
    subscription = await repository.find_open_checkout(
        session, workspace_id, plan.id, _now() - OPEN_CHECKOUT_REUSE
    )
    if subscription is None:
        assert plan.razorpay_plan_id is not None
        entity = await gateway.create_subscription(
            plan_id=plan.razorpay_plan_id,
            total_count=settings.subscription_total_count,
            # Notes are for people reading Razorpay's dashboard; we never map events by them.
            notes={"workspace_id": str(workspace_id), "plan": f"{plan.code} v{plan.version}"},
        )
        subscription = Subscription(
            workspace_id=workspace_id,
            id=uuid7(),
            plan_id=plan.id,
            status=entity.status if entity.status in ("created", "authenticated") else "created",
            is_current=False,
            razorpay_subscription_id=entity.id,
            checkout_url=entity.short_url,
            created_by=principal.user_id,
        )
        await repository.insert(session, subscription)
        await watchlist.watch(session, entity.id, "subscription")
        await audit.record(
            session,
            principal,
            "billing.checkout_started",
            target_type="subscription",
            target_id=subscription.id,
            details={"plan": plan.code, "version": plan.version, "razorpay_id": entity.id},
        )
    user = await accounts_repo.get_user(session, principal.user_id) if principal.user_id else None
    assert subscription.razorpay_subscription_id is not None
    return Checkout(
        subscription=subscription,
        plan=plan,
        key_id=gateway.key_id,
        razorpay_subscription_id=subscription.razorpay_subscription_id,
        name=settings.checkout_name,
        description=f"{plan.name} plan",
        prefill_email=user.email if user else None,
        prefill_name=user.display_name if user else None,
        short_url=subscription.checkout_url,
    )


async def _paid_current(
    session: AsyncSession, workspace_id: uuid.UUID
) -> tuple[Subscription, Plan]:
    found = await repository.current_with_plan(session, workspace_id)
    if found is None or found[0].razorpay_subscription_id is None or found[0].status in ENDED:
        raise Conflict("The workspace has no paid subscription.")
    return found


async def cancel(
    session: AsyncSession,
    principal: Principal,
    gateway: Gateway,
    settings: BillingSettings,
    jobs: JobBuffer,
    *,
    at_period_end: bool,
) -> CurrentPlan:
    """Cancel the paid subscription at Razorpay, now or when the paid period ends (the
    workspace then returns to the free plan, keeping its data)."""
    workspace_id = principal.require_role(Role.ADMIN)
    await repository.lock_billing(session, workspace_id)
    subscription, _ = await _paid_current(session, workspace_id)
    assert subscription.razorpay_subscription_id is not None
    if not (at_period_end and subscription.cancel_at_period_end):
        entity = await gateway.cancel_subscription(
            subscription.razorpay_subscription_id, at_cycle_end=at_period_end
        )
        await apply_snapshot(
            session,
            subscription,
            entity,
            _now(),
            grace=dt.timedelta(seconds=settings.grace_period_s),
            jobs=jobs,
        )
        if at_period_end and entity.status not in ENDED:
            await repository.update_fields(
                session, workspace_id, subscription.id, cancel_at_period_end=True
            )
            mirror(subscription, cancel_at_period_end=True)
        await audit.record(
            session,
            principal,
            "billing.subscription_cancelled",
            target_type="subscription",
            target_id=subscription.id,
            details={"at_period_end": at_period_end},
        )
    forget(session, workspace_id)
    return await current_plan(session, workspace_id)


async def change_plan(
    session: AsyncSession,
    principal: Principal,
    gateway: Gateway,
    settings: BillingSettings,
    jobs: JobBuffer,
    *,
    plan_id: uuid.UUID,
    at_period_end: bool,
) -> CurrentPlan:
    """Move the paid subscription to another paid plan, now (Razorpay prorates) or at the
    end of the period. To go back to free, cancel instead."""
    workspace_id = principal.require_role(Role.ADMIN)
    target = await plans.plan_for_purchase(session, plan_id, field="planId")
    await repository.lock_billing(session, workspace_id)
    subscription, plan = await _paid_current(session, workspace_id)
    assert subscription.razorpay_subscription_id is not None
    assert target.razorpay_plan_id is not None
    if subscription.status != "active":
        raise Conflict(
            f"Only an active subscription can change plan (this one is {subscription.status})."
        )
    if subscription.cancel_at_period_end:
        raise Conflict("The subscription is set to end with this period; start a new checkout.")
    if target.id == plan.id:
        raise Conflict(f"The workspace is already on {plan.name}.", field="planId")
    if target.currency != plan.currency:
        raise ValidationFailed("The new plan must be billed in the same currency.", field="planId")
    entity = await gateway.change_plan(
        subscription.razorpay_subscription_id,
        plan_id=target.razorpay_plan_id,
        at_cycle_end=at_period_end,
    )
    # Name the version we asked for, so the snapshot's Razorpay plan id maps to exactly it.
    await repository.update_fields(
        session,
        workspace_id,
        subscription.id,
        scheduled_plan_id=target.id,
        scheduled_change_at=subscription.current_period_end if at_period_end else None,
    )
    mirror(
        subscription,
        scheduled_plan_id=target.id,
        scheduled_change_at=subscription.current_period_end if at_period_end else None,
    )
    await apply_snapshot(
        session,
        subscription,
        entity,
        _now(),
        grace=dt.timedelta(seconds=settings.grace_period_s),
        jobs=jobs,
    )
    await audit.record(
        session,
        principal,
        "billing.plan_changed",
        target_type="subscription",
        target_id=subscription.id,
        details={
            "from": f"{plan.code} v{plan.version}",
            "to": f"{target.code} v{target.version}",
            "at_period_end": at_period_end,
        },
    )
    forget(session, workspace_id)
    return await current_plan(session, workspace_id)


async def scheduled_plan(session: AsyncSession, subscription: Subscription | None) -> Plan | None:
    """The plan version a scheduled change will move to, if any."""
    if subscription is None or subscription.scheduled_plan_id is None:
        return None
    return await plans_repo.get(session, subscription.scheduled_plan_id)
