"""Razorpay's entities (subscription, payment, order, invoice, refund) parsed into typed
values, whether they come from an API response or a webhook payload.

Everything from Razorpay is checked for shape before use: a verified signature says who sent
the body, not that every field is what we expect, and a malformed entity must fail the one
event, loudly, rather than write nonsense.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_ID = re.compile(r"^[a-z]{2,10}_[A-Za-z0-9]{1,50}$")

SUBSCRIPTION_STATUSES = frozenset(
    {
        "created",
        "authenticated",
        "active",
        "pending",
        "halted",
        "paused",
        "cancelled",
        "completed",
        "expired",
    }
)
PAYMENT_STATUSES = frozenset({"created", "authorized", "captured", "refunded", "failed"})
INVOICE_STATUSES = frozenset(
    {"draft", "issued", "partially_paid", "paid", "expired", "cancelled", "deleted"}
)


class MalformedEntity(ValueError):
    """A Razorpay entity lacks a field we need or has one of the wrong type."""


def is_razorpay_id(value: object, prefix: str | None = None) -> bool:
    """True when `value` looks like a Razorpay id (optionally with the given prefix)."""
    if not isinstance(value, str) or not _ID.match(value):
        return False
    return prefix is None or value.startswith(prefix + "_")


def _id(data: Mapping[str, Any], key: str, prefix: str, *, required: bool = True) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise MalformedEntity(f"{key} is missing")
        return None
    if not is_razorpay_id(value, prefix):
        raise MalformedEntity(f"{key} is not a Razorpay {prefix} id")
    return str(value)


def _int(data: Mapping[str, Any], key: str, *, default: int | None = None) -> int:
    value = data.get(key, default)
    if value is None:
        if default is not None:
            return default
        raise MalformedEntity(f"{key} is missing")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedEntity(f"{key} must be a non-negative integer")
    return value


def _opt_int(data: Mapping[str, Any], key: str) -> int | None:
    return None if data.get(key) is None else _int(data, key)


def _text(data: Mapping[str, Any], key: str, *, max_length: int = 500) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedEntity(f"{key} must be a string")
    return value[:max_length]


def _currency(data: Mapping[str, Any]) -> str:
    value = data.get("currency")
    if not isinstance(value, str) or not re.fullmatch(r"[A-Z]{3}", value):
        raise MalformedEntity("currency must be a three-letter code")
    return value


def timestamp(value: object) -> dt.datetime | None:
    """A Unix timestamp (seconds) as an aware datetime; None stays None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedEntity("timestamps must be non-negative integers")
    return dt.datetime.fromtimestamp(value, dt.UTC)


def _ts(data: Mapping[str, Any], key: str) -> dt.datetime | None:
    try:
        return timestamp(data.get(key))
    except MalformedEntity as exc:
        raise MalformedEntity(f"{key}: {exc}") from exc


def _status(data: Mapping[str, Any], allowed: frozenset[str]) -> str:
    value = data.get("status")
    if value not in allowed:
        raise MalformedEntity(f"status {value!r} is not one of {sorted(allowed)}")
    return str(value)


@dataclass(frozen=True, slots=True)
class SubscriptionEntity:
    """A Razorpay subscription as of one moment."""

    id: str
    plan_id: str
    status: str
    paid_count: int
    current_start: dt.datetime | None
    current_end: dt.datetime | None
    ended_at: dt.datetime | None
    has_scheduled_changes: bool
    change_scheduled_at: dt.datetime | None
    short_url: str | None

    @classmethod
    def parse(cls, data: object) -> SubscriptionEntity:
        """Check and convert a subscription dict."""
        if not isinstance(data, Mapping):
            raise MalformedEntity("the subscription entity must be an object")
        return cls(
            id=str(_id(data, "id", "sub")),
            plan_id=str(_id(data, "plan_id", "plan")),
            status=_status(data, SUBSCRIPTION_STATUSES),
            paid_count=_int(data, "paid_count", default=0),
            current_start=_ts(data, "current_start"),
            current_end=_ts(data, "current_end"),
            ended_at=_ts(data, "ended_at"),
            has_scheduled_changes=bool(data.get("has_scheduled_changes")),
            change_scheduled_at=_ts(data, "change_scheduled_at"),
            short_url=_text(data, "short_url", max_length=300),
        )


