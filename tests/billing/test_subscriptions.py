"""Checkout, verification, the forward-only state machine, grace periods, cancellation, plan
changes and reconciliation, against the local Razorpay with a real worker."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import uuid
from typing import Any

from app.db.tenant import tenant_transaction
from billing.entitlements import service as entitlements
from billing.entitlements.limits import Limit
from billing.reconcile import tasks as reconcile_tasks
from tests.billing.conftest import GRACE_S, KEY_ID, Billing
from tests.billing.helpers import plan_id, start_checkout, subscribe, ws
from tests.support.factories import Factory, Tenant
from tests.support.razorpay_server import rzp_id


async def _sub_row(billing: Billing, sub_id: str) -> Any:
    return await billing.db.fetchrow(
        "SELECT s.*, p.code AS plan_code FROM subscriptions s JOIN plans p ON p.id = s.plan_id "
        "WHERE s.razorpay_subscription_id = $1",
        sub_id,
    )


async def test_checkout_returns_what_razorpay_checkout_needs(
    factory: Factory, billing: Billing
) -> None:
    tenant = await factory.tenant("Checkout")
    pid = await plan_id(tenant.gql, "pro")
    first = (await tenant.gql.op("StartCheckout", {"input": {"planId": pid}})).data["startCheckout"]
    checkout = first["checkout"]
    assert checkout["key"] == KEY_ID
    assert checkout["subscriptionId"].startswith("sub_") and checkout["orderId"] is None
    assert checkout["prefillEmail"] == tenant.owner.email
    assert checkout["shortUrl"].startswith("https://rzp.io/")
    assert billing.razorpay.subscriptions[checkout["subscriptionId"]]["plan_id"] == (
        "plan_PrlyPro00000001"
    )
    # Opening checkout again reuses the open subscription instead of creating another.
    created_before = billing.razorpay.count("POST", "/v1/subscriptions")
    again = (await tenant.gql.op("StartCheckout", {"input": {"planId": pid}})).data
    assert again["startCheckout"]["checkout"]["subscriptionId"] == checkout["subscriptionId"]
    assert billing.razorpay.count("POST", "/v1/subscriptions") == created_before
    # Nothing is granted yet.
    assert (await billing.current(ws(tenant)))["plan_code"] == "free"


async def test_checkout_input_is_validated(factory: Factory, billing: Billing) -> None:
    tenant = await factory.tenant("Bad checkout")
    free = await plan_id(tenant.gql, "free")
    assert (await tenant.gql.op("StartCheckout", {"input": {"planId": free}})).code == "VALIDATION"
    bogus = await tenant.gql.op("StartCheckout", {"input": {"planId": "not-an-id"}})
    assert bogus.code == "VALIDATION" and bogus.errors[0]["extensions"]["field"] == "planId"
    member_account, member_gql = await factory.member(tenant)
    starter = await plan_id(tenant.gql, "starter")
    denied = await member_gql.op("StartCheckout", {"input": {"planId": starter}})
    assert denied.code == "FORBIDDEN"
    anonymous = await tenant.gql.as_(None).op("StartCheckout", {"input": {"planId": starter}})
    assert anonymous.code == "UNAUTHENTICATED"
    assert member_account.email


async def test_razorpay_down_during_checkout_is_unavailable_and_leaves_nothing(
    factory: Factory, billing: Billing
) -> None:
    tenant = await factory.tenant("Razorpay down")
    billing.razorpay.fail_next = 1
    result = await tenant.gql.op(
        "StartCheckout", {"input": {"planId": await plan_id(tenant.gql, "starter")}}
    )
    assert result.code == "UNAVAILABLE"
    assert len(await billing.subscriptions(ws(tenant))) == 1


async def test_verify_payment_records_pending_and_grants_nothing_until_razorpay_confirms(
    factory: Factory, billing: Billing
) -> None:
    tenant = await factory.tenant("Verify")
    sub_id = await start_checkout(tenant)
    payment, _ = billing.razorpay.charge(sub_id)
    signature = billing.razorpay.checkout_signature(payment["id"], subscription_id=sub_id)
    result = await tenant.gql.op(
        "VerifyPayment",
        {"input": {"paymentId": payment["id"], "signature": signature, "subscriptionId": sub_id}},
    )
    verified = result.data["verifyPayment"]["payment"]
    assert (verified["status"], verified["purpose"]) == ("PENDING_CONFIRMATION", "SUBSCRIPTION")
    # The browser's word alone changes nothing.
    assert (await billing.current(ws(tenant)))["plan_code"] == "free"
    # The queued confirmation fetches the payment and the subscription from Razorpay.
    fetches = billing.razorpay.count("GET", "/v1/payments/")
    await billing.drain()
    assert billing.razorpay.count("GET", "/v1/payments/") == fetches + 1
    current = await billing.current(ws(tenant))
    assert (current["plan_code"], current["status"]) == ("starter", "active")
    payments = (await tenant.gql.op("Payments")).data["payments"]["edges"]
    assert [(p["node"]["razorpayPaymentId"], p["node"]["status"]) for p in payments] == [
        (payment["id"], "CAPTURED")
    ]


async def test_verify_payment_rejects_bad_signatures_and_foreign_ids(
    factory: Factory, billing: Billing
) -> None:
    tenant = await factory.tenant("Verify bad")
    other = await factory.tenant("Verify other")
    sub_id = await start_checkout(tenant)
    other_sub = await start_checkout(other)
    payment, _ = billing.razorpay.charge(sub_id)
    good = billing.razorpay.checkout_signature(payment["id"], subscription_id=sub_id)

    async def verify(t: Tenant, **values: str) -> Any:
        return await t.gql.op("VerifyPayment", {"input": values})

    wrong = await verify(tenant, paymentId=payment["id"], signature="0" * 64, subscriptionId=sub_id)
    assert wrong.code == "VALIDATION" and wrong.errors[0]["extensions"]["field"] == "signature"
    # A valid signature for one subscription does not verify a payment against another.
    swapped = await verify(
        tenant, paymentId=payment["id"], signature=good, subscriptionId=other_sub
    )
    assert swapped.code == "NOT_FOUND"
    # Another workspace cannot verify this workspace's payment.
    foreign = await verify(other, paymentId=payment["id"], signature=good, subscriptionId=sub_id)
    assert foreign.code == "NOT_FOUND"
    malformed = await verify(tenant, paymentId="pay'; drop", signature=good, subscriptionId=sub_id)
    assert malformed.code == "VALIDATION"
    both = await verify(
        tenant, paymentId=payment["id"], signature=good, subscriptionId=sub_id, orderId="order_X"
    )
    assert both.code == "VALIDATION"
    assert (
        await billing.db.fetchval(
            "SELECT count(*) FROM billing_payments WHERE razorpay_payment_id = $1", payment["id"]
        )
        == 0
    )


def _lifecycle(billing: Billing, sub_id: str, *, cancel: bool) -> list[dict[str, Any]]:
    """The events Razorpay sends over a subscription's life, each a snapshot of its time."""
    rp = billing.razorpay
    t0 = 1_800_000_000
    events = [rp.subscription_event("subscription.authenticated", sub_id, created_at=t0)]
    pay1, _ = rp.charge(sub_id)
    events += [
        rp.subscription_event("subscription.activated", sub_id, created_at=t0 + 10),
        rp.subscription_event("subscription.charged", sub_id, payment=pay1, created_at=t0 + 11),
    ]
    failed = rp.fail_charge(sub_id)
    events.append(
        rp.subscription_event("subscription.pending", sub_id, payment=failed, created_at=t0 + 100)
    )
    pay2, _ = rp.charge(sub_id)
    events.append(
        rp.subscription_event("subscription.charged", sub_id, payment=pay2, created_at=t0 + 200)
    )
    if cancel:
        rp.set_status(sub_id, "cancelled")
        events.append(rp.subscription_event("subscription.cancelled", sub_id, created_at=t0 + 300))
    return events


