"""Widget configuration, one row per publishable key."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, CheckConstraint, ForeignKeyConstraint, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, created_at_column


class WidgetConfig(Base):
    """How a key's widget looks and behaves. Missing rows mean the defaults."""

    __tablename__ = "widget_configs"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "key_id"],
            ["api_keys.workspace_id", "api_keys.id"],
            ondelete="CASCADE",
        ),
        CheckConstraint("position IN ('bottom-right', 'bottom-left')", name="position"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    key_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(60))
    greeting: Mapped[str] = mapped_column(Text)
    primary_color: Mapped[str] = mapped_column(String(7))
    position: Mapped[str] = mapped_column(String(16))
    suggested_questions: Mapped[list[str]] = mapped_column(ARRAY(Text))
    lead_capture: Mapped[bool] = mapped_column(Boolean)
    lead_fields: Mapped[list[str]] = mapped_column(ARRAY(Text))
    language: Mapped[str] = mapped_column(String(8))
    require_identity: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    identity_secret_version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    updated_at: Mapped[dt.datetime] = created_at_column()