@dataclass(frozen=True, slots=True)
class PaymentEntity:
    """A Razorpay payment."""

    id: str
    amount: int
    currency: str
    status: str
    order_id: str | None
    invoice_id: str | None
    subscription_id: str | None
    method: str | None
    amount_refunded: int
    error_code: str | None
    error_description: str | None

    @classmethod
    def parse(cls, data: object) -> PaymentEntity:
        """Check and convert a payment dict."""
        if not isinstance(data, Mapping):
            raise MalformedEntity("the payment entity must be an object")
        return cls(
            id=str(_id(data, "id", "pay")),
            amount=_int(data, "amount"),
            currency=_currency(data),
            status=_status(data, PAYMENT_STATUSES),
            order_id=_id(data, "order_id", "order", required=False),
            invoice_id=_id(data, "invoice_id", "inv", required=False),
            subscription_id=_id(data, "subscription_id", "sub", required=False),
            method=_text(data, "method", max_length=32),
            amount_refunded=_int(data, "amount_refunded", default=0),
            error_code=_text(data, "error_code", max_length=64),
            error_description=_text(data, "error_description", max_length=500),
        )


@dataclass(frozen=True, slots=True)
class OrderEntity:
    """A Razorpay order."""

    id: str
    amount: int
    amount_paid: int
    currency: str
    status: str

    @classmethod
    def parse(cls, data: object) -> OrderEntity:
        """Check and convert an order dict."""
        if not isinstance(data, Mapping):
            raise MalformedEntity("the order entity must be an object")
        status = data.get("status")
        if status not in ("created", "attempted", "paid"):
            raise MalformedEntity(f"order status {status!r} is unknown")
        return cls(
            id=str(_id(data, "id", "order")),
            amount=_int(data, "amount"),
            amount_paid=_int(data, "amount_paid", default=0),
            currency=_currency(data),
            status=str(status),
        )


@dataclass(frozen=True, slots=True)
class InvoiceEntity:
    """A Razorpay invoice (one subscription cycle)."""

    id: str
    subscription_id: str | None
    payment_id: str | None
    order_id: str | None
    amount: int
    amount_paid: int
    currency: str
    status: str
    billing_start: dt.datetime | None
    billing_end: dt.datetime | None
    issued_at: dt.datetime | None
    paid_at: dt.datetime | None
    short_url: str | None

    @classmethod
    def parse(cls, data: object) -> InvoiceEntity:
        """Check and convert an invoice dict."""
        if not isinstance(data, Mapping):
            raise MalformedEntity("the invoice entity must be an object")
        return cls(
            id=str(_id(data, "id", "inv")),
            subscription_id=_id(data, "subscription_id", "sub", required=False),
            payment_id=_id(data, "payment_id", "pay", required=False),
            order_id=_id(data, "order_id", "order", required=False),
            amount=_int(data, "amount"),
            amount_paid=_int(data, "amount_paid", default=0),
            currency=_currency(data),
            status=_status(data, INVOICE_STATUSES),
            billing_start=_ts(data, "billing_start"),
            billing_end=_ts(data, "billing_end"),
            issued_at=_ts(data, "issued_at"),
            paid_at=_ts(data, "paid_at"),
            short_url=_text(data, "short_url", max_length=300),
        )


@dataclass(frozen=True, slots=True)
class RefundEntity:
    """A Razorpay refund of (part of) a payment."""

    id: str
    payment_id: str
    amount: int
    currency: str
    status: str

    @classmethod
    def parse(cls, data: object) -> RefundEntity:
        """Check and convert a refund dict."""
        if not isinstance(data, Mapping):
            raise MalformedEntity("the refund entity must be an object")
        status = data.get("status")
        if status not in ("pending", "processed", "failed"):
            raise MalformedEntity(f"refund status {status!r} is unknown")
        return cls(
            id=str(_id(data, "id", "rfnd")),
            payment_id=str(_id(data, "payment_id", "pay")),
            amount=_int(data, "amount"),
            currency=_currency(data),
            status=str(status),
        )
