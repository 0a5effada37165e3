"""Mutation fields of the billing domain: parse input, call a service, return a type."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import strawberry

from app.graphql.billing.queries import current_subscription
from app.graphql.billing.types import BillingSubscription, CheckoutOptions, Payment, Plan, TopUpPack
from app.graphql.context import Info
from app.graphql.node import decode_id
from app.graphql.permissions import IsDashboardCaller
from billing.payments import service as payments
from billing.razorpay_client import Gateway
from billing.subscriptions import service as subscriptions


def _gateway(info: Info) -> Gateway:
    return Gateway(info.context.state.settings.razorpay)


@strawberry.input(description="A paid plan to subscribe to.")
class StartCheckoutInput:
    """Checkout details."""

    plan_id: strawberry.ID = strawberry.field(description="Id of a paid Plan on offer.")


@strawberry.type(description="A subscription checkout, ready for Razorpay Checkout.")
class StartCheckoutPayload:
    """Checkout result."""

    plan: Plan = strawberry.field(description="The plan being bought.")
    checkout: CheckoutOptions = strawberry.field(description="Options for Razorpay Checkout.")


@strawberry.input(description="A top-up pack to buy.")
class BuyTopUpInput:
    """Top-up details."""

    pack_id: strawberry.ID = strawberry.field(description="Id of a TopUpPack on sale.")


@strawberry.type(description="A top-up order, ready for Razorpay Checkout.")
class BuyTopUpPayload:
    """Top-up result."""

    pack: TopUpPack = strawberry.field(description="The pack being bought.")
    checkout: CheckoutOptions = strawberry.field(description="Options for Razorpay Checkout.")


@strawberry.input(
    description="What Razorpay Checkout's handler received after a payment: the payment id, "
    "the signature, and the subscription id or the order id (exactly one)."
)
class VerifyPaymentInput:
    """Checkout's response."""

    payment_id: str = strawberry.field(description="razorpay_payment_id (pay_...).")
    signature: str = strawberry.field(description="razorpay_signature (64 hex characters).")
    subscription_id: str | None = strawberry.field(
        default=None, description="razorpay_subscription_id (sub_...), for subscriptions."
    )
    order_id: str | None = strawberry.field(
        default=None, description="razorpay_order_id (order_...), for top-ups."
    )


@strawberry.type(description="A payment whose Checkout signature checked out.")
class VerifyPaymentPayload:
    """Verification result."""

    payment: Payment = strawberry.field(
        description="The payment, PENDING_CONFIRMATION until Razorpay confirms it (a webhook "
        "or a fetch, queued now); the plan or top-up is granted only then."
    )


@strawberry.input(description="How to cancel the paid subscription.")
class CancelSubscriptionInput:
    """Cancellation details."""

    at_period_end: bool = strawberry.field(
        default=True,
        description="True: keep the paid plan until the period ends. False: end it now. "
        "Either way the workspace then returns to the free plan, keeping its data.",
    )


@strawberry.enum(description="When a plan change takes effect.")
class PlanChangeTiming(Enum):
    """Plan change timings."""

    IMMEDIATELY = "immediately"
    AT_PERIOD_END = "at_period_end"


@strawberry.input(description="Another paid plan to move the subscription to.")
class ChangePlanInput:
    """Plan change details."""

    plan_id: strawberry.ID = strawberry.field(description="Id of a paid Plan on offer.")
    timing: PlanChangeTiming = strawberry.field(
        default=PlanChangeTiming.AT_PERIOD_END,
        description="IMMEDIATELY (Razorpay prorates) or AT_PERIOD_END.",
    )


@strawberry.type(description="The subscription after a change.")
class SubscriptionPayload:
    """Subscription result."""

    subscription: BillingSubscription = strawberry.field(
        description="The current subscription now."
    )


