"""GraphQL types of the billing domain."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import Enum

import strawberry

from app.graphql.node import Node, to_global_id
from app.graphql.scalars import BigInt
from billing.entitlements.service import QuotaReport as QuotaReportData
from billing.entitlements.service import QuotaUsage
from billing.payments.models import Invoice as InvoiceModel
from billing.payments.models import Payment as PaymentModel
from billing.payments.service import TopUpCheckout
from billing.plans.models import Plan as PlanModel
from billing.plans.models import TopUpPack as TopUpPackModel
from billing.subscriptions.service import Checkout, CurrentPlan
from billing.usage.metrics import Metric
from billing.usage.service import UsageSnapshot


@strawberry.type(description="What the current workspace has used.")
class Usage:
    """Metered usage: this calendar month's counters and the running totals."""

    period_start: dt.date = strawberry.field(description="First day of the metered month (UTC).")
    conversations: int = strawberry.field(description="Conversations started this month.")
    messages: int = strawberry.field(description="Messages answered this month.")
    input_tokens: BigInt = strawberry.field(description="Model input tokens this month.")
    output_tokens: BigInt = strawberry.field(description="Model output tokens this month.")
    ai_tokens: BigInt = strawberry.field(
        description="Model tokens (input plus output) counted against the plan this month."
    )
    api_requests: BigInt = strawberry.field(description="API requests this month.")
    documents: int = strawberry.field(description="Documents stored now.")
    stored_bytes: BigInt = strawberry.field(description="Bytes of documents stored now.")

    @classmethod
    def from_snapshot(cls, usage: UsageSnapshot) -> Usage:
        """Convert a service snapshot."""
        v = usage.values
        return cls(
            period_start=usage.period_start,
            conversations=v[Metric.CONVERSATIONS],
            messages=v[Metric.MESSAGES],
            input_tokens=BigInt(v[Metric.INPUT_TOKENS]),
            output_tokens=BigInt(v[Metric.OUTPUT_TOKENS]),
            ai_tokens=BigInt(v[Metric.AI_TOKENS]),
            api_requests=BigInt(v[Metric.API_REQUESTS]),
            documents=v[Metric.DOCUMENTS],
            stored_bytes=BigInt(v[Metric.STORED_BYTES]),
        )


@strawberry.type(description="An amount of money.")
class Money:
    """Money in minor units (paise for INR)."""

    amount_minor: BigInt = strawberry.field(
        description="The amount in the currency's minor unit, e.g. paise: 149900 is ₹1,499."
    )
    currency: str = strawberry.field(description="ISO 4217 code, e.g. INR.")


def _money(amount: int | None, currency: str | None) -> Money | None:
    if amount is None or currency is None:
        return None
    return Money(amount_minor=BigInt(amount), currency=currency)


@strawberry.enum(description="How often a plan is billed.")
class BillingPeriod(Enum):
    """Billing periods."""

    MONTHLY = "monthly"
    YEARLY = "yearly"


@strawberry.type(description="What a plan allows; null means unlimited.")
class PlanLimits:
    """A plan's limits."""

    conversations_per_month: BigInt | None = strawberry.field(
        description="Conversations started per calendar month."
    )
    documents: BigInt | None = strawberry.field(description="Documents stored at once.")
    stored_bytes: BigInt | None = strawberry.field(description="Bytes of documents stored.")
    members: int | None = strawberry.field(description="Members, counting pending invitations.")
    publishable_keys: int | None = strawberry.field(description="Active publishable keys.")
    api_requests_per_minute: int | None = strawberry.field(
        description="API requests per minute (enforced by the rate limiter)."
    )
    ai_tokens_per_month: BigInt | None = strawberry.field(
        description="Model tokens (input plus output) per calendar month."
    )


def _big(value: int | None) -> BigInt | None:
    return None if value is None else BigInt(value)


@strawberry.type(description="A plan version: its price and limits never change once sold.")
class Plan(Node):
    """A plan version."""

    code: str = strawberry.field(description="Stable name of the plan: free, starter, pro...")
    version: int = strawberry.field(description="Version of the plan's terms.")
    name: str = strawberry.field(description="Display name.")
    description: str = strawberry.field(description="One line about who it is for.")
    price: Money = strawberry.field(description="Price per billing period.")
    billing_period: BillingPeriod = strawberry.field(description="How often it is billed.")
    is_free: bool = strawberry.field(description="True for the free plan.")
    available: bool = strawberry.field(
        description="True when this version is offered to new buyers."
    )
    limits: PlanLimits = strawberry.field(description="What the plan allows.")

    @classmethod
    def from_model(cls, plan: PlanModel) -> Plan:
        """Convert a row."""
        return cls(
            id=to_global_id("Plan", plan.id),
            code=plan.code,
            version=plan.version,
            name=plan.name,
            description=plan.description,
            price=Money(amount_minor=BigInt(plan.price_minor), currency=plan.currency),
            billing_period=BillingPeriod(plan.billing_period),
            is_free=plan.is_free,
            available=plan.available,
            limits=PlanLimits(
                conversations_per_month=_big(plan.conversations_per_month),
                documents=_big(plan.documents),
                stored_bytes=_big(plan.stored_bytes),
                members=plan.members,
                publishable_keys=plan.publishable_keys,
                api_requests_per_minute=plan.api_requests_per_minute,
                ai_tokens_per_month=_big(plan.ai_tokens_per_month),
            ),
        )


