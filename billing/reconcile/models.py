"""The reconciliation watchlist (a global table of bare Razorpay ids, no workspace column)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class WatchedId(Base):
    """A Razorpay subscription or order that reconciliation fetches now and then, so a
    missed webhook heals itself."""

    __tablename__ = "razorpay_watchlist"
    __table_args__ = (Index("ix_razorpay_watchlist_next_check_at", "next_check_at"),)

    razorpay_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    added_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    next_check_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    last_checked_at: Mapped[dt.datetime | None]
    failures: Mapped[int] = mapped_column(Integer, default=0)
