"""The one module that talks to Razorpay, through the official `razorpay` SDK.

The SDK is synchronous (requests), so every call runs in a worker thread. The base URL is
configurable (RAZORPAY_BASE_URL), which is how tests point it at a local server speaking
Razorpay's REST API. Each call gets its own SDK client: a requests.Session is not meant to be
shared between threads, and billing calls are rare enough that connection reuse is moot.

Errors come out as Parley errors: Razorpay refusing a request is a CONFLICT carrying its
description; Razorpay unreachable or failing is UNAVAILABLE, so the caller may retry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import razorpay
import requests
from razorpay.errors import BadRequestError, GatewayError, ServerError, SignatureVerificationError

from app.config import RazorpaySettings
from app.errors import Conflict, Unavailable
from billing.razorpay_entities import (
    MalformedEntity,
    OrderEntity,
    PaymentEntity,
    SubscriptionEntity,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


class ProviderRejected(Conflict):
    """Razorpay refused the request (its description says why)."""


class ProviderUnavailable(Unavailable):
    """Razorpay could not be reached or failed; retrying later may work."""


class Gateway:
    """Razorpay's API as Parley uses it: subscriptions, orders, payments, signatures."""

    def __init__(self, settings: RazorpaySettings) -> None:
        self.settings = settings

    @property
    def configured(self) -> bool:
        """True when API keys are set."""
        return bool(self.settings.key_id and self.settings.key_secret)

    @property
    def key_id(self) -> str:
        """The public key id Checkout needs in the browser."""
        return self.settings.key_id

    def _client(self) -> Any:
        if not self.configured:
            raise ProviderUnavailable(
                "Payments are not configured on this server (RAZORPAY_KEY_ID/KEY_SECRET)."
            )
        assert self.settings.key_secret is not None
        options: dict[str, Any] = {}
        if self.settings.base_url:
            options["base_url"] = self.settings.base_url.rstrip("/")
        return razorpay.Client(
            auth=(self.settings.key_id, self.settings.key_secret.get_secret_value()), **options
        )

    async def _call(self, what: str, call: Callable[[Any], Any], parse: Callable[[Any], T]) -> T:
        def run() -> Any:
            return call(self._client())

        try:
            raw = await asyncio.to_thread(run)
        except BadRequestError as exc:
            log.warning("razorpay refused %s: %s", what, exc)
            raise ProviderRejected(f"Razorpay refused to {what}: {exc}") from exc
        except (ServerError, GatewayError, requests.RequestException, ValueError) as exc:
            # ValueError covers a response body that is not JSON.
            log.error("razorpay failed to %s: %r", what, exc)
            raise ProviderUnavailable(
                f"Razorpay could not {what} just now; try again shortly."
            ) from exc
        try:
            return parse(raw)
        except MalformedEntity as exc:
            log.error("razorpay answered %s with a malformed entity: %s", what, exc)
            raise ProviderUnavailable(f"Razorpay's answer to {what} was not understood.") from exc

    def _timeout(self) -> dict[str, Any]:
        return {"timeout": self.settings.timeout_s}

    async def create_subscription(
        self, *, plan_id: str, total_count: int, notes: dict[str, str]
    ) -> SubscriptionEntity:
        """Create a subscription to a Razorpay plan; Checkout then collects the mandate."""
        body = {"plan_id": plan_id, "total_count": total_count, "quantity": 1, "notes": notes}
        return await self._call(
            "create the subscription",
            lambda c: c.subscription.create(body, **self._timeout()),
            SubscriptionEntity.parse,
        )

    async def fetch_subscription(self, subscription_id: str) -> SubscriptionEntity:
        """The subscription as Razorpay sees it now."""
        return await self._call(
            "fetch the subscription",
            lambda c: c.subscription.fetch(subscription_id, **self._timeout()),
            SubscriptionEntity.parse,
        )

    async def cancel_subscription(
        self, subscription_id: str, *, at_cycle_end: bool
    ) -> SubscriptionEntity:
        """Cancel now, or at the end of the current billing cycle."""
        body = {"cancel_at_cycle_end": 1 if at_cycle_end else 0}
        return await self._call(
            "cancel the subscription",
            lambda c: c.subscription.cancel(subscription_id, body, **self._timeout()),
            SubscriptionEntity.parse,
        )

    async def change_plan(
        self, subscription_id: str, *, plan_id: str, at_cycle_end: bool
    ) -> SubscriptionEntity:
        """Move the subscription to another Razorpay plan, now or at the cycle's end."""
        body = {
            "plan_id": plan_id,
            "quantity": 1,
            "schedule_change_at": "cycle_end" if at_cycle_end else "now",
            "customer_notify": 1,
        }
        return await self._call(
            "change the plan",
            lambda c: c.subscription.edit(subscription_id, body, **self._timeout()),
            SubscriptionEntity.parse,
        )

    async def create_order(
        self, *, amount: int, currency: str, receipt: str, notes: dict[str, str]
    ) -> OrderEntity:
        """A one-time order Checkout can collect."""
        body = {"amount": amount, "currency": currency, "receipt": receipt, "notes": notes}
        return await self._call(
            "create the order",
            lambda c: c.order.create(body, **self._timeout()),
            OrderEntity.parse,
        )

    async def fetch_order(self, order_id: str) -> OrderEntity:
        """The order as Razorpay sees it now."""
        return await self._call(
            "fetch the order",
            lambda c: c.order.fetch(order_id, **self._timeout()),
            OrderEntity.parse,
        )

    async def fetch_payment(self, payment_id: str) -> PaymentEntity:
        """The payment as Razorpay sees it now."""
        return await self._call(
            "fetch the payment",
            lambda c: c.payment.fetch(payment_id, **self._timeout()),
            PaymentEntity.parse,
        )

    def checkout_signature_valid(
        self,
        *,
        payment_id: str,
        signature: str,
        order_id: str | None = None,
        subscription_id: str | None = None,
    ) -> bool:
        """Check the signature Checkout hands the browser after a payment: HMAC-SHA256 with
        the key secret over `order_id|payment_id` (orders) or `payment_id|subscription_id`
        (subscriptions), compared in constant time by the SDK."""
        if (order_id is None) == (subscription_id is None):
            raise ValueError("pass exactly one of order_id and subscription_id")
        client = self._client()
        try:
            if order_id is not None:
                return bool(
                    client.utility.verify_payment_signature(
                        {
                            "razorpay_order_id": order_id,
                            "razorpay_payment_id": payment_id,
                            "razorpay_signature": signature,
                        }
                    )
                )
            return bool(
                client.utility.verify_subscription_payment_signature(
                    {
                        "razorpay_subscription_id": subscription_id,
                        "razorpay_payment_id": payment_id,
                        "razorpay_signature": signature,
                    }
                )
            )
        except SignatureVerificationError:
            return False
