"""One-time top-up orders: checkout, confirmation by webhook or fetch, refunds."""

from __future__ import annotations

from typing import Any

from app.db.tenant import tenant_transaction
from billing.entitlements import service as entitlements
from billing.entitlements.limits import Limit
from billing.reconcile import tasks as reconcile_tasks
from tests.billing.conftest import KEY_ID, Billing
from tests.billing.helpers import ws
from tests.support.factories import Factory, Tenant


async def _buy(tenant: Tenant, code: str) -> tuple[dict[str, Any], str]:
    packs = (await tenant.gql.op("TopUpPacks")).data["topUpPacks"]
    pack = next(p for p in packs if p["code"] == code)
    data = (await tenant.gql.op("BuyTopUp", {"input": {"packId": pack["id"]}})).data["buyTopUp"]
    return pack, str(data["checkout"]["orderId"])


async def _limit(billing: Billing, tenant: Tenant, limit: Limit) -> int | None:
    async with tenant_transaction(billing.state.sessions, ws(tenant)) as session:
        return await entitlements.effective_limit(session, ws(tenant), limit)


async def test_buying_a_top_up_returns_order_checkout(factory: Factory, billing: Billing) -> None:
    tenant = await factory.tenant("Top-up shopper")
    packs = (await tenant.gql.op("TopUpPacks")).data["topUpPacks"]
    pack = next(p for p in packs if p["code"] == "conversations_1k")
    checkout = (await tenant.gql.op("BuyTopUp", {"input": {"packId": pack["id"]}})).data[
        "buyTopUp"
    ]["checkout"]
    assert checkout["key"] == KEY_ID and checkout["subscriptionId"] is None
    assert checkout["amount"] == pack["price"]
    order = billing.razorpay.orders[checkout["orderId"]]
    assert (order["amount"], order["status"]) == (pack["price"]["amountMinor"], "created")
    bogus = await tenant.gql.op("BuyTopUp", {"input": {"packId": pack["id"][:-2] + "zz"}})
    assert bogus.code in ("VALIDATION", "NOT_FOUND")


async def test_a_paid_order_raises_the_monthly_limit_once(
    factory: Factory, billing: Billing
) -> None:
    tenant = await factory.tenant("Conversation top-up")
    before = await _limit(billing, tenant, Limit.CONVERSATIONS_PER_MONTH)
    pack, order_id = await _buy(tenant, "conversations_1k")
    payment = billing.razorpay.pay_order(order_id)
    order = billing.razorpay.orders[order_id]
    # Razorpay sends payment.captured and order.paid for the same payment.
    await billing.deliver(billing.razorpay.event("payment.captured", payment=payment))
    await billing.deliver(billing.razorpay.event("order.paid", payment=payment, order=order))
    await billing.drain()
    after = await _limit(billing, tenant, Limit.CONVERSATIONS_PER_MONTH)
    assert before is not None and after == before + pack["conversations"]
    payments = (await tenant.gql.op("Payments")).data["payments"]["edges"]
    assert [(p["node"]["purpose"], p["node"]["status"]) for p in payments] == [
        ("TOP_UP", "CAPTURED")
    ]


async def test_verify_then_fetch_grants_a_top_up_without_webhooks(
    factory: Factory, billing: Billing
) -> None:
    tenant = await factory.tenant("Verified top-up")
    before = await _limit(billing, tenant, Limit.AI_TOKENS_PER_MONTH)
    pack, order_id = await _buy(tenant, "ai_tokens_1m")
    payment = billing.razorpay.pay_order(order_id)
    signature = billing.razorpay.checkout_signature(payment["id"], order_id=order_id)
    verified = await tenant.gql.op(
        "VerifyPayment",
        {"input": {"paymentId": payment["id"], "signature": signature, "orderId": order_id}},
    )
    assert verified.data["verifyPayment"]["payment"]["status"] == "PENDING_CONFIRMATION"
    assert await _limit(billing, tenant, Limit.AI_TOKENS_PER_MONTH) == before
    await billing.drain()
    assert before is not None
    assert await _limit(billing, tenant, Limit.AI_TOKENS_PER_MONTH) == before + pack["aiTokens"]
    # A late order.paid webhook grants nothing more.
    await billing.deliver(
        billing.razorpay.event(
            "order.paid", payment=payment, order=billing.razorpay.orders[order_id]
        )
    )
    await billing.drain()
    assert await _limit(billing, tenant, Limit.AI_TOKENS_PER_MONTH) == before + pack["aiTokens"]


async def test_reconciliation_grants_a_paid_order_whose_webhook_was_lost(
    factory: Factory, billing: Billing
) -> None:
    tenant = await factory.tenant("Lost order webhook")
    before = await _limit(billing, tenant, Limit.AI_TOKENS_PER_MONTH)
    pack, order_id = await _buy(tenant, "ai_tokens_1m")
    billing.razorpay.pay_order(order_id)
    await billing.db.execute(
        "UPDATE razorpay_watchlist SET next_check_at = now() - interval '1 minute' "
        "WHERE razorpay_id = $1",
        order_id,
    )
    await reconcile_tasks.reconcile(billing.state)
    assert before is not None
    assert await _limit(billing, tenant, Limit.AI_TOKENS_PER_MONTH) == before + pack["aiTokens"]
    watched = await billing.db.fetchval(
        "SELECT count(*) FROM razorpay_watchlist WHERE razorpay_id = $1", order_id
    )
    assert watched == 0


async def test_a_refund_takes_back_its_share_of_the_allowance(
    factory: Factory, billing: Billing
) -> None:
    tenant = await factory.tenant("Refunded top-up")
    before = await _limit(billing, tenant, Limit.AI_TOKENS_PER_MONTH)
    pack, order_id = await _buy(tenant, "ai_tokens_1m")
    payment = billing.razorpay.pay_order(order_id)
    await billing.deliver(
        billing.razorpay.event(
            "order.paid", payment=payment, order=billing.razorpay.orders[order_id]
        )
    )
    await billing.drain()
    half = payment["amount"] // 2
    refund = billing.razorpay.refund(payment["id"], half)
    body = billing.razorpay.event(
        "refund.processed", refund=refund, payment=billing.razorpay.payments[payment["id"]]
    )
    await billing.deliver(body)
    await billing.deliver(body, event_id="evt_refundAgain01")  # same body: a duplicate
    await billing.drain()
    assert before is not None
    expected = before + pack["aiTokens"] - pack["aiTokens"] * half // payment["amount"]
    assert await _limit(billing, tenant, Limit.AI_TOKENS_PER_MONTH) == expected
    node = (await tenant.gql.op("Payments")).data["payments"]["edges"][0]["node"]
    assert node["amountRefunded"]["amountMinor"] == half and node["status"] == "CAPTURED"