async def test_shuffled_events_converge_on_the_same_state(
    factory: Factory, billing: Billing
) -> None:
    outcomes = set()
    rng = random.Random(20261122)
    for cancel, run in itertools.product((False, True), range(3)):
        tenant = await factory.tenant(f"Shuffle {cancel} {run}")
        sub_id = await start_checkout(tenant)
        events = _lifecycle(billing, sub_id, cancel=cancel)
        rng.shuffle(events)
        for event in events:
            assert (await billing.deliver(event)).status_code == 200
            await billing.drain()  # one at a time, in the shuffled order
        row = await _sub_row(billing, sub_id)
        current = await billing.current(ws(tenant))
        invoices = await billing.db.fetchval(
            "SELECT count(*) FROM billing_invoices WHERE workspace_id = $1", ws(tenant)
        )
        outcomes.add(
            (
                cancel,
                row["status"],
                row["paid_count"],
                row["past_due_since"] is None,
                current["plan_code"],
                invoices,
            )
        )
    assert outcomes == {
        (False, "active", 2, True, "starter", 2),
        (True, "cancelled", 2, True, "free", 2),
    }


async def test_charged_before_activated_still_ends_active(
    factory: Factory, billing: Billing
) -> None:
    tenant = await factory.tenant("Charged first")
    sub_id = await start_checkout(tenant)
    payment, _ = billing.razorpay.charge(sub_id)
    rp = billing.razorpay
    charged = rp.subscription_event("subscription.charged", sub_id, payment=payment, created_at=50)
    activated = rp.subscription_event("subscription.activated", sub_id, created_at=49)
    authenticated = rp.subscription_event("subscription.authenticated", sub_id, created_at=40)
    for event in (charged, activated, authenticated):
        await billing.deliver(event)
        await billing.drain()
    row = await _sub_row(billing, sub_id)
    assert (row["status"], row["is_current"]) == ("active", True)
    invoices = (await tenant.gql.op("Invoices")).data["invoices"]["edges"]
    assert [i["node"]["status"] for i in invoices] == ["PAID"]
    assert invoices[0]["node"]["amount"] == {"amountMinor": 149900, "currency": "INR"}


