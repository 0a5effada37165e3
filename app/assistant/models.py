"""Conversations and their messages.

A conversation belongs to a dashboard caller (a user or a secret key) or to a widget visitor
(`visitor_id`); visitors only ever see their own. Citations are stored on the answer as JSON
snapshots (document, chunk, title, snippet), so an answer keeps making sense after the
document it cites is replaced or deleted.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Boolean, ForeignKey, ForeignKeyConstraint, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, created_at_column


class Conversation(Base):
    """A thread of questions and answers."""

    __tablename__ = "conversations"
    __table_args__ = (
        Index(
            "ix_conversations_workspace_id_visitor_id_id",
            "workspace_id",
            "visitor_id",
            "id",
            postgresql_where=text("visitor_id IS NOT NULL"),
        ),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    visitor_id: Mapped[str | None] = mapped_column(String(128))
    user_id: Mapped[uuid.UUID | None]
    api_key_id: Mapped[uuid.UUID | None]
    title: Mapped[str] = mapped_column(String(200))
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = created_at_column()
    last_message_at: Mapped[dt.datetime] = created_at_column()


class Message(Base):
    """A question (role `user`) or an answer (role `assistant`)."""

    __tablename__ = "messages"
    __table_args__ = (
        Index(
            "ix_messages_workspace_id_conversation_id_id", "workspace_id", "conversation_id", "id"
        ),
        ForeignKeyConstraint(
            ["workspace_id", "conversation_id"],
            ["conversations.workspace_id", "conversations.id"],
            ondelete="CASCADE",
        ),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    conversation_id: Mapped[uuid.UUID]
    role: Mapped[str] = mapped_column(String(16))
    reply_to: Mapped[uuid.UUID | None]
    content: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str | None] = mapped_column(String(16))
    cached: Mapped[bool] = mapped_column(Boolean, default=False)
    citations: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    feedback: Mapped[str | None] = mapped_column(String(16))
    feedback_comment: Mapped[str | None] = mapped_column(Text)
    feedback_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = created_at_column()
    completed_at: Mapped[dt.datetime | None]
