"""The security event table."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.dialects.postgresql import INET, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, created_at_column


class SecurityEvent(Base):
    """Something an operator may need to investigate, recorded even though the request that
    caused it failed. Global (not a tenant table): a failed log-in has no workspace, and the
    workspace a refused request aimed at is recorded as `target_workspace_id`, not as a tenant
    key. The application role may only append and expire rows; operators read them over the
    admin connection (`parley security-events`)."""

    __tablename__ = "security_events"
    __table_args__ = (
        Index("ix_security_events_occurred_at", "occurred_at"),
        Index(
            "ix_security_events_user_id",
            "user_id",
            "occurred_at",
            postgresql_where=text("user_id IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    occurred_at: Mapped[dt.datetime] = created_at_column()
    kind: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    key_id: Mapped[uuid.UUID | None]
    target_workspace_id: Mapped[uuid.UUID | None]
    ip: Mapped[str | None] = mapped_column(INET)
    user_agent: Mapped[str | None] = mapped_column(String(400))
    request_id: Mapped[str | None] = mapped_column(String(128))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
