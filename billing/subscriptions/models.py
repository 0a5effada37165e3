"""Subscriptions of workspaces to plan versions."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, created_at_column


class Subscription(Base):
    """A workspace's subscription to one plan version.

    Exactly one row per workspace has `is_current` (a partial unique index enforces it); its
    plan decides the workspace's limits. A free subscription has no Razorpay id. A paid one
    starts as `created` (Checkout opened), becomes current once Razorpay reports it live, and
    when it ends a new free row becomes current.
    """

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint(
            "workspace_id",
            "razorpay_subscription_id",
            name="uq_subscriptions_workspace_id_razorpay_subscription_id",
        ),
        Index(
            "uq_subscriptions_current",
            "workspace_id",
            unique=True,
            postgresql_where=text("is_current"),
        ),
        Index(
            "ix_subscriptions_razorpay_subscription_id",
            "razorpay_subscription_id",
            postgresql_where=text("razorpay_subscription_id IS NOT NULL"),
        ),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("plans.id"))
    status: Mapped[str] = mapped_column(String(16))
    is_current: Mapped[bool] = mapped_column(Boolean, default=False)
    razorpay_subscription_id: Mapped[str | None] = mapped_column(String(64))
    scheduled_plan_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("plans.id"))
    scheduled_change_at: Mapped[dt.datetime | None]
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    current_period_start: Mapped[dt.datetime | None]
    current_period_end: Mapped[dt.datetime | None]
    paid_count: Mapped[int] = mapped_column(Integer, default=0)
    past_due_since: Mapped[dt.datetime | None]
    # Paid limits stay in force while a payment is overdue, until this moment.
    grace_ends_at: Mapped[dt.datetime | None]
    provider_synced_at: Mapped[dt.datetime | None]
    checkout_url: Mapped[str | None] = mapped_column(String(300))
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    activated_at: Mapped[dt.datetime | None]
    ended_at: Mapped[dt.datetime | None]
