"""POST /webhooks/razorpay: signatures over the raw body, the de-duplicating ledger, and
answers that make Razorpay retry exactly when the event was not stored."""

from __future__ import annotations

import asyncio
import json
import uuid

import asyncpg

from app.db.engine import asyncpg_dsn
from billing.webhooks import service, tasks
from tests.billing.conftest import OLD_WEBHOOK_SECRET, WEBHOOK_SECRET, Billing
from tests.billing.helpers import start_checkout, subscribe, ws
from tests.support.factories import Factory
from tests.support.razorpay_server import encode, rzp_id, sign


async def _ledger_count(billing: Billing) -> int:
    return int(await billing.db.fetchval("SELECT count(*) FROM razorpay_events"))


async def test_forged_or_damaged_deliveries_are_refused_and_change_nothing(
    factory: Factory, billing: Billing
) -> None:
    tenant = await factory.tenant("Forgery target")
    sub_id = await start_checkout(tenant)
    billing.razorpay.charge(sub_id)
    body = encode(billing.razorpay.subscription_event("subscription.activated", sub_id))
    genuine = sign(body, WEBHOOK_SECRET)
    before = await _ledger_count(billing)

    tampered = bytearray(body)
    index = body.index(b'"active"') + 2
    tampered[index] ^= 0x01  # one flipped bit inside "active"
    reserialised = json.dumps(json.loads(body), indent=2).encode()  # same JSON, other bytes
    attempts = {
        "tampered byte": await billing.deliver(bytes(tampered), signature=genuine),
        "re-serialised JSON": await billing.deliver(reserialised, signature=genuine),
        "missing header": await billing.deliver(body, secret=None),
        "wrong secret": await billing.deliver(body, secret="not-the-secret"),
        "garbage signature": await billing.deliver(body, signature="zz" * 32),
        "non-ascii signature": await billing.deliver(body, signature="é".encode() * 32),
    }
    statuses = {name: r.status_code for name, r in attempts.items()}
    assert statuses == {
        "tampered byte": 401,
        "re-serialised JSON": 401,
        "missing header": 400,
        "wrong secret": 401,
        "garbage signature": 401,
        "non-ascii signature": 401,
    }
    assert attempts["missing header"].json()["error"] == (
        "The X-Razorpay-Signature header is missing."
    )
    await billing.drain()
    assert await _ledger_count(billing) == before
    current = await billing.current(ws(tenant))
    assert current["plan_code"] == "free"
    row = await billing.db.fetchrow(
        "SELECT status FROM subscriptions WHERE razorpay_subscription_id = $1", sub_id
    )
    assert row["status"] == "created"


async def test_the_previous_secret_is_accepted_while_rotating(
    factory: Factory, billing: Billing
) -> None:
    tenant = await factory.tenant("Rotation")
    sub_id = await start_checkout(tenant)
    billing.razorpay.charge(sub_id)
    event_id = f"evt_{uuid.uuid4().hex[:14]}"
    body = billing.razorpay.subscription_event("subscription.activated", sub_id)
    response = await billing.deliver(body, event_id=event_id, secret=OLD_WEBHOOK_SECRET)
    assert response.status_code == 200
    row = await billing.event_row(event_id)
    assert row is not None and row["signed_with"] == 1
    await billing.drain()
    assert (await billing.current(ws(tenant)))["razorpay_subscription_id"] == sub_id


async def test_malformed_envelopes_are_refused_before_storing(billing: Billing) -> None:
    before = await _ledger_count(billing)
    not_json = await billing.deliver(b"{not json")
    not_event = await billing.deliver({"entity": "payment", "id": "pay_X"})
    no_payload = await billing.deliver({"entity": "event", "event": "payment.captured"})
    no_event_id = await billing.deliver(
        billing.razorpay.event("payment.captured"), headers={"x-razorpay-event-id": ""}
    )
    bad_event_id = await billing.deliver(
        billing.razorpay.event("payment.captured"), event_id="evt with spaces"
    )
    huge = await billing.deliver(b"{" + b" " * 300_000 + b"}")
    assert [
        r.status_code for r in (not_json, not_event, no_payload, no_event_id, bad_event_id, huge)
    ] == [400, 400, 400, 400, 400, 400]
    assert "x-razorpay-event-id" in no_event_id.json()["error"]
    assert await _ledger_count(billing) == before


