"""The Razorpay webhook ledger (a global table).

It has no workspace column: an event's workspace is known only after it is mapped through our
own subscription, order, payment or invoice ids.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import DateTime, Index, Integer, LargeBinary, SmallInteger, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class RazorpayEvent(Base):
    """One webhook event, keyed by Razorpay's `x-razorpay-event-id`; the body's SHA-256 is
    unique too, so a captured body replayed under another event id is still a duplicate."""

    __tablename__ = "razorpay_events"
    __table_args__ = (
        Index(
            "ix_razorpay_events_open",
            "status",
            "received_at",
            postgresql_where=text("status IN ('received', 'unmatched', 'failed')"),
        ),
    )

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(64))
    body_sha256: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    signed_with: Mapped[int] = mapped_column(SmallInteger)
    provider_created_at: Mapped[dt.datetime | None]
    received_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    status: Mapped[str] = mapped_column(String(16), default="received")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    processed_at: Mapped[dt.datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(500))
