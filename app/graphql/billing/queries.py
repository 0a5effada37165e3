"""Query fields of the billing domain."""

from __future__ import annotations

import uuid
from typing import Annotated

import strawberry

from app.graphql.billing.types import (
    BillingSubscription,
    Invoice,
    Payment,
    Plan,
    QuotaReport,
    TopUpPack,
    Usage,
)
from app.graphql.context import Info
from app.graphql.node import register_node
from app.graphql.pagination import Connection, connection
from app.graphql.permissions import IsDashboardCaller
from app.pagination import page_request
from billing.entitlements import service as entitlements
from billing.payments import service as payments
from billing.plans import repository as plans_repo
from billing.plans import service as plans
from billing.subscriptions import service as subscriptions
from billing.usage import service as usage
from tenancy.principal import Role

First = Annotated[
    int | None, strawberry.argument(description="How many items (at most 100; default 20).")
]
After = Annotated[str | None, strawberry.argument(description="Return items after this cursor.")]


async def current_subscription(info: Info) -> BillingSubscription:
    """The caller workspace's current subscription as a GraphQL type."""
    workspace_id = info.context.principal.require_workspace()
    async with info.context.db() as session:
        current = await subscriptions.current_plan(session, workspace_id)
        scheduled = await subscriptions.scheduled_plan(session, current.subscription)
    return BillingSubscription.from_current(current, scheduled)


@strawberry.type
class BillingQuery:
    """Root query fields of the billing domain."""

    @strawberry.field(
        description="Usage of the current workspace.", permission_classes=[IsDashboardCaller]
    )
    async def usage(self, info: Info) -> Usage:
        """This month's counters and running totals."""
        async with info.context.db() as session:
            snapshot = await usage.snapshot(session, info.context.principal)
        return Usage.from_snapshot(snapshot)

    @strawberry.field(description="Plans on offer, cheapest first (the public price list).")
    async def plans(self, info: Info) -> list[Plan]:
        """The catalogue."""
        async with info.context.db() as session:
            rows = await plans.list_plans(session)
        return [Plan.from_model(plan) for plan in rows]

    @strawberry.field(description="Top-up packs on sale.")
    async def top_up_packs(self, info: Info) -> list[TopUpPack]:
        """The packs."""
        async with info.context.db() as session:
            rows = await plans.list_packs(session)
        return [TopUpPack.from_model(pack) for pack in rows]

    @strawberry.field(
        description="The current workspace's subscription (every workspace has one; free by "
        "default).",
        permission_classes=[IsDashboardCaller],
    )
    async def subscription(self, info: Info) -> BillingSubscription:
        """The current subscription."""
        return await current_subscription(info)

    @strawberry.field(
        description="Usage of the current workspace against its plan's limits, with warnings "
        "from 80%.",
        permission_classes=[IsDashboardCaller],
    )
    async def quotas(self, info: Info) -> QuotaReport:
        """Limits and usage."""
        async with info.context.db() as session:
            report = await entitlements.report(session, info.context.principal)
        return QuotaReport.from_report(report)

    @strawberry.field(
        description="Invoices of the current workspace, newest first (owners and admins).",
        permission_classes=[IsDashboardCaller],
    )
    async def invoices(
        self, info: Info, first: First = None, after: After = None
    ) -> Connection[Invoice]:
        """Invoice history."""
        request = page_request(first, after)
        async with info.context.db() as session:
            page = await payments.list_invoices(session, info.context.principal, request)
        return connection(page, Invoice.from_model, lambda row: row.id)

    @strawberry.field(
        description="Payments of the current workspace, newest first (owners and admins).",
        permission_classes=[IsDashboardCaller],
    )
    async def payments(
        self, info: Info, first: First = None, after: After = None
    ) -> Connection[Payment]:
        """Payment history."""
        request = page_request(first, after)
        async with info.context.db() as session:
            page = await payments.list_payments(session, info.context.principal, request)
        return connection(page, Payment.from_model, lambda row: row.id)


# node(id:) fetchers: invoices and payments only for owners and admins of the current
# workspace (under its row-level security); plans and packs are public.


def _is_admin(info: Info) -> bool:
    principal = info.context.principal
    return principal.workspace_id is not None and bool(
        principal.role and principal.role.at_least(Role.ADMIN)
    )


async def _plan_node(info: Info, value: uuid.UUID) -> Plan | None:
    async with info.context.db() as session:
        plan = await plans_repo.get(session, value)
    return Plan.from_model(plan) if plan else None


async def _pack_node(info: Info, value: uuid.UUID) -> TopUpPack | None:
    async with info.context.db() as session:
        pack = await plans_repo.get_pack(session, value)
    return TopUpPack.from_model(pack) if pack else None


async def _invoice_node(info: Info, value: uuid.UUID) -> Invoice | None:
    if not _is_admin(info):
        return None
    async with info.context.db() as session:
        invoice = await payments.get_invoice(session, info.context.principal, value)
    return Invoice.from_model(invoice) if invoice else None


async def _payment_node(info: Info, value: uuid.UUID) -> Payment | None:
    if not _is_admin(info):
        return None
    async with info.context.db() as session:
        payment = await payments.get_payment(session, info.context.principal, value)
    return Payment.from_model(payment) if payment else None


register_node("Plan", _plan_node)
register_node("TopUpPack", _pack_node)
register_node("Invoice", _invoice_node)
register_node("Payment", _payment_node)
