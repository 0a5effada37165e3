"""Extra allowance bought with top-ups, and AI-token reservations in flight."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, Date, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, created_at_column


class QuotaCredit(Base):
    """Allowance added to one limit for one month, from a paid top-up order (or taken back
    by its refund, as a negative amount). `source_ref` makes each grant happen once."""

    __tablename__ = "quota_credits"
    __table_args__ = (
        UniqueConstraint(
            "workspace_id",
            "source_ref",
            "limit_name",
            name="uq_quota_credits_workspace_id_source_ref_limit_name",
        ),
        Index("ix_quota_credits_period", "workspace_id", "period_start"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    limit_name: Mapped[str] = mapped_column(String(40))
    period_start: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[int] = mapped_column(BigInteger)
    source_ref: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = created_at_column()


class Reservation(Base):
    """AI tokens held for a model call in flight: `held` until committed with the real usage
    or released on failure; a held reservation past `expires_at` is released lazily."""

    __tablename__ = "quota_reservations"
    __table_args__ = (
        Index(
            "ix_quota_reservations_held",
            "workspace_id",
            "expires_at",
            postgresql_where=text("status = 'held'"),
        ),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    metric: Mapped[str] = mapped_column(String(40))
    period_start: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    used: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = created_at_column()
    expires_at: Mapped[dt.datetime]
    settled_at: Mapped[dt.datetime | None]