async def test_three_deliveries_two_concurrent_make_one_effect(
    factory: Factory, billing: Billing
) -> None:
    tenant = await factory.tenant("Top-up thrice")
    packs = (await tenant.gql.op("TopUpPacks")).data["topUpPacks"]
    pack = next(p for p in packs if p["code"] == "ai_tokens_1m")
    order_id = (await tenant.gql.op("BuyTopUp", {"input": {"packId": pack["id"]}})).data[
        "buyTopUp"
    ]["checkout"]["orderId"]
    payment = billing.razorpay.pay_order(order_id)
    body = billing.razorpay.event(
        "order.paid", payment=payment, order=billing.razorpay.orders[order_id]
    )
    event_id = f"evt_{uuid.uuid4().hex[:14]}"
    first, second = await asyncio.gather(
        billing.deliver(body, event_id=event_id), billing.deliver(body, event_id=event_id)
    )
    await billing.drain()
    third = await billing.deliver(body, event_id=event_id)
    await billing.drain()
    statuses = sorted(r.json()["status"] for r in (first, second, third))
    assert [r.status_code for r in (first, second, third)] == [200, 200, 200]
    assert statuses == ["accepted", "duplicate", "duplicate"]
    rows = await billing.db.fetch(
        "SELECT status, attempts FROM razorpay_events WHERE event_id = $1", event_id
    )
    assert [(r["status"], r["attempts"]) for r in rows] == [("processed", 1)]
    credits = await billing.db.fetch(
        "SELECT limit_name, amount FROM quota_credits WHERE workspace_id = $1", ws(tenant)
    )
    assert [(c["limit_name"], c["amount"]) for c in credits] == [
        ("ai_tokens_per_month", pack["aiTokens"])
    ]
    quotas = (await tenant.gql.op("Quotas")).data["quotas"]["quotas"]
    ai = next(q for q in quotas if q["limit"] == "AI_TOKENS_PER_MONTH")
    free = next(p for p in (await tenant.gql.op("Plans")).data["plans"] if p["code"] == "free")
    assert ai["maximum"] == free["limits"]["aiTokensPerMonth"] + pack["aiTokens"]


async def test_a_genuine_old_event_replayed_changes_nothing(
    factory: Factory, billing: Billing
) -> None:
    tenant = await factory.tenant("Replay target")
    sub_id = await start_checkout(tenant)
    billing.razorpay.charge(sub_id)
    activated = billing.razorpay.subscription_event("subscription.activated", sub_id)
    event_id = f"evt_{uuid.uuid4().hex[:14]}"
    assert (await billing.deliver(activated, event_id=event_id)).status_code == 200
    await billing.drain()
    billing.razorpay.set_status(sub_id, "cancelled")
    cancelled = billing.razorpay.subscription_event("subscription.cancelled", sub_id)
    assert (await billing.deliver(cancelled)).status_code == 200
    await billing.drain()
    assert (await billing.current(ws(tenant)))["plan_code"] == "free"

    # The captured body again: under its own event id, and under a fresh one.
    same = await billing.deliver(activated, event_id=event_id)
    renamed = await billing.deliver(activated, event_id=f"evt_{uuid.uuid4().hex[:14]}")
    assert (same.json()["status"], renamed.json()["status"]) == ("duplicate", "duplicate")
    await billing.drain()
    rows = await billing.subscriptions(ws(tenant))
    paid = next(r for r in rows if r["razorpay_subscription_id"] == sub_id)
    assert paid["status"] == "cancelled" and not paid["is_current"]
    assert (await billing.current(ws(tenant)))["plan_code"] == "free"

    # A genuinely different but older snapshot (a late retry Razorpay sends) cannot revive it.
    payment, _ = billing.razorpay.charge(sub_id)
    late = billing.razorpay.subscription_event(
        "subscription.charged", sub_id, payment=payment, created_at=1_600_000_000
    )
    assert (await billing.deliver(late)).status_code == 200
    await billing.drain()
    paid = next(
        r
        for r in await billing.subscriptions(ws(tenant))
        if r["razorpay_subscription_id"] == sub_id
    )
    assert paid["status"] == "cancelled"
    assert (await billing.current(ws(tenant)))["plan_code"] == "free"
    # The money Razorpay took is still on record for the operator and the customer.
    recorded = await billing.db.fetchval(
        "SELECT status FROM billing_payments WHERE razorpay_payment_id = $1", payment["id"]
    )
    assert recorded == "captured"