async def test_grace_period_then_free_limits_without_losing_data(
    factory: Factory, billing: Billing
) -> None:
    tenant = await factory.tenant("Overdue")
    sub_id, _ = await subscribe(tenant, billing, "pro")
    workspace = ws(tenant)
    await tenant.gql.op("InviteMember", {"input": {"email": "kept@example.com"}})
    failed = billing.razorpay.fail_charge(sub_id)
    pending = billing.razorpay.subscription_event("subscription.pending", sub_id, payment=failed)
    await billing.deliver(pending)
    await billing.drain()
    sub = (await tenant.gql.op("CurrentSubscription")).data["subscription"]
    assert sub["status"] == "PENDING" and sub["effectivePlan"]["code"] == "pro"
    grace_end = dt.datetime.fromisoformat(sub["graceEndsAt"])
    since = dt.datetime.fromisoformat(sub["pastDueSince"])
    assert grace_end - since == dt.timedelta(seconds=GRACE_S)
    payments = (await tenant.gql.op("Payments")).data["payments"]["edges"]
    failed_row = next(p["node"] for p in payments if p["node"]["razorpayPaymentId"] == failed["id"])
    assert failed_row["status"] == "FAILED"
    assert "insufficient funds" in failed_row["errorDescription"]

    async with tenant_transaction(billing.state.sessions, workspace) as session:
        during = await entitlements.plan_limits(session, workspace, grace_end - dt.timedelta(1))
        after = await entitlements.plan_limits(session, workspace, grace_end + dt.timedelta(1))
    assert (during.plan_code, after.plan_code) == ("pro", "free")

    # Past the grace period (halted, still unpaid): free limits, and nothing deleted.
    halted = billing.razorpay.fail_charge(sub_id, halt=True)
    await billing.deliver(
        billing.razorpay.subscription_event("subscription.halted", sub_id, payment=halted)
    )
    await billing.drain()
    await billing.db.execute(
        "UPDATE subscriptions SET grace_ends_at = now() - interval '1 second' "
        "WHERE razorpay_subscription_id = $1",
        sub_id,
    )
    sub = (await tenant.gql.op("CurrentSubscription")).data["subscription"]
    assert (sub["status"], sub["plan"]["code"], sub["effectivePlan"]["code"]) == (
        "HALTED",
        "pro",
        "free",
    )
    assert "grace period" in sub["downgradedBecause"]
    invitations = await billing.db.fetchval(
        "SELECT count(*) FROM invitations WHERE workspace_id = $1", workspace
    )
    assert invitations == 1

    # Paying again restores the plan and clears the overdue state.
    payment, _ = billing.razorpay.charge(sub_id)
    await billing.deliver(
        billing.razorpay.subscription_event("subscription.charged", sub_id, payment=payment)
    )
    await billing.drain()
    sub = (await tenant.gql.op("CurrentSubscription")).data["subscription"]
    assert (sub["status"], sub["effectivePlan"]["code"], sub["pastDueSince"]) == (
        "ACTIVE",
        "pro",
        None,
    )