@strawberry.type
class BillingMutation:
    """Root mutation fields of the billing domain."""

    @strawberry.mutation(
        description="Start paying for a plan: creates (or reuses) a Razorpay subscription and "
        "returns Checkout's options (owners and admins). Nothing changes until Razorpay "
        "reports the payment.",
        permission_classes=[IsDashboardCaller],
    )
    async def start_checkout(
        self,
        info: Info,
        input: Annotated[StartCheckoutInput, strawberry.argument(description="The plan to buy.")],
    ) -> StartCheckoutPayload:
        """Start a subscription checkout."""
        plan_id = decode_id(input.plan_id, "Plan", "planId")
        ctx = info.context
        async with ctx.db() as session:
            checkout = await subscriptions.start_checkout(
                session, ctx.principal, _gateway(info), ctx.state.settings.billing, plan_id=plan_id
            )
        return StartCheckoutPayload(
            plan=Plan.from_model(checkout.plan),
            checkout=CheckoutOptions.for_subscription(checkout),
        )

    @strawberry.mutation(
        description="Buy a top-up pack: creates a Razorpay order and returns Checkout's "
        "options (owners and admins). The allowance is added when Razorpay reports it paid.",
        permission_classes=[IsDashboardCaller],
    )
    async def buy_top_up(
        self,
        info: Info,
        input: Annotated[BuyTopUpInput, strawberry.argument(description="The pack to buy.")],
    ) -> BuyTopUpPayload:
        """Start a top-up checkout."""
        pack_id = decode_id(input.pack_id, "TopUpPack", "packId")
        ctx = info.context
        async with ctx.db() as session:
            checkout = await payments.buy_top_up(
                session, ctx.principal, _gateway(info), ctx.state.settings.billing, pack_id=pack_id
            )
        return BuyTopUpPayload(
            pack=TopUpPack.from_model(checkout.pack),
            checkout=CheckoutOptions.for_top_up(checkout),
        )

    @strawberry.mutation(
        description="Check the signature Razorpay Checkout returned and record the payment as "
        "pending confirmation (owners and admins). It grants nothing by itself.",
        permission_classes=[IsDashboardCaller],
    )
    async def verify_payment(
        self,
        info: Info,
        input: Annotated[
            VerifyPaymentInput, strawberry.argument(description="What Checkout's handler received.")
        ],
    ) -> VerifyPaymentPayload:
        """Verify a Checkout payment."""
        ctx = info.context
        async with ctx.db() as session:
            payment = await payments.verify_payment(
                session,
                ctx.principal,
                _gateway(info),
                ctx.jobs,
                payment_id=input.payment_id,
                signature=input.signature,
                subscription_id=input.subscription_id,
                order_id=input.order_id,
            )
        return VerifyPaymentPayload(payment=Payment.from_model(payment))

    @strawberry.mutation(
        description="Cancel the paid subscription, now or at the end of the period (owners and "
        "admins). The workspace returns to the free plan and keeps its data.",
        permission_classes=[IsDashboardCaller],
    )
    async def cancel_subscription(
        self,
        info: Info,
        input: Annotated[
            CancelSubscriptionInput, strawberry.argument(description="How to cancel.")
        ],
    ) -> SubscriptionPayload:
        """Cancel."""
        ctx = info.context
        async with ctx.db() as session:
            await subscriptions.cancel(
                session,
                ctx.principal,
                _gateway(info),
                ctx.state.settings.billing,
                ctx.jobs,
                at_period_end=input.at_period_end,
            )
        return SubscriptionPayload(subscription=await current_subscription(info))

    @strawberry.mutation(
        description="Move the paid subscription to another paid plan, immediately or at the "
        "end of the period (owners and admins). To return to free, cancel instead.",
        permission_classes=[IsDashboardCaller],
    )
    async def change_plan(
        self,
        info: Info,
        input: Annotated[
            ChangePlanInput, strawberry.argument(description="The new plan and when.")
        ],
    ) -> SubscriptionPayload:
        """Change plan."""
        plan_id = decode_id(input.plan_id, "Plan", "planId")
        ctx = info.context
        async with ctx.db() as session:
            await subscriptions.change_plan(
                session,
                ctx.principal,
                _gateway(info),
                ctx.state.settings.billing,
                ctx.jobs,
                plan_id=plan_id,
                at_period_end=input.timing is PlanChangeTiming.AT_PERIOD_END,
            )
        return SubscriptionPayload(subscription=await current_subscription(info))
