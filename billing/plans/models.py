"""The catalogue: plan versions and top-up packs (global tables, read-only to the app)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CHAR, BigInteger, Boolean, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, created_at_column


class Plan(Base):
    """One version of a plan. Its terms (price, currency, period, limits, Razorpay plan id)
    never change once sold: a trigger refuses such updates, and a change to the catalogue is
    a new version. `available` marks the one version of each code offered to new buyers.

    A limit of None means unlimited.
    """

    __tablename__ = "plans"
    __table_args__ = (
        UniqueConstraint("code", "version", name="uq_plans_code_version"),
        Index("uq_plans_available_code", "code", unique=True, postgresql_where=text("available")),
        Index("ix_plans_razorpay_plan_id", "razorpay_plan_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), default="")
    price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(CHAR(3))
    billing_period: Mapped[str] = mapped_column(String(16))
    razorpay_plan_id: Mapped[str | None] = mapped_column(String(64))
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    conversations_per_month: Mapped[int | None] = mapped_column(BigInteger)
    documents: Mapped[int | None] = mapped_column(BigInteger)
    stored_bytes: Mapped[int | None] = mapped_column(BigInteger)
    members: Mapped[int | None] = mapped_column(Integer)
    publishable_keys: Mapped[int | None] = mapped_column(Integer)
    api_requests_per_minute: Mapped[int | None] = mapped_column(Integer)
    ai_tokens_per_month: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = created_at_column()

    @property
    def is_free(self) -> bool:
        """True for plans nobody pays for (no Razorpay subscription behind them)."""
        return self.price_minor == 0


class TopUpPack(Base):
    """A one-time purchase adding allowance to the current month."""

    __tablename__ = "topup_packs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(CHAR(3))
    ai_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    conversations: Mapped[int] = mapped_column(BigInteger, default=0)
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = created_at_column()