async def test_paused_and_resumed(factory: Factory, billing: Billing) -> None:
    tenant = await factory.tenant("Paused")
    sub_id, _ = await subscribe(tenant, billing)
    billing.razorpay.set_status(sub_id, "paused")
    await billing.deliver(billing.razorpay.subscription_event("subscription.paused", sub_id))
    await billing.drain()
    sub = (await tenant.gql.op("CurrentSubscription")).data["subscription"]
    assert (sub["status"], sub["effectivePlan"]["code"]) == ("PAUSED", "free")
    billing.razorpay.set_status(sub_id, "active")
    await billing.deliver(billing.razorpay.subscription_event("subscription.resumed", sub_id))
    await billing.drain()
    sub = (await tenant.gql.op("CurrentSubscription")).data["subscription"]
    assert (sub["status"], sub["effectivePlan"]["code"]) == ("ACTIVE", "starter")


async def test_cancel_at_period_end_then_completed(factory: Factory, billing: Billing) -> None:
    tenant = await factory.tenant("Cancel later")
    sub_id, _ = await subscribe(tenant, billing)
    result = await tenant.gql.op("CancelSubscription", {"input": {"atPeriodEnd": True}})
    sub = result.data["cancelSubscription"]["subscription"]
    assert (sub["status"], sub["cancelAtPeriodEnd"], sub["effectivePlan"]["code"]) == (
        "ACTIVE",
        True,
        "starter",
    )
    assert billing.razorpay.subscriptions[sub_id].get("cancel_at_cycle_end") is True
    # Razorpay ends it when the period is over.
    billing.razorpay.set_status(sub_id, "cancelled")
    await billing.deliver(billing.razorpay.subscription_event("subscription.cancelled", sub_id))
    await billing.drain()
    sub = (await tenant.gql.op("CurrentSubscription")).data["subscription"]
    assert (sub["status"], sub["plan"]["code"], sub["razorpaySubscriptionId"]) == (
        "ACTIVE",
        "free",
        None,
    )
    again = await tenant.gql.op("CancelSubscription", {"input": {"atPeriodEnd": True}})
    assert again.code == "CONFLICT"


async def test_cancel_now_returns_to_free_at_once(factory: Factory, billing: Billing) -> None:
    tenant = await factory.tenant("Cancel now")
    sub_id, _ = await subscribe(tenant, billing)
    result = await tenant.gql.op("CancelSubscription", {"input": {"atPeriodEnd": False}})
    sub = result.data["cancelSubscription"]["subscription"]
    assert (sub["plan"]["code"], sub["razorpaySubscriptionId"]) == ("free", None)
    assert (await _sub_row(billing, sub_id))["status"] == "cancelled"
    audit = await billing.db.fetchval(
        "SELECT count(*) FROM audit_log WHERE workspace_id = $1 "
        "AND action = 'billing.subscription_cancelled'",
        ws(tenant),
    )
    assert audit == 1
    # The workspace with no paid subscription may now be deleted.
    assert (
        await billing.db.fetchval(
            "SELECT count(*) FROM razorpay_watchlist WHERE razorpay_id = $1", sub_id
        )
    ) == 0