@strawberry.type(description="A one-time purchase adding allowance to the current month.")
class TopUpPack(Node):
    """A top-up pack."""

    code: str = strawberry.field(description="Stable name of the pack.")
    name: str = strawberry.field(description="Display name.")
    price: Money = strawberry.field(description="Price.")
    ai_tokens: BigInt = strawberry.field(description="AI tokens added for the month.")
    conversations: BigInt = strawberry.field(description="Conversations added for the month.")

    @classmethod
    def from_model(cls, pack: TopUpPackModel) -> TopUpPack:
        """Convert a row."""
        return cls(
            id=to_global_id("TopUpPack", pack.id),
            code=pack.code,
            name=pack.name,
            price=Money(amount_minor=BigInt(pack.price_minor), currency=pack.currency),
            ai_tokens=BigInt(pack.ai_tokens),
            conversations=BigInt(pack.conversations),
        )


@strawberry.enum(
    description="Where a subscription stands, as Razorpay reports it: CREATED (checkout "
    "opened), AUTHENTICATED (mandate given), ACTIVE, PENDING (a charge failed; retrying), "
    "HALTED (retries exhausted), PAUSED, CANCELLED, COMPLETED, EXPIRED, or REPLACED (a free "
    "subscription superseded by a paid one)."
)
class SubscriptionStatus(Enum):
    """Subscription states."""

    CREATED = "created"
    AUTHENTICATED = "authenticated"
    ACTIVE = "active"
    PENDING = "pending"
    HALTED = "halted"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    EXPIRED = "expired"
    REPLACED = "replaced"


@strawberry.type(description="The workspace's current subscription.")
class BillingSubscription(Node):
    """A subscription (named so to keep clear of GraphQL's Subscription root type)."""

    plan: Plan = strawberry.field(description="The plan version subscribed to.")
    effective_plan: Plan = strawberry.field(
        description="The plan whose limits apply now: the free plan while a payment is "
        "overdue past the grace period or the subscription is paused."
    )
    downgraded_because: str | None = strawberry.field(
        description="Why the effective plan differs from the subscribed one."
    )
    status: SubscriptionStatus = strawberry.field(description="Where the subscription stands.")
    current_period_start: dt.datetime | None = strawberry.field(
        description="Start of the paid period."
    )
    current_period_end: dt.datetime | None = strawberry.field(
        description="End of the paid period (the next charge)."
    )
    cancel_at_period_end: bool = strawberry.field(
        description="True when the subscription ends with the current period."
    )
    scheduled_plan: Plan | None = strawberry.field(
        description="The plan a scheduled change moves to at the period's end."
    )
    scheduled_change_at: dt.datetime | None = strawberry.field(
        description="When the scheduled change takes effect."
    )
    past_due_since: dt.datetime | None = strawberry.field(
        description="When a charge first failed, while it stays unpaid."
    )
    grace_ends_at: dt.datetime | None = strawberry.field(
        description="When the workspace falls back to free limits if the payment stays overdue."
    )
    razorpay_subscription_id: str | None = strawberry.field(
        description="Razorpay's id of the subscription (null on the free plan)."
    )

    @classmethod
    def from_current(cls, current: CurrentPlan, scheduled: PlanModel | None) -> BillingSubscription:
        """Convert the service's view of the current subscription."""
        sub = current.subscription
        return cls(
            id=to_global_id("BillingSubscription", sub.id if sub else uuid.UUID(int=0)),
            plan=Plan.from_model(current.plan),
            effective_plan=Plan.from_model(current.effective),
            downgraded_because=current.downgraded_because,
            status=SubscriptionStatus(sub.status if sub else "active"),
            current_period_start=sub.current_period_start if sub else None,
            current_period_end=sub.current_period_end if sub else None,
            cancel_at_period_end=sub.cancel_at_period_end if sub else False,
            scheduled_plan=Plan.from_model(scheduled) if scheduled else None,
            scheduled_change_at=sub.scheduled_change_at if sub else None,
            past_due_since=sub.past_due_since if sub else None,
            grace_ends_at=current.grace_ends_at,
            razorpay_subscription_id=sub.razorpay_subscription_id if sub else None,
        )


