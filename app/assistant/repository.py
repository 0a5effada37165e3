"""All SQL of conversations and messages (row-level security scopes every statement)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from app.assistant.models import Conversation, Message
from app.db import limits
from app.pagination import PageRequest


async def insert_conversation(session: AsyncSession, conversation: Conversation) -> None:
    """Add a conversation."""
    session.add(conversation)
    await session.flush()


async def get_conversation(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    *,
    lock: bool = False,
) -> Conversation | None:
    """A conversation by id, optionally locked (to order its messages)."""
    query = select(Conversation).where(
        Conversation.workspace_id == workspace_id, Conversation.id == conversation_id
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


async def get_conversations(
    session: AsyncSession, workspace_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> list[Conversation]:
    """Conversations by ids."""
    if not ids:
        return []
    return list(
        await session.scalars(
            select(Conversation).where(
                Conversation.workspace_id == workspace_id, Conversation.id.in_(ids)
            )
        )
    )


async def list_conversations(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    page: PageRequest,
    *,
    visitor_id: str | None = None,
) -> list[Conversation]:
    """Conversations, newest first (a visitor's only, when `visitor_id` is given)."""
    query = (
        select(Conversation)
        .where(Conversation.workspace_id == workspace_id)
        .order_by(Conversation.id.desc())
        .limit(limits.page_rows(page))
    )
    if visitor_id is not None:
        query = query.where(Conversation.visitor_id == visitor_id)
    if page.after is not None:
        query = query.where(Conversation.id < page.after)
    return list(await session.scalars(query))


async def touch_conversation(session: AsyncSession, conversation: Conversation, added: int) -> None:
    """Count new messages and move `last_message_at`; the loaded object gets the new values
    without being marked changed."""
    result = await session.execute(
        update(Conversation)
        .where(
            Conversation.workspace_id == conversation.workspace_id,
            Conversation.id == conversation.id,
        )
        .values(message_count=Conversation.message_count + added, last_message_at=func.now())
        .returning(Conversation.message_count, Conversation.last_message_at)
        .execution_options(synchronize_session=False)
    )
    count, last = result.one()
    set_committed_value(conversation, "message_count", count)
    set_committed_value(conversation, "last_message_at", last)


async def insert_messages(session: AsyncSession, messages: Sequence[Message]) -> None:
    """Add messages."""
    session.add_all(messages)
    await session.flush()


async def get_message(
    session: AsyncSession, workspace_id: uuid.UUID, message_id: uuid.UUID, *, lock: bool = False
) -> Message | None:
    """A message by id."""
    query = select(Message).where(Message.workspace_id == workspace_id, Message.id == message_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    else:
        query = query.execution_options(populate_existing=True)
    return await session.scalar(query)


async def get_messages(
    session: AsyncSession, workspace_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> list[Message]:
    """Messages by ids."""
    if not ids:
        return []
    return list(
        await session.scalars(
            select(Message).where(Message.workspace_id == workspace_id, Message.id.in_(ids))
        )
    )


async def list_messages(
    session: AsyncSession, workspace_id: uuid.UUID, conversation_id: uuid.UUID, page: PageRequest
) -> list[Message]:
    """A conversation's messages, oldest first, one page (+1)."""
    query = (
        select(Message)
        .where(Message.workspace_id == workspace_id, Message.conversation_id == conversation_id)
        .order_by(Message.id)
        .limit(limits.page_rows(page))
    )
    if page.after is not None:
        query = query.where(Message.id > page.after)
    return list(await session.scalars(query))


async def history(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    before: uuid.UUID,
    limit: int,
) -> list[Message]:
    """The completed messages before `before`, oldest first, at most `limit`."""
    rows = await session.scalars(
        select(Message)
        .where(
            Message.workspace_id == workspace_id,
            Message.conversation_id == conversation_id,
            Message.id < before,
            Message.status == "complete",
        )
        .order_by(Message.id.desc())
        .limit(limits.rows(limit))
    )
    return list(reversed(list(rows)))


async def count_earlier(
    session: AsyncSession, workspace_id: uuid.UUID, conversation_id: uuid.UUID, before: uuid.UUID
) -> int:
    """How many messages precede `before` in its conversation."""
    return int(
        await session.scalar(
            select(func.count())
            .select_from(Message)
            .where(
                Message.workspace_id == workspace_id,
                Message.conversation_id == conversation_id,
                Message.id < before,
            )
        )
        or 0
    )


async def update_message(
    session: AsyncSession, workspace_id: uuid.UUID, message_id: uuid.UUID, **values: Any
) -> None:
    """Change columns of a message."""
    await session.execute(
        update(Message)
        .where(Message.workspace_id == workspace_id, Message.id == message_id)
        .values(**values)
    )