async def test_change_plan_immediately_and_at_period_end(
    factory: Factory, billing: Billing
) -> None:
    tenant = await factory.tenant("Upgrader")
    sub_id, _ = await subscribe(tenant, billing, "starter")
    pro = await plan_id(tenant.gql, "pro")
    now = await tenant.gql.op("ChangePlan", {"input": {"planId": pro, "timing": "IMMEDIATELY"}})
    sub = now.data["changePlan"]["subscription"]
    assert (sub["plan"]["code"], sub["effectivePlan"]["code"], sub["scheduledPlan"]) == (
        "pro",
        "pro",
        None,
    )
    assert billing.razorpay.subscriptions[sub_id]["plan_id"] == "plan_PrlyPro00000001"
    same = await tenant.gql.op("ChangePlan", {"input": {"planId": pro, "timing": "IMMEDIATELY"}})
    assert same.code == "CONFLICT"

    starter = await plan_id(tenant.gql, "starter")
    later = await tenant.gql.op(
        "ChangePlan", {"input": {"planId": starter, "timing": "AT_PERIOD_END"}}
    )
    sub = later.data["changePlan"]["subscription"]
    assert (sub["plan"]["code"], sub["scheduledPlan"]["code"]) == ("pro", "starter")
    assert sub["scheduledChangeAt"] is not None
    # At the next cycle Razorpay moves the plan and charges it; the webhook follows.
    payment, _ = billing.razorpay.charge(sub_id)
    assert billing.razorpay.subscriptions[sub_id]["plan_id"] == "plan_PrlyStarter0001"
    await billing.deliver(
        billing.razorpay.subscription_event("subscription.charged", sub_id, payment=payment)
    )
    await billing.drain()
    sub = (await tenant.gql.op("CurrentSubscription")).data["subscription"]
    assert (sub["plan"]["code"], sub["scheduledPlan"]) == ("starter", None)


async def test_change_plan_needs_an_active_paid_subscription(
    factory: Factory, billing: Billing
) -> None:
    tenant = await factory.tenant("Free changer")
    result = await tenant.gql.op(
        "ChangePlan", {"input": {"planId": await plan_id(tenant.gql, "pro")}}
    )
    assert result.code == "CONFLICT"


async def test_reconciliation_heals_missed_webhooks(factory: Factory, billing: Billing) -> None:
    tenant = await factory.tenant("Missed webhooks")
    sub_id = await start_checkout(tenant)
    # The customer pays; every webhook is lost.
    billing.razorpay.charge(sub_id)
    now = dt.datetime.now(dt.UTC)
    report = await reconcile_tasks.reconcile(billing.state, now + dt.timedelta(seconds=1))
    assert report.checked >= 1
    assert any(sub_id in note for note in report.notes)
    current = await billing.current(ws(tenant))
    assert (current["razorpay_subscription_id"], current["status"]) == (sub_id, "active")
    # Later Razorpay cancels it (dashboard); that webhook is lost too.
    billing.razorpay.set_status(sub_id, "cancelled")
    later = now + dt.timedelta(seconds=billing.state.settings.billing.reconcile_interval_s + 5)
    await reconcile_tasks.reconcile(billing.state, later)
    assert (await billing.current(ws(tenant)))["plan_code"] == "free"
    assert (await _sub_row(billing, sub_id))["status"] == "cancelled"


