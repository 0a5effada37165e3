"""API keys."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, created_at_column


class ApiKey(Base):
    """A workspace credential: a secret key (server to server, acts with a role) or a
    publishable key (the widget's, bound to allowed origins). Only a hash of the key is stored;
    the full key is shown once."""

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("kind IN ('secret', 'publishable')", name="kind"),
        CheckConstraint(
            "(kind = 'secret' AND role IN ('admin', 'member')) "
            "OR (kind = 'publishable' AND role IS NULL)",
            name="role_by_kind",
        ),
        UniqueConstraint("workspace_id", "secret_hash"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str | None] = mapped_column(String(16))
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary)
    last_four: Mapped[str] = mapped_column(String(4))
    allowed_origins: Mapped[list[str]] = mapped_column(
        ARRAY(Text), server_default=text("'{}'::text[]")
    )
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[dt.datetime] = created_at_column()
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
