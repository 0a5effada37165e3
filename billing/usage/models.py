"""Usage counters."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class UsageCounter(Base):
    """One metric of one workspace in one period.

    Monthly metrics (conversations, messages, tokens) use the first day of the month as
    `period_start`; running totals (documents, stored bytes) use `LIFETIME`.
    """

    __tablename__ = "usage_counters"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    metric: Mapped[str] = mapped_column(String(40), primary_key=True)
    period_start: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
    # AI tokens held by reservations in flight (billing/entitlements); counted against the
    # quota together with `value` so parallel model calls cannot overshoot it.
    reserved: Mapped[int] = mapped_column(BigInteger, default=0)