async def test_reconciliation_through_the_worker_and_when_razorpay_fails(
    factory: Factory, billing: Billing
) -> None:
    tenant = await factory.tenant("Reconcile job")
    sub_id = await start_checkout(tenant)
    billing.razorpay.charge(sub_id)
    await billing.db.execute(
        "UPDATE razorpay_watchlist SET next_check_at = now() - interval '1 minute'"
    )
    billing.razorpay.fail_next = 1_000
    try:
        failed = await reconcile_tasks.reconcile(billing.state)
    finally:
        billing.razorpay.fail_next = 0
    assert failed.failed == failed.checked >= 1
    row = await billing.db.fetchrow(
        "SELECT failures, next_check_at > now() AS later FROM razorpay_watchlist "
        "WHERE razorpay_id = $1",
        sub_id,
    )
    assert row["failures"] == 1 and row["later"]
    assert (await billing.current(ws(tenant)))["plan_code"] == "free"
    await billing.db.execute(
        "UPDATE razorpay_watchlist SET next_check_at = now() - interval '1 minute' "
        "WHERE razorpay_id = $1",
        sub_id,
    )
    await billing.state.queue.enqueue_job(
        "reconcile_razorpay", _queue_name="arq:interactive", _job_id=f"rec-{uuid.uuid4()}"
    )
    await billing.drain()
    assert (await billing.current(ws(tenant)))["razorpay_subscription_id"] == sub_id


async def test_a_second_paid_checkout_replaces_and_cancels_the_first(
    factory: Factory, billing: Billing
) -> None:
    tenant = await factory.tenant("Double checkout")
    first = await start_checkout(tenant, "starter")
    second = await start_checkout(tenant, "pro")
    assert first != second
    for sub_id in (first, second):
        payment, _ = billing.razorpay.charge(sub_id)
        await billing.deliver(
            billing.razorpay.subscription_event("subscription.charged", sub_id, payment=payment)
        )
        await billing.drain()
    current = await billing.current(ws(tenant))
    assert (current["razorpay_subscription_id"], current["plan_code"]) == (second, "pro")
    # The first was cancelled at Razorpay so the workspace is not charged twice.
    assert billing.razorpay.subscriptions[first]["status"] == "cancelled"
    assert (await _sub_row(billing, first))["status"] == "cancelled"


async def test_a_workspace_paying_for_a_plan_cannot_be_deleted(
    factory: Factory, billing: Billing
) -> None:
    tenant = await factory.tenant("Keep paying")
    await subscribe(tenant, billing)
    result = await tenant.gql.op("DeleteWorkspace", {"confirmSlug": tenant.slug})
    assert result.code == "CONFLICT"


async def test_members_of_a_paid_plan_get_its_limits(factory: Factory, billing: Billing) -> None:
    tenant = await factory.tenant("Paid limits")
    await subscribe(tenant, billing, "pro")
    workspace = ws(tenant)
    async with tenant_transaction(billing.state.sessions, workspace) as session:
        limits = await entitlements.plan_limits(session, workspace)
    plans = {p["code"]: p for p in (await tenant.gql.op("Plans")).data["plans"]}
    assert limits.plan_code == "pro"
    assert limits[Limit.MEMBERS] == plans["pro"]["limits"]["members"]
    assert limits.api_requests_per_minute == plans["pro"]["limits"]["apiRequestsPerMinute"]
    assert rzp_id("sub").startswith("sub_")


