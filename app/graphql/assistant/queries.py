"""Query fields of the assistant. Dashboard callers see every conversation of the workspace,
widget visitors only their own (the service decides)."""

from __future__ import annotations

import uuid
from typing import Annotated

import strawberry

from app.assistant import service as assistant
from app.assistant.models import Conversation as ConversationModel
from app.errors import ParleyError
from app.graphql.assistant.types import Conversation, Message
from app.graphql.context import Info
from app.graphql.node import decode_id, register_node
from app.graphql.pagination import Connection, connection
from app.pagination import page_request


async def messages(
    info: Info, conversation: ConversationModel, first: int | None, after: str | None
) -> Connection[Message]:
    """A conversation's messages."""
    request = page_request(first, after)
    async with info.context.db() as session:
        page = await assistant.list_messages(session, info.context.principal, conversation, request)
    return connection(page, Message.from_model, lambda m: m.id)


async def _conversation_node(info: Info, value: uuid.UUID) -> Conversation | None:
    try:
        async with info.context.db() as session:
            found = await assistant.get_conversation(session, info.context.principal, value)
    except ParleyError:
        return None
    return Conversation.from_model(found) if found else None


async def _message_node(info: Info, value: uuid.UUID) -> Message | None:
    try:
        async with info.context.db() as session:
            found = await assistant.get_message(session, info.context.principal, value)
    except ParleyError:
        return None
    return Message.from_model(found) if found else None


register_node("Conversation", _conversation_node)
register_node("Message", _message_node)


@strawberry.type
class AssistantQuery:
    """Root query fields of the assistant."""

    @strawberry.field(description="Conversations the caller may see, newest first.")
    async def conversations(
        self,
        info: Info,
        first: Annotated[
            int | None, strawberry.argument(description="Page size (at most 100).")
        ] = 20,
        after: Annotated[
            str | None, strawberry.argument(description="Cursor to continue after.")
        ] = None,
    ) -> Connection[Conversation]:
        """Paged conversations."""
        request = page_request(first, after)
        async with info.context.db() as session:
            page = await assistant.list_conversations(session, info.context.principal, request)
        return connection(page, Conversation.from_model, lambda c: c.id)

    @strawberry.field(description="One conversation, or null when the caller may not see it.")
    async def conversation(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The conversation's id.")],
    ) -> Conversation | None:
        """A conversation by id."""
        value = decode_id(id, "Conversation")
        async with info.context.db() as session:
            found = await assistant.get_conversation(session, info.context.principal, value)
        return Conversation.from_model(found) if found else None

    @strawberry.field(
        description="One message (poll an answer here until it is COMPLETE), or null."
    )
    async def message(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The message's id.")],
    ) -> Message | None:
        """A message by id."""
        value = decode_id(id, "Message")
        async with info.context.db() as session:
            found = await assistant.get_message(session, info.context.principal, value)
        return Message.from_model(found) if found else None