@strawberry.enum(description="A plan limit.")
class LimitKind(Enum):
    """The limits a plan sets."""

    CONVERSATIONS_PER_MONTH = "conversations_per_month"
    DOCUMENTS = "documents"
    STORED_BYTES = "stored_bytes"
    MEMBERS = "members"
    PUBLISHABLE_KEYS = "publishable_keys"
    API_REQUESTS_PER_MINUTE = "api_requests_per_minute"
    AI_TOKENS_PER_MONTH = "ai_tokens_per_month"


@strawberry.enum(
    description="How close usage is to a limit: OK, WARNING (80% or more) or EXCEEDED."
)
class QuotaLevel(Enum):
    """Quota levels."""

    OK = "ok"
    WARNING = "warning"
    EXCEEDED = "exceeded"


@strawberry.type(description="One limit against the workspace's usage.")
class Quota:
    """A limit and its usage."""

    limit: LimitKind = strawberry.field(description="Which limit.")
    used: BigInt | None = strawberry.field(
        description="Usage now (null for API requests per minute, which the rate limiter measures)."
    )
    reserved: BigInt = strawberry.field(
        description="AI tokens held by model calls in flight (zero for other limits)."
    )
    maximum: BigInt | None = strawberry.field(
        description="The limit, including this month's top-ups (null: unlimited)."
    )
    resets_at: dt.datetime | None = strawberry.field(
        description="When usage starts again from zero (null: never; free some up instead)."
    )
    level: QuotaLevel = strawberry.field(description="OK, WARNING (80%+) or EXCEEDED.")
    warning: str | None = strawberry.field(description="A sentence to show at 80% or more.")

    @classmethod
    def from_usage(cls, item: QuotaUsage) -> Quota:
        """Convert the service's item."""
        return cls(
            limit=LimitKind(item.limit.value),
            used=_big(item.used),
            reserved=BigInt(item.reserved),
            maximum=_big(item.maximum),
            resets_at=item.resets_at,
            level=QuotaLevel(item.level),
            warning=item.warning,
        )


@strawberry.type(description="Usage of the current workspace against its plan's limits.")
class QuotaReport:
    """Quotas of the workspace."""

    plan: Plan = strawberry.field(description="The plan whose limits apply now.")
    quotas: list[Quota] = strawberry.field(description="Every limit with its usage.")
    warnings: list[str] = strawberry.field(
        description="Sentences for the limits at 80% or more of their allowance."
    )

    @classmethod
    def from_report(cls, report: QuotaReportData) -> QuotaReport:
        """Convert the service's report."""
        return cls(
            plan=Plan.from_model(report.current.effective),
            quotas=[Quota.from_usage(item) for item in report.items],
            warnings=report.warnings,
        )


@strawberry.enum(
    description="Where an invoice stands: ISSUED, PARTIALLY_PAID, PAID, EXPIRED or CANCELLED."
)
class InvoiceStatus(Enum):
    """Invoice states."""

    ISSUED = "issued"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


@strawberry.type(description="An invoice of a subscription cycle.")
class Invoice(Node):
    """An invoice."""

    status: InvoiceStatus = strawberry.field(description="Where the invoice stands.")
    amount: Money = strawberry.field(description="The amount invoiced.")
    amount_paid: Money = strawberry.field(description="The amount paid so far.")
    billing_start: dt.datetime | None = strawberry.field(description="Start of the period billed.")
    billing_end: dt.datetime | None = strawberry.field(description="End of the period billed.")
    issued_at: dt.datetime | None = strawberry.field(description="When it was issued.")
    paid_at: dt.datetime | None = strawberry.field(description="When it was paid.")
    url: str | None = strawberry.field(description="Razorpay's page for the invoice.")
    razorpay_invoice_id: str = strawberry.field(description="Razorpay's id of the invoice.")
    created_at: dt.datetime = strawberry.field(description="When Parley first recorded it.")

    @classmethod
    def from_model(cls, invoice: InvoiceModel) -> Invoice:
        """Convert a row."""
        return cls(
            id=to_global_id("Invoice", invoice.id),
            status=InvoiceStatus(invoice.status),
            amount=Money(amount_minor=BigInt(invoice.amount_minor), currency=invoice.currency),
            amount_paid=Money(
                amount_minor=BigInt(invoice.amount_paid_minor), currency=invoice.currency
            ),
            billing_start=invoice.billing_start,
            billing_end=invoice.billing_end,
            issued_at=invoice.issued_at,
            paid_at=invoice.paid_at,
            url=invoice.short_url,
            razorpay_invoice_id=invoice.razorpay_invoice_id,
            created_at=invoice.created_at,
        )