async def test_invoice_paid_payment_failed_and_completed_events(
    factory: Factory, billing: Billing
) -> None:
    tenant = await factory.tenant("Other events")
    sub_id, first_payment = await subscribe(tenant, billing)
    rp = billing.razorpay
    # invoice.paid carries the whole invoice: it fills in what subscription.charged could not.
    payment, invoice = rp.charge(sub_id)
    order = {
        "id": invoice["order_id"],
        "entity": "order",
        "amount": invoice["amount"],
        "amount_paid": invoice["amount"],
        "currency": "INR",
        "status": "paid",
    }
    await billing.deliver(rp.event("invoice.paid", payment=payment, order=order, invoice=invoice))
    # A declined top-up payment, reported on its own.
    packs = (await tenant.gql.op("TopUpPacks")).data["topUpPacks"]
    bought = await tenant.gql.op("BuyTopUp", {"input": {"packId": packs[0]["id"]}})
    order_id = bought.data["buyTopUp"]["checkout"]["orderId"]
    failed = rp.fail_order(order_id)
    await billing.deliver(rp.event("payment.failed", payment=failed))
    await billing.drain()
    order_status = await billing.db.fetchval(
        "SELECT status FROM billing_orders WHERE razorpay_order_id = $1", order_id
    )
    assert order_status == "attempted"
    invoices = (await tenant.gql.op("Invoices")).data["invoices"]["edges"]
    by_id = {i["node"]["razorpayInvoiceId"]: i["node"] for i in invoices}
    assert by_id[invoice["id"]]["url"] == invoice["short_url"]
    assert by_id[invoice["id"]]["status"] == "PAID"
    assert by_id[invoice["id"]]["billingStart"] is not None
    payments = {
        p["node"]["razorpayPaymentId"]: p["node"]
        for p in (await tenant.gql.op("Payments")).data["payments"]["edges"]
    }
    assert payments[first_payment["id"]]["status"] == "CAPTURED"
    assert payments[payment["id"]]["status"] == "CAPTURED"
    assert (payments[failed["id"]]["status"], payments[failed["id"]]["errorCode"]) == (
        "FAILED",
        "BAD_REQUEST_ERROR",
    )
    # The last cycle is billed: Razorpay completes the subscription.
    rp.set_status(sub_id, "completed")
    await billing.deliver(rp.subscription_event("subscription.completed", sub_id))
    await billing.drain()
    assert (await _sub_row(billing, sub_id))["status"] == "completed"
    assert (await billing.current(ws(tenant)))["plan_code"] == "free"


async def test_an_event_that_arrives_before_its_mapping_is_retried(
    factory: Factory, billing: Billing
) -> None:
    from billing.webhooks import tasks as webhook_tasks

    tenant = await factory.tenant("Early payment event")
    sub_id, _ = await subscribe(tenant, billing)
    payment, _ = billing.razorpay.charge(sub_id)
    # payment.captured names only the payment, its invoice and Razorpay's own order: nothing
    # we know yet, so it is unmatched...
    early = f"evt_{uuid.uuid4().hex[:14]}"
    await billing.deliver(
        billing.razorpay.event("payment.captured", payment=payment), event_id=early
    )
    await billing.drain()
    assert (await billing.event_row(early))["status"] == "unmatched"
    # ...until subscription.charged records the payment and its invoice.
    await billing.deliver(
        billing.razorpay.subscription_event("subscription.charged", sub_id, payment=payment)
    )
    await billing.drain()
    await billing.db.execute(
        "UPDATE razorpay_events SET processed_at = now() - interval '2 minutes' "
        "WHERE event_id = $1",
        early,
    )
    assert await webhook_tasks.requeue_razorpay_events({"state": billing.state}) >= 1
    await billing.drain()
    row = await billing.event_row(early)
    assert (row["status"], row["attempts"]) == ("processed", 2)
    assert "mapped by invoice" in row["outcome"] or "mapped by payment" in row["outcome"]


async def test_the_newer_checkout_wins_whatever_order_they_are_paid_in(
    factory: Factory, billing: Billing
) -> None:
    tenant = await factory.tenant("Newer wins")
    older = await start_checkout(tenant, "starter")
    newer = await start_checkout(tenant, "pro")
    for sub_id in (newer, older):  # the newer one is paid first
        payment, _ = billing.razorpay.charge(sub_id)
        await billing.deliver(
            billing.razorpay.subscription_event("subscription.charged", sub_id, payment=payment)
        )
        await billing.drain()
    current = await billing.current(ws(tenant))
    assert (current["razorpay_subscription_id"], current["plan_code"]) == (newer, "pro")
    assert billing.razorpay.subscriptions[older]["status"] == "cancelled"
    # Reconciling both changes nothing.
    await billing.db.execute(
        "UPDATE razorpay_watchlist SET next_check_at = now() - interval '1 minute' "
        "WHERE razorpay_id = ANY($1::text[])",
        [older, newer],
    )
    await reconcile_tasks.reconcile(billing.state)
    await billing.drain()
    current = await billing.current(ws(tenant))
    assert current["razorpay_subscription_id"] == newer
    assert (await _sub_row(billing, older))["status"] == "cancelled"
