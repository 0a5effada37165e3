"""The outbox table: jobs waiting to be handed to arq (migration 0008)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, created_at_column


class OutboxJob(Base):
    """One job written in the transaction that created its work, not yet known to be in arq.

    `job_id` is always set (the caller's, or one derived from `id`), so delivering a row twice
    (the request and the relay racing, or a delete lost after an enqueue) is de-duplicated by
    arq.
    """

    __tablename__ = "job_outbox"
    __table_args__ = (Index("ix_job_outbox_workspace_id_created_at", "workspace_id", "created_at"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    function: Mapped[str] = mapped_column(String(100))
    args: Mapped[list[Any]] = mapped_column(JSONB)
    job_id: Mapped[str] = mapped_column(String(300))
    queue: Mapped[str] = mapped_column(String(100))
    defer_until: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = created_at_column()
