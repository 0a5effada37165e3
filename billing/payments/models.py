"""Top-up orders, payments and invoices, as Razorpay reported them."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CHAR, BigInteger, DateTime, ForeignKey, Index, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, created_at_column


class Order(Base):
    """A one-time Razorpay order for a top-up pack. What it grants is copied from the pack
    when the order is created, so a later change to the pack never changes what was bought."""

    __tablename__ = "billing_orders"
    __table_args__ = (
        UniqueConstraint(
            "workspace_id",
            "razorpay_order_id",
            name="uq_billing_orders_workspace_id_razorpay_order_id",
        ),
        Index("ix_billing_orders_razorpay_order_id", "razorpay_order_id"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    razorpay_order_id: Mapped[str] = mapped_column(String(64))
    pack_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("topup_packs.id"))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(CHAR(3))
    ai_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    conversations: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[dt.datetime] = created_at_column()
    paid_at: Mapped[dt.datetime | None]


class Payment(Base):
    """A Razorpay payment: first as `pending_confirmation` when Checkout's signature checks
    out, then as Razorpay reports it (webhook or fetch)."""

    __tablename__ = "billing_payments"
    __table_args__ = (
        UniqueConstraint(
            "workspace_id",
            "razorpay_payment_id",
            name="uq_billing_payments_workspace_id_razorpay_payment_id",
        ),
        Index("ix_billing_payments_razorpay_payment_id", "razorpay_payment_id"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    razorpay_payment_id: Mapped[str] = mapped_column(String(64))
    razorpay_order_id: Mapped[str | None] = mapped_column(String(64))
    razorpay_subscription_id: Mapped[str | None] = mapped_column(String(64))
    razorpay_invoice_id: Mapped[str | None] = mapped_column(String(64))
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    amount_refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str | None] = mapped_column(CHAR(3))
    status: Mapped[str] = mapped_column(String(24))
    method: Mapped[str | None] = mapped_column(String(32))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_description: Mapped[str | None] = mapped_column(String(500))
    verified_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Invoice(Base):
    """A Razorpay invoice of a subscription cycle."""

    __tablename__ = "billing_invoices"
    __table_args__ = (
        UniqueConstraint(
            "workspace_id",
            "razorpay_invoice_id",
            name="uq_billing_invoices_workspace_id_razorpay_invoice_id",
        ),
        Index("ix_billing_invoices_razorpay_invoice_id", "razorpay_invoice_id"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    razorpay_invoice_id: Mapped[str] = mapped_column(String(64))
    razorpay_subscription_id: Mapped[str | None] = mapped_column(String(64))
    razorpay_payment_id: Mapped[str | None] = mapped_column(String(64))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    amount_paid_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(CHAR(3))
    status: Mapped[str] = mapped_column(String(16))
    billing_start: Mapped[dt.datetime | None]
    billing_end: Mapped[dt.datetime | None]
    issued_at: Mapped[dt.datetime | None]
    paid_at: Mapped[dt.datetime | None]
    short_url: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
