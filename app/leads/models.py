"""The leads table."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, created_at_column

LEAD_STATUSES = ("new", "contacted", "qualified", "won", "lost")


class Lead(Base):
    """A visitor's contact details, one row per email per workspace (later submissions update
    it), tied to the conversation it came from."""

    __tablename__ = "leads"
    __table_args__ = (
        CheckConstraint(
            "status IN ('new', 'contacted', 'qualified', 'won', 'lost')", name="status"
        ),
        Index(
            "uq_leads_workspace_id_email", "workspace_id", func.lower(text("email")), unique=True
        ),
        Index("ix_leads_workspace_id_status_id", "workspace_id", "status", "id"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    company: Mapped[str | None] = mapped_column(String(200))
    message: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'new'"))
    note: Mapped[str | None] = mapped_column(Text)
    consent_at: Mapped[dt.datetime]
    conversation_id: Mapped[uuid.UUID | None]
    visitor_id: Mapped[str | None] = mapped_column(String(80))
    key_id: Mapped[uuid.UUID | None]
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = created_at_column()
