"""Shared steps of billing tests."""

from __future__ import annotations

import uuid
from typing import Any

from app.graphql.node import decode_id
from tests.billing.conftest import Billing
from tests.support.factories import Tenant
from tests.support.graphql import GraphQL
from tests.support.razorpay_server import rzp_id


def ws(tenant: Tenant) -> uuid.UUID:
    """The workspace's uuid."""
    return decode_id(tenant.id, "Workspace")


async def plan_id(gql: GraphQL, code: str) -> str:
    """Global id of the offered version of a plan."""
    plans = (await gql.op("Plans")).data["plans"]
    return next(p["id"] for p in plans if p["code"] == code)


async def start_checkout(tenant: Tenant, code: str = "starter") -> str:
    """Open a subscription checkout; returns the Razorpay subscription id."""
    pid = await plan_id(tenant.gql, code)
    data = (await tenant.gql.op("StartCheckout", {"input": {"planId": pid}})).data
    return str(data["startCheckout"]["checkout"]["subscriptionId"])


async def subscribe(
    tenant: Tenant, billing: Billing, code: str = "starter"
) -> tuple[str, dict[str, Any]]:
    """A paid subscription, live: checkout, Razorpay charges, the webhooks arrive and a real
    worker processes them. Returns (subscription id, the first charge's payment)."""
    sub_id = await start_checkout(tenant, code)
    payment, _ = billing.razorpay.charge(sub_id)
    for name in ("subscription.authenticated", "subscription.activated"):
        assert (
            await billing.deliver(billing.razorpay.subscription_event(name, sub_id))
        ).status_code == 200
    charged = billing.razorpay.subscription_event("subscription.charged", sub_id, payment=payment)
    assert (await billing.deliver(charged)).status_code == 200
    await billing.drain()
    return sub_id, payment


async def custom_plan(billing: Billing, **limits: int | None) -> uuid.UUID:
    """A plan version with the given limits (the rest unlimited), not offered to buyers,
    inserted over the admin connection. Paid, so it has a Razorpay plan id the local Razorpay
    knows."""
    code = f"lab_{uuid.uuid4().hex[:10]}"
    rzp_plan = rzp_id("plan")
    billing.razorpay.plans[rzp_plan] = 99900
    columns = [
        "conversations_per_month",
        "documents",
        "stored_bytes",
        "members",
        "publishable_keys",
        "api_requests_per_minute",
        "ai_tokens_per_month",
    ]
    unknown = set(limits) - set(columns)
    assert not unknown, unknown
    new_id = uuid.uuid4()
    await billing.db.execute(
        "INSERT INTO plans (id, code, version, name, price_minor, currency, billing_period, "
        "razorpay_plan_id, available, " + ", ".join(columns) + ") VALUES "
        "($1, $2, 1, 'Lab', 99900, 'INR', 'monthly', $3, false, "
        + ", ".join(f"${i}" for i in range(4, 4 + len(columns)))
        + ")",
        new_id,
        code,
        rzp_plan,
        *[limits.get(c) for c in columns],
    )
    return new_id


async def put_on_plan(billing: Billing, workspace_id: uuid.UUID, plan: uuid.UUID) -> None:
    """Point the workspace's current subscription at a plan version (test setup)."""
    done = await billing.db.execute(
        "UPDATE subscriptions SET plan_id = $2 WHERE workspace_id = $1 AND is_current",
        workspace_id,
        plan,
    )
    assert done == "UPDATE 1", done
