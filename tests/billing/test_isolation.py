"""Workspace B never sees, changes or probes workspace A's billing."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from app.db.tenant import tenant_transaction
from tests.billing.conftest import Billing
from tests.billing.helpers import subscribe, ws
from tests.support.factories import Factory

BILLING_TENANT_TABLES = (
    "subscriptions",
    "billing_orders",
    "billing_payments",
    "billing_invoices",
    "quota_credits",
    "quota_reservations",
)


async def test_workspace_b_never_sees_a_invoices_or_payments(
    factory: Factory, billing: Billing
) -> None:
    a = await factory.tenant("Tenant A")
    b = await factory.tenant("Tenant B")
    await subscribe(a, billing)
    a_invoices = (await a.gql.op("Invoices")).data["invoices"]["edges"]
    a_payments = (await a.gql.op("Payments")).data["payments"]["edges"]
    assert len(a_invoices) == 1 and len(a_payments) == 1

    assert (await b.gql.op("Invoices")).data["invoices"]["edges"] == []
    assert (await b.gql.op("Payments")).data["payments"]["edges"] == []
    for node_id in (a_invoices[0]["node"]["id"], a_payments[0]["node"]["id"]):
        probe = await b.gql.query("query($id: ID!) { node(id: $id) { id } }", {"id": node_id})
        assert probe.data == {"node": None}
        own = await a.gql.query("query($id: ID!) { node(id: $id) { id } }", {"id": node_id})
        assert own.data == {"node": {"id": node_id}}
    # B's owner using A's workspace header is refused outright.
    crossed = await b.gql.as_(b.owner.token, a.id).op("Invoices")
    assert crossed.code == "FORBIDDEN"
    # B's current subscription is untouched by A's purchase.
    assert (await billing.current(ws(b)))["plan_code"] == "free"


async def test_members_cannot_read_billing_history(factory: Factory, billing: Billing) -> None:
    tenant = await factory.tenant("Member view")
    await subscribe(tenant, billing)
    _, member = await factory.member(tenant)
    assert (await member.op("Invoices")).code == "FORBIDDEN"
    assert (await member.op("Payments")).code == "FORBIDDEN"
    # Members still see the plan and usage.
    assert (await member.op("CurrentSubscription")).data["subscription"]["plan"]["code"] == (
        "starter"
    )
    assert (await member.op("Quotas")).data["quotas"]["plan"]["code"] == "starter"
    # The widget's publishable key sees none of it.
    key = (
        await tenant.gql.op(
            "CreatePublishableKey",
            {"input": {"name": "w", "allowedOrigins": ["https://shop.example.com"]}},
        )
    ).data["createPublishableKey"]["key"]
    widget = tenant.gql.as_(key)
    widget.headers["origin"] = "https://shop.example.com"
    assert (await widget.op("CurrentSubscription")).code == "PERSISTED_QUERY_NOT_IN_LIST"


async def test_row_level_security_hides_other_workspaces_billing_rows(
    factory: Factory, billing: Billing
) -> None:
    a = await factory.tenant("RLS A")
    b = await factory.tenant("RLS B")
    sub_id, payment = await subscribe(a, billing)
    async with tenant_transaction(billing.state.sessions, ws(b)) as session:
        for table in BILLING_TENANT_TABLES:
            rows = await session.execute(
                text(f"SELECT count(*) FROM {table} WHERE workspace_id = :a"), {"a": ws(a)}
            )
            assert rows.scalar_one() == 0, table
        # B cannot write a row into A's workspace either.
        with pytest.raises(Exception, match="row-level security"):
            async with session.begin_nested():
                await session.execute(
                    text(
                        "INSERT INTO quota_credits (workspace_id, id, limit_name, period_start, "
                        "amount, source_ref) VALUES (:a, gen_random_uuid(), "
                        "'ai_tokens_per_month', current_date, 1000000, 'forged')"
                    ),
                    {"a": ws(a)},
                )
    async with tenant_transaction(billing.state.sessions, None) as session:
        # No tenant and no Razorpay id: nothing.
        count = await session.execute(text("SELECT count(*) FROM subscriptions"))
        assert count.scalar_one() == 0
        # Knowing the exact Razorpay id reveals that row (how webhooks are mapped), no other.
        await session.execute(
            text("SELECT set_config('app.provider_ref', :ref, true)"), {"ref": sub_id}
        )
        found = (await session.execute(text("SELECT workspace_id FROM subscriptions"))).all()
        assert found == [(ws(a),)]
        payments = await session.execute(text("SELECT count(*) FROM billing_payments"))
        assert payments.scalar_one() == 0
    assert payment["id"]


async def test_every_billing_table_with_a_workspace_forces_row_level_security(
    billing: Billing,
) -> None:
    rows = await billing.db.fetch(
        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'workspace_id' "
        "WHERE c.relkind = 'r' AND c.relname = ANY($1::text[])",
        list(BILLING_TENANT_TABLES),
    )
    assert sorted(r["relname"] for r in rows) == sorted(BILLING_TENANT_TABLES)
    assert all(r["relrowsecurity"] and r["relforcerowsecurity"] for r in rows)
    ledger_columns = await billing.db.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'razorpay_events'"
    )
    assert "workspace_id" not in {c["column_name"] for c in ledger_columns}