@strawberry.enum(
    description="Where a payment stands: PENDING_CONFIRMATION (Checkout's signature checked, "
    "Razorpay not heard from yet), FAILED, AUTHORIZED, CAPTURED or REFUNDED."
)
class PaymentStatus(Enum):
    """Payment states."""

    PENDING_CONFIRMATION = "pending_confirmation"
    FAILED = "failed"
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    REFUNDED = "refunded"


@strawberry.enum(description="What a payment was for.")
class PaymentPurpose(Enum):
    """Payment purposes."""

    SUBSCRIPTION = "subscription"
    TOP_UP = "top_up"
    UNKNOWN = "unknown"


@strawberry.type(description="A payment made through Razorpay.")
class Payment(Node):
    """A payment."""

    status: PaymentStatus = strawberry.field(description="Where the payment stands.")
    purpose: PaymentPurpose = strawberry.field(description="Subscription or top-up.")
    amount: Money | None = strawberry.field(
        description="The amount (null until Razorpay confirms the payment)."
    )
    amount_refunded: Money | None = strawberry.field(description="The amount refunded so far.")
    method: str | None = strawberry.field(description="card, upi, netbanking...")
    error_code: str | None = strawberry.field(description="Razorpay's code when it failed.")
    error_description: str | None = strawberry.field(
        description="Razorpay's explanation when it failed."
    )
    razorpay_payment_id: str = strawberry.field(description="Razorpay's id of the payment.")
    created_at: dt.datetime = strawberry.field(description="When Parley first recorded it.")
    updated_at: dt.datetime = strawberry.field(description="When it last changed.")

    @classmethod
    def from_model(cls, payment: PaymentModel) -> Payment:
        """Convert a row."""
        if payment.razorpay_order_id and not payment.razorpay_invoice_id:
            purpose = PaymentPurpose.TOP_UP
        elif payment.razorpay_subscription_id or payment.razorpay_invoice_id:
            purpose = PaymentPurpose.SUBSCRIPTION
        else:
            purpose = PaymentPurpose.UNKNOWN
        return cls(
            id=to_global_id("Payment", payment.id),
            status=PaymentStatus(payment.status),
            purpose=purpose,
            amount=_money(payment.amount_minor, payment.currency),
            amount_refunded=_money(payment.amount_refunded_minor, payment.currency),
            method=payment.method,
            error_code=payment.error_code,
            error_description=payment.error_description,
            razorpay_payment_id=payment.razorpay_payment_id,
            created_at=payment.created_at,
            updated_at=payment.updated_at,
        )


@strawberry.type(
    description="Options for Razorpay Checkout in the browser: pass them to "
    "`new Razorpay({...})` with your handler, then send the handler's response to "
    "verifyPayment."
)
class CheckoutOptions:
    """Razorpay Checkout options."""

    key: str = strawberry.field(description="Razorpay key id (public).")
    subscription_id: str | None = strawberry.field(
        description="Razorpay subscription id (subscriptions)."
    )
    order_id: str | None = strawberry.field(description="Razorpay order id (top-ups).")
    amount: Money | None = strawberry.field(description="The amount (top-ups).")
    name: str = strawberry.field(description="Merchant name shown in Checkout.")
    description: str = strawberry.field(description="What is being bought.")
    prefill_email: str | None = strawberry.field(description="The buyer's email.")
    prefill_name: str | None = strawberry.field(description="The buyer's name.")
    short_url: str | None = strawberry.field(
        description="Razorpay's hosted page for the subscription, as an alternative."
    )

    @classmethod
    def for_subscription(cls, checkout: Checkout) -> CheckoutOptions:
        """Options for a subscription checkout."""
        return cls(
            key=checkout.key_id,
            subscription_id=checkout.razorpay_subscription_id,
            order_id=None,
            amount=None,
            name=checkout.name,
            description=checkout.description,
            prefill_email=checkout.prefill_email,
            prefill_name=checkout.prefill_name,
            short_url=checkout.short_url,
        )

    @classmethod
    def for_top_up(cls, checkout: TopUpCheckout) -> CheckoutOptions:
        """Options for a top-up order."""
        return cls(
            key=checkout.key_id,
            subscription_id=None,
            order_id=checkout.order.razorpay_order_id,
            amount=Money(
                amount_minor=BigInt(checkout.order.amount_minor),
                currency=checkout.order.currency,
            ),
            name=checkout.name,
            description=checkout.description,
            prefill_email=checkout.prefill_email,
            prefill_name=checkout.prefill_name,
            short_url=None,
        )
