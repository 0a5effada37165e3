"""Payments, invoices and top-up orders.

`verify_payment` checks Checkout's signature against ids we stored and records the payment as
pending confirmation; it grants nothing. What Razorpay reports (a webhook, or the fetch that
`confirm_payment` does) moves payments, invoices and orders forward, and a paid top-up order
grants its allowance exactly once.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import BillingSettings
from app.db.ids import uuid7
from app.errors import NotFound, ValidationFailed
from app.jobs import QUEUE_INTERACTIVE, JobBuffer
from app.pagination import Page, PageRequest, make_page
from billing.entitlements import repository as quota_repo
from billing.entitlements.limits import TOPUP_LIMITS
from billing.entitlements.models import QuotaCredit
from billing.mirror import mirror
from billing.payments import repository
from billing.payments.models import Invoice, Order, Payment
from billing.plans import service as plans
from billing.plans.models import TopUpPack
from billing.razorpay_client import Gateway
from billing.razorpay_entities import InvoiceEntity, PaymentEntity, RefundEntity, is_razorpay_id
from billing.reconcile import repository as watchlist
from billing.subscriptions import repository as subscriptions_repo
from billing.subscriptions.models import Subscription
from billing.usage.metrics import month_start
from tenancy.accounts import repository as accounts_repo
from tenancy.audit import service as audit
from tenancy.principal import Principal, Role

log = logging.getLogger(__name__)

# Payment states only move up this ladder ("failed" can still become authorized: Razorpay
# reports late authorisations of payments it first marked failed).
PAYMENT_RANK = {
    "pending_confirmation": 0,
    "failed": 1,
    "authorized": 2,
    "captured": 3,
    "refunded": 4,
}
INVOICE_RANK = {"issued": 0, "partially_paid": 1, "expired": 2, "cancelled": 2, "paid": 3}
ORDER_RANK = {"created": 0, "attempted": 1, "paid": 2}
_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _payment_status(razorpay_status: str) -> str:
    return "pending_confirmation" if razorpay_status == "created" else razorpay_status


# --- top-ups ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopUpCheckout:
    """What Razorpay Checkout needs in the browser for a one-time order."""

    order: Order
    pack: TopUpPack
    key_id: str
    name: str
    description: str
    prefill_email: str | None
    prefill_name: str | None


async def buy_top_up(
    session: AsyncSession,
    principal: Principal,
    gateway: Gateway,
    settings: BillingSettings,
    *,
    pack_id: uuid.UUID,
) -> TopUpCheckout:
    """Create a Razorpay order for a top-up pack. The allowance is granted when Razorpay
    reports the order paid, for the month it is paid in."""
    workspace_id = principal.require_role(Role.ADMIN)
    pack = await plans.pack_for_purchase(session, pack_id, field="packId")
    order_id = uuid7()
    entity = await gateway.create_order(
        amount=pack.price_minor,
        currency=pack.currency,
        receipt=order_id.hex[:32],
        notes={"workspace_id": str(workspace_id), "pack": pack.code},
    )
    order = Order(
        workspace_id=workspace_id,
        id=order_id,
        razorpay_order_id=entity.id,
        pack_id=pack.id,
        amount_minor=pack.price_minor,
        currency=pack.currency,
        ai_tokens=pack.ai_tokens,
        conversations=pack.conversations,
        status="created",
        created_by=principal.user_id,
    )
    await repository.insert_order(session, order)
    await watchlist.watch(session, entity.id, "order")
    await audit.record(
        session,
        principal,
        "billing.top_up_started",
        target_type="order",
        target_id=order.id,
        details={"pack": pack.code, "razorpay_id": entity.id},
    )
    user = await accounts_repo.get_user(session, principal.user_id) if principal.user_id else None
    return TopUpCheckout(
        order=order,
        pack=pack,
        key_id=gateway.key_id,
        name=settings.checkout_name,
        description=pack.name,
        prefill_email=user.email if user else None,
        prefill_name=user.display_name if user else None,
    )


async def mark_order_paid(
    session: AsyncSession, order: Order, at: dt.datetime, *, source: str
) -> str:
    """Mark a top-up order paid and grant its allowance for the month of payment, once (the
    credit's unique source reference makes a second grant a no-op)."""
    workspace_id = order.workspace_id
    if order.status != "paid":
        await repository.update_order(session, workspace_id, order.id, status="paid", paid_at=at)
        mirror(order, status="paid", paid_at=at)
    granted = []
    for limit, column in TOPUP_LIMITS.items():
        amount = int(getattr(order, column))
        if amount <= 0:
            continue
        added = await quota_repo.add_credit(
            session,
            QuotaCredit(
                workspace_id=workspace_id,
                id=uuid7(),
                limit_name=limit.value,
                period_start=month_start(order.paid_at or at),
                amount=amount,
                source_ref=order.razorpay_order_id,
            ),
        )
        if added:
            granted.append(f"+{amount} {limit.value}")
    await watchlist.unwatch(session, order.razorpay_order_id)
    what = ", ".join(granted) if granted else "allowance already granted"
    return f"order {order.razorpay_order_id} paid ({source}): {what}"


# --- Checkout's signature ---------------------------------------------------------------------


def _check_verify_input(
    payment_id: str, signature: str, subscription_id: str | None, order_id: str | None
) -> None:
    if not is_razorpay_id(payment_id, "pay"):
        raise ValidationFailed("paymentId is not a Razorpay payment id.", field="paymentId")
    if not isinstance(signature, str) or not _SIGNATURE.match(signature):
        raise ValidationFailed(
            "signature must be the 64 hex characters Checkout returned.", field="signature"
        )
    if (subscription_id is None) == (order_id is None):
        raise ValidationFailed(
            "Give exactly one of subscriptionId and orderId.", field="subscriptionId"
        )
    if subscription_id is not None and not is_razorpay_id(subscription_id, "sub"):
        raise ValidationFailed(
            "subscriptionId is not a Razorpay subscription id.", field="subscriptionId"
        )
    if order_id is not None and not is_razorpay_id(order_id, "order"):
        raise ValidationFailed("orderId is not a Razorpay order id.", field="orderId")


async def verify_payment(
    session: AsyncSession,
    principal: Principal,
    gateway: Gateway,
    jobs: JobBuffer,
    *,
    payment_id: str,
    signature: str,
    subscription_id: str | None = None,
    order_id: str | None = None,
) -> Payment:
    """Check the signature Checkout returned for a payment against a subscription or order
    this workspace created, and record the payment as pending confirmation. A fetch from
    Razorpay (queued here) or its webhook then confirms it; this grants nothing by itself."""
    workspace_id = principal.require_role(Role.ADMIN)
    _check_verify_input(payment_id, signature, subscription_id, order_id)
    if subscription_id is not None:
        found = await subscriptions_repo.get_by_razorpay_id(session, workspace_id, subscription_id)
        if found is None:
            raise NotFound("This workspace has no such subscription.", field="subscriptionId")
    elif order_id is not None:
        order = await repository.order_by_razorpay_id(session, workspace_id, order_id)
        if order is None:
            raise NotFound("This workspace has no such order.", field="orderId")
    if not gateway.checkout_signature_valid(
        payment_id=payment_id,
        signature=signature,
        order_id=order_id,
        subscription_id=subscription_id,
    ):
        raise ValidationFailed(
            "The payment signature does not match this payment and "
            + ("subscription." if subscription_id else "order."),
            field="signature",
        )
    now = _now()
    payment = await repository.payment_by_razorpay_id(session, workspace_id, payment_id, lock=True)
    if payment is None:
        payment = Payment(
            workspace_id=workspace_id,
            id=uuid7(),
            razorpay_payment_id=payment_id,
            razorpay_subscription_id=subscription_id,
            razorpay_order_id=order_id,
            status="pending_confirmation",
            verified_at=now,
        )
        await repository.insert_payment(session, payment)
    elif payment.verified_at is None:
        links: dict[str, object] = {"verified_at": now}
        if subscription_id and not payment.razorpay_subscription_id:
            links["razorpay_subscription_id"] = subscription_id
        if order_id and not payment.razorpay_order_id:
            links["razorpay_order_id"] = order_id
        await repository.update_payment(session, workspace_id, payment.id, **links)
        mirror(payment, **links)
    jobs.add(
        "confirm_payment",
        str(workspace_id),
        payment_id,
        job_id=f"billing:confirm:{payment_id}",
        queue=QUEUE_INTERACTIVE,
    )
    await audit.record(
        session,
        principal,
        "billing.payment_verified",
        target_type="payment",
        target_id=payment.id,
        details={"razorpay_id": payment_id, "subscription": subscription_id, "order": order_id},
    )
    return payment


# --- what Razorpay reports --------------------------------------------------------------------


async def record_payment(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    entity: PaymentEntity,
    *,
    subscription_id: str | None = None,
) -> str:
    """Create or move a payment forward from a Razorpay snapshot. Returns a note."""
    status = _payment_status(entity.status)
    # Most snapshots name a payment we have not seen: try the insert first.
    inserted = await repository.insert_payment_if_new(
        session,
        Payment(
            workspace_id=workspace_id,
            id=uuid7(),
            razorpay_payment_id=entity.id,
            razorpay_order_id=entity.order_id,
            razorpay_subscription_id=subscription_id or entity.subscription_id,
            razorpay_invoice_id=entity.invoice_id,
            amount_minor=entity.amount,
            amount_refunded_minor=entity.amount_refunded,
            currency=entity.currency,
            status=status,
            method=entity.method,
            error_code=entity.error_code,
            error_description=entity.error_description,
        ),
    )
    if inserted:
        return f"payment {entity.id} recorded as {status}"
    payment = await repository.payment_by_razorpay_id(session, workspace_id, entity.id, lock=True)
    assert payment is not None
    values: dict[str, object] = {
        "amount_minor": entity.amount,
        "currency": entity.currency,
        "method": entity.method or payment.method,
        "razorpay_order_id": payment.razorpay_order_id or entity.order_id,
        "razorpay_invoice_id": payment.razorpay_invoice_id or entity.invoice_id,
        "razorpay_subscription_id": payment.razorpay_subscription_id
        or subscription_id
        or entity.subscription_id,
        "amount_refunded_minor": max(payment.amount_refunded_minor, entity.amount_refunded),
    }
    note = f"payment {entity.id} stays {payment.status}"
    if PAYMENT_RANK[status] > PAYMENT_RANK[payment.status]:
        values["status"] = status
        note = f"payment {entity.id} {payment.status} -> {status}"
    if status == "failed" and payment.status in ("pending_confirmation", "failed"):
        values.update(error_code=entity.error_code, error_description=entity.error_description)
    await repository.update_payment(session, workspace_id, payment.id, **values)
    return note


async def record_invoice(
    session: AsyncSession, workspace_id: uuid.UUID, entity: InvoiceEntity
) -> str:
    """Create or move an invoice forward from a Razorpay snapshot."""
    if entity.status in ("draft", "deleted"):
        return f"invoice {entity.id} is {entity.status}; not shown"
    invoice = await repository.invoice_by_razorpay_id(session, workspace_id, entity.id)
    if invoice is None:
        await repository.insert_invoice(
            session,
            Invoice(
                workspace_id=workspace_id,
                id=uuid7(),
                razorpay_invoice_id=entity.id,
                razorpay_subscription_id=entity.subscription_id,
                razorpay_payment_id=entity.payment_id,
                amount_minor=entity.amount,
                amount_paid_minor=entity.amount_paid,
                currency=entity.currency,
                status=entity.status,
                billing_start=entity.billing_start,
                billing_end=entity.billing_end,
                issued_at=entity.issued_at,
                paid_at=entity.paid_at,
                short_url=entity.short_url,
            ),
        )
        return f"invoice {entity.id} recorded as {entity.status}"
    values: dict[str, object] = {
        "amount_paid_minor": max(invoice.amount_paid_minor, entity.amount_paid),
        "razorpay_payment_id": invoice.razorpay_payment_id or entity.payment_id,
        "billing_start": invoice.billing_start or entity.billing_start,
        "billing_end": invoice.billing_end or entity.billing_end,
        "issued_at": invoice.issued_at or entity.issued_at,
        "paid_at": invoice.paid_at or entity.paid_at,
        "short_url": entity.short_url or invoice.short_url,
    }
    note = f"invoice {entity.id} stays {invoice.status}"
    if INVOICE_RANK[entity.status] > INVOICE_RANK[invoice.status]:
        values["status"] = entity.status
        note = f"invoice {entity.id} {invoice.status} -> {entity.status}"
    await repository.update_invoice(session, workspace_id, invoice.id, **values)
    return note


async def record_charge(
    session: AsyncSession,
    subscription: Subscription,
    payment: PaymentEntity,
    at: dt.datetime,
) -> str | None:
    """A `subscription.charged` carries the payment but not the invoice: record the invoice
    the payment settled from what we know (the `invoice.paid` event fills in the rest)."""
    if payment.invoice_id is None or payment.status not in ("captured", "authorized"):
        return None
    entity = InvoiceEntity(
        id=payment.invoice_id,
        subscription_id=subscription.razorpay_subscription_id,
        payment_id=payment.id,
        order_id=payment.order_id,
        amount=payment.amount,
        amount_paid=payment.amount,
        currency=payment.currency,
        status="paid",
        billing_start=subscription.current_period_start,
        billing_end=subscription.current_period_end,
        issued_at=None,
        paid_at=at,
        short_url=None,
    )
    return await record_invoice(session, subscription.workspace_id, entity)


async def record_refund(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    refund: RefundEntity,
    payment_entity: PaymentEntity | None,
) -> str:
    """Record a processed refund on its payment; a refunded top-up gives back the share of
    its allowance the refund covers, once per refund. The payment's refunded total only
    grows (Razorpay's payment snapshot carries the running total; without one, the refund's
    own amount is a lower bound), so a repeated or reordered refund never counts twice."""
    if refund.status != "processed":
        return f"refund {refund.id} is {refund.status}; nothing to do yet"
    notes = [f"refund {refund.id} of {refund.amount} processed"]
    if payment_entity is not None:
        notes.append(await record_payment(session, workspace_id, payment_entity))
    payment = await repository.payment_by_razorpay_id(
        session, workspace_id, refund.payment_id, lock=True
    )
    if payment is None:
        return "; ".join([*notes, f"payment {refund.payment_id} is not ours"])
    refunded = max(payment.amount_refunded_minor, refund.amount)
    values: dict[str, object] = {"amount_refunded_minor": refunded}
    if payment.amount_minor is not None and refunded >= payment.amount_minor:
        values["status"] = "refunded"
    await repository.update_payment(session, workspace_id, payment.id, **values)
    if payment.razorpay_order_id:
        order = await repository.order_by_razorpay_id(
            session, workspace_id, payment.razorpay_order_id
        )
        if order is not None:
            share = min(refund.amount, order.amount_minor)
            for credit in await quota_repo.credits_from(
                session, workspace_id, order.razorpay_order_id
            ):
                taken = -(credit.amount * share // order.amount_minor)
                if taken and await quota_repo.add_credit(
                    session,
                    QuotaCredit(
                        workspace_id=workspace_id,
                        id=uuid7(),
                        limit_name=credit.limit_name,
                        period_start=credit.period_start,
                        amount=taken,
                        source_ref=refund.id,
                    ),
                ):
                    notes.append(f"{taken} {credit.limit_name} taken back")
    return "; ".join(notes)


# --- history -------------------------------------------------------------------------------


async def list_invoices(
    session: AsyncSession, principal: Principal, page: PageRequest
) -> Page[Invoice]:
    """The workspace's invoices, newest first (owners and admins)."""
    workspace_id = principal.require_role(Role.ADMIN)
    return make_page(await repository.list_invoices(session, workspace_id, page), page)


async def list_payments(
    session: AsyncSession, principal: Principal, page: PageRequest
) -> Page[Payment]:
    """The workspace's payments, newest first (owners and admins)."""
    workspace_id = principal.require_role(Role.ADMIN)
    return make_page(await repository.list_payments(session, workspace_id, page), page)


async def get_invoice(
    session: AsyncSession, principal: Principal, invoice_id: uuid.UUID
) -> Invoice | None:
    """One invoice (owners and admins)."""
    workspace_id = principal.require_role(Role.ADMIN)
    return await repository.get_invoice(session, workspace_id, invoice_id)


async def get_payment(
    session: AsyncSession, principal: Principal, payment_id: uuid.UUID
) -> Payment | None:
    """One payment (owners and admins)."""
    workspace_id = principal.require_role(Role.ADMIN)
    return await repository.get_payment(session, workspace_id, payment_id)