async def test_an_unknown_subscription_is_acknowledged_and_recorded(billing: Billing) -> None:
    stranger = {
        "id": rzp_id("sub"),
        "entity": "subscription",
        "plan_id": "plan_PrlyPro00000001",
        "status": "active",
        "paid_count": 1,
        "current_start": 1_700_000_000,
        "current_end": 1_702_592_000,
    }
    event_id = f"evt_{uuid.uuid4().hex[:14]}"
    subs_before = await billing.db.fetchval("SELECT count(*) FROM subscriptions")
    body = billing.razorpay.event("subscription.activated", subscription=stranger)
    response = await billing.deliver(body, event_id=event_id)
    assert response.status_code == 200
    await billing.drain()
    row = await billing.event_row(event_id)
    assert row is not None
    assert row["status"] == "unmatched"
    assert stranger["id"] in row["outcome"]
    assert await billing.db.fetchval("SELECT count(*) FROM subscriptions") == subs_before


async def test_unhandled_event_types_are_stored_and_ignored(billing: Billing) -> None:
    event_id = f"evt_{uuid.uuid4().hex[:14]}"
    body = billing.razorpay.event("payment.dispute.created", dispute={"id": "disp_X"})
    assert (await billing.deliver(body, event_id=event_id)).status_code == 200
    await billing.drain()
    row = await billing.event_row(event_id)
    assert row is not None and row["status"] == "ignored"


async def test_database_failing_mid_request_answers_503_then_the_retry_succeeds(
    factory: Factory, billing: Billing
) -> None:
    tenant = await factory.tenant("Flaky database")
    sub_id = await start_checkout(tenant)
    billing.razorpay.charge(sub_id)
    body = billing.razorpay.subscription_event("subscription.activated", sub_id)
    event_id = f"evt_{uuid.uuid4().hex[:14]}"

    # Hold the ledger locked so the request's INSERT waits, then kill its connection: the
    # database fails while the request is inside its transaction.
    blocker = await asyncpg.connect(asyncpg_dsn(billing.state.settings.database.admin_url))
    try:
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("LOCK TABLE razorpay_events IN ACCESS EXCLUSIVE MODE")
        request = asyncio.create_task(billing.deliver(body, event_id=event_id))
        pid = None
        for _ in range(200):
            pid = await billing.db.fetchval(
                "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE 'INSERT INTO razorpay_events%'"
            )
            if pid:
                break
            await asyncio.sleep(0.01)
        assert pid, "the webhook request never reached the ledger insert"
        assert await billing.db.fetchval("SELECT pg_terminate_backend($1)", pid)
        failed = await request
    finally:
        await tx.rollback()
        await blocker.close()
    assert failed.status_code == 503
    assert failed.headers["retry-after"] == "5"
    assert await billing.event_row(event_id) is None

    retried = await billing.deliver(body, event_id=event_id)
    assert retried.status_code == 200 and retried.json()["status"] == "accepted"
    await billing.drain()
    row = await billing.event_row(event_id)
    assert row is not None and (row["status"], row["attempts"]) == ("processed", 1)
    assert (await billing.current(ws(tenant)))["razorpay_subscription_id"] == sub_id


async def test_a_stored_event_whose_enqueue_was_lost_is_requeued(
    factory: Factory, billing: Billing
) -> None:
    tenant = await factory.tenant("Lost enqueue")
    sub_id, _ = await subscribe(tenant, billing)
    billing.razorpay.fail_charge(sub_id)
    body = encode(billing.razorpay.subscription_event("subscription.pending", sub_id))
    event_id = f"evt_{uuid.uuid4().hex[:14]}"
    # Stored as intake would, but never enqueued (Redis was down at that moment).
    async with billing.state.sessions() as session, session.begin():
        receipt = await service.receive(
            session,
            body=body,
            signature=sign(body, WEBHOOK_SECRET),
            event_id=event_id,
            secrets=[WEBHOOK_SECRET],
        )
    assert receipt.stored
    await billing.db.execute(
        "UPDATE razorpay_events SET received_at = now() - interval '5 minutes' WHERE event_id = $1",
        event_id,
    )
    requeued = await tasks.requeue_razorpay_events({"state": billing.state})
    assert requeued >= 1
    await billing.drain()
    row = await billing.event_row(event_id)
    assert row is not None and row["status"] == "processed"
    assert (await billing.current(ws(tenant)))["status"] == "pending"
