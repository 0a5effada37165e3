"""Subscription fields of the assistant (served over the WebSocket endpoint, app/graphql/ws.py).

An answer's text arrives as the worker produces it: the worker publishes to Redis and this
field relays, reading the database only in short transactions of its own.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import AsyncGenerator
from typing import Annotated, Any

import strawberry

from app.assistant import service as assistant
from app.assistant import stream
from app.assistant.models import Message as MessageModel
from app.errors import NotFound, ValidationFailed
from app.graphql.assistant.types import (
    AnswerEvent,
    AnswerEventKind,
    AnswerMode,
    Citation,
    Message,
    MessageStatus,
)
from app.graphql.node import decode_id
from app.graphql.socket import SocketContext, SocketInfo


async def _load(ctx: SocketContext, message_id: uuid.UUID) -> MessageModel | None:
    async with ctx.transaction() as session:
        return await assistant.get_message(session, ctx.require_principal(), message_id)


def _finished(first: MessageModel, final: dict[str, Any]) -> Message:
    """The answer as stored, from the message read when the subscription started and the
    fields the worker stored at the end (the rest of a message does not change meanwhile)."""
    message = Message.from_model(first)
    changes: dict[str, Any] = {
        "content": str(final["content"]),
        "status": MessageStatus(str(final["status"])),
    }
    # A failed answer sends no mode or citations: they stay as they were.
    if "mode" in final:
        changes["mode"] = AnswerMode(str(final["mode"])) if final["mode"] else None
    if "citations" in final:
        changes["citations"] = [Citation.from_json(c) for c in final["citations"] or []]
    if "completedAt" in final:
        completed = final["completedAt"]
        changes["completed_at"] = dt.datetime.fromisoformat(completed) if completed else None
    return dataclasses.replace(message, **changes)


@strawberry.type
class AssistantSubscription:
    """Root subscription fields of the assistant."""

    @strawberry.subscription(
        description="Follow an answer as it is written: DELTA events carry new text, DONE the "
        "finished message. An answer already finished yields DONE at once."
    )
    async def answer(
        self,
        info: SocketInfo,
        message_id: Annotated[strawberry.ID, strawberry.argument(description="The answer.")],
    ) -> AsyncGenerator[AnswerEvent, None]:
        """Stream one answer."""
        ctx = info.context
        if not isinstance(ctx, SocketContext):
            raise ValidationFailed("Subscriptions are served over the WebSocket endpoint.")
        principal = ctx.require_principal()
        value = decode_id(message_id, "Message", field="messageId")
        assistant.caller_workspace(principal)
        first = await _load(ctx, value)
        if first is None or first.role != "assistant":
            raise NotFound("No such answer.")
        if first.status in ("complete", "failed"):
            yield AnswerEvent(
                kind=AnswerEventKind.DONE, text="", offset=0, message=Message.from_model(first)
            )
            return

        async def finished() -> bool:
            current = await _load(ctx, value)
            return current is None or current.status in ("complete", "failed")

        settings = ctx.state.settings
        async for event in stream.follow(
            ctx.state.redis,
            settings.redis.key_prefix,
            value,
            is_finished=finished,
            max_wait_s=float(settings.assistant.stream_ttl_s),
        ):
            if event.kind == "done":
                if event.final is not None:
                    # The worker sent the stored fields with the end: no read back.
                    done: Message | None = _finished(first, event.final)
                else:
                    final = await _load(ctx, value)
                    done = Message.from_model(final) if final else None
                yield AnswerEvent(kind=AnswerEventKind.DONE, text="", offset=0, message=done)
                return
            yield AnswerEvent(
                kind=AnswerEventKind(event.kind), text=event.text, offset=event.offset, message=None
            )
