"""The plan catalogue and the one-current-subscription rule."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.db.tenant import tenant_transaction
from billing.entitlements import service as entitlements
from billing.entitlements.limits import Limit
from billing.plans.catalogue import publish_version
from tests.billing.conftest import Billing
from tests.billing.helpers import custom_plan, plan_id, subscribe, ws
from tests.support.factories import Factory
from tests.support.graphql import GraphQL


async def test_plans_are_public_with_prices_and_limits(gql: GraphQL) -> None:
    plans = {p["code"]: p for p in (await gql.op("Plans")).data["plans"]}
    assert {"free", "starter", "pro"} <= set(plans)
    free, starter, pro = plans["free"], plans["starter"], plans["pro"]
    assert free["isFree"] and free["price"] == {"amountMinor": 0, "currency": "INR"}
    assert starter["price"]["amountMinor"] == 149900 and not starter["isFree"]
    assert pro["price"]["amountMinor"] > starter["price"]["amountMinor"]
    for limit in free["limits"]:
        assert free["limits"][limit] <= pro["limits"][limit], limit
    # Beyond 32 bits: GraphQL Int could not carry it.
    assert pro["limits"]["storedBytes"] > 2**31
    packs = (await gql.op("TopUpPacks")).data["topUpPacks"]
    assert {p["code"] for p in packs} >= {"ai_tokens_1m", "conversations_1k"}


async def test_a_new_workspace_has_exactly_one_current_free_subscription(
    factory: Factory, billing: Billing
) -> None:
    tenant = await factory.tenant("Fresh")
    rows = await billing.subscriptions(ws(tenant))
    assert [(r["plan_code"], r["status"], r["is_current"]) for r in rows] == [
        ("free", "active", True)
    ]
    sub = (await tenant.gql.op("CurrentSubscription")).data["subscription"]
    assert sub["status"] == "ACTIVE"
    assert sub["plan"]["code"] == sub["effectivePlan"]["code"] == "free"
    assert sub["razorpaySubscriptionId"] is None


async def test_a_workspace_without_a_subscription_row_is_treated_as_free(
    factory: Factory, billing: Billing
) -> None:
    tenant = await factory.tenant("Legacy")
    await billing.db.execute("DELETE FROM subscriptions WHERE workspace_id = $1", ws(tenant))
    sub = (await tenant.gql.op("CurrentSubscription")).data["subscription"]
    assert sub["plan"]["code"] == "free" and sub["status"] == "ACTIVE"
    quotas = (await tenant.gql.op("Quotas")).data["quotas"]
    assert quotas["plan"]["code"] == "free"
    async with tenant_transaction(billing.state.sessions, ws(tenant)) as session:
        limits = await entitlements.plan_limits(session, ws(tenant))
    free = next(p for p in (await tenant.gql.op("Plans")).data["plans"] if p["code"] == "free")
    assert limits.plan_code == "free"
    assert limits[Limit.MEMBERS] == free["limits"]["members"]
    # Quota checks work the same: the members limit still applies.
    for i in range(free["limits"]["members"] - 1):
        await tenant.gql.op("InviteMember", {"input": {"email": f"m{i}@example.com"}})
    refused = await tenant.gql.op("InviteMember", {"input": {"email": "over@example.com"}})
    assert refused.code == "QUOTA_EXCEEDED"


async def test_the_application_role_cannot_change_the_catalogue(billing: Billing) -> None:
    async with billing.state.sessions() as session, session.begin():
        with pytest.raises(DBAPIError, match="permission denied"):
            await session.execute(text("UPDATE plans SET price_minor = 1 WHERE code = 'pro'"))


async def test_sold_terms_cannot_be_edited_even_by_the_owner(billing: Billing) -> None:
    conn = billing.db
    async with conn.transaction():
        await conn.execute("SET LOCAL ROLE parley_owner")
        with pytest.raises(asyncpg.CheckViolationError, match="publish a new version"):
            await conn.execute("UPDATE plans SET members = 1 WHERE code = 'starter'")


async def test_a_new_version_never_rewrites_what_a_workspace_bought(
    factory: Factory, billing: Billing, gql: GraphQL
) -> None:
    # A paid plan of our own, so publishing a version does not disturb other tests.
    v1 = await custom_plan(billing, members=9)
    code, rzp_plan = await billing.db.fetchrow(
        "SELECT code, razorpay_plan_id FROM plans WHERE id = $1", v1
    )
    await billing.db.execute("UPDATE plans SET available = true WHERE id = $1", v1)
    early = await factory.tenant("Early buyer")
    sub_id, _ = await subscribe(early, billing, code)
    current = await billing.current(ws(early))
    assert (current["plan_id"], current["razorpay_subscription_id"]) == (v1, sub_id)

    # The catalogue changes: fewer members for the same price and Razorpay plan.
    v2 = await publish_version(billing.state.settings.database, code, members=3)
    offered = [p for p in (await gql.op("Plans")).data["plans"] if p["code"] == code]
    assert [(p["version"], p["limits"]["members"]) for p in offered] == [(2, 3)]

    # The early buyer keeps version 1, through renewals too.
    payment, _ = billing.razorpay.charge(sub_id)
    event = billing.razorpay.subscription_event("subscription.charged", sub_id, payment=payment)
    assert (await billing.deliver(event)).status_code == 200
    await billing.drain()
    assert (await billing.current(ws(early)))["plan_id"] == v1
    sub = (await early.gql.op("CurrentSubscription")).data["subscription"]
    assert (sub["plan"]["version"], sub["plan"]["limits"]["members"]) == (1, 9)

    # A new buyer gets version 2.
    late = await factory.tenant("Late buyer")
    data = (
        await late.gql.op("StartCheckout", {"input": {"planId": await plan_id(late.gql, code)}})
    ).data["startCheckout"]
    assert data["plan"]["version"] == 2
    row = await billing.db.fetchrow(
        "SELECT plan_id FROM subscriptions WHERE razorpay_subscription_id = $1",
        data["checkout"]["subscriptionId"],
    )
    assert row["plan_id"] == v2
    assert rzp_plan in billing.razorpay.plans


def test_publish_plan_arguments_are_parsed_and_checked() -> None:
    from app.errors import ValidationFailed
    from billing.plans.catalogue import parse_changes

    assert parse_changes(
        ["members=20", "ai_tokens_per_month=null", "razorpay_plan_id=plan_Abc", "price_minor=1_999"]
    ) == {
        "members": 20,
        "ai_tokens_per_month": None,
        "razorpay_plan_id": "plan_Abc",
        "price_minor": 1999,
    }
    for bad in (["members"], ["seats=3"], ["members=lots"]):
        with pytest.raises(ValidationFailed):
            parse_changes(bad)
