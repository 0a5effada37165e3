"""Mutation fields of the assistant."""

from __future__ import annotations

import strawberry

from app.assistant import service as assistant
from app.graphql.assistant.types import AskPayload, Conversation, Message
from app.graphql.context import Info
from app.graphql.node import decode_id


@strawberry.input(description="A question.")
class AskInput:
    """What to ask, and where."""

    question: str = strawberry.field(description="The question (1-2000 characters).")
    conversation_id: strawberry.ID | None = strawberry.field(
        default=None, description="Continue this conversation; a new one starts when omitted."
    )


@strawberry.input(description="A rating of an answer.")
class RateAnswerInput:
    """Feedback on an answer."""

    message_id: strawberry.ID = strawberry.field(description="The answer.")
    helpful: bool = strawberry.field(description="True when the answer helped.")
    comment: str | None = strawberry.field(
        default=None, description="What was wrong or right (at most 2000 characters)."
    )


@strawberry.type
class AssistantMutation:
    """Root mutation fields of the assistant."""

    @strawberry.mutation(
        description="Ask a question. The answer is produced in the background: follow it with "
        "the `answer` subscription, or read it with `message` until it is COMPLETE.",
        # Answers cost model time: they draw from the workspace's lower answers budget too.
        metadata={"budget": "answers"},
    )
    async def ask(self, info: Info, input: AskInput) -> AskPayload:
        """Ask."""
        ctx = info.context
        conversation_id = (
            decode_id(input.conversation_id, "Conversation", field="conversationId")
            if input.conversation_id is not None
            else None
        )
        async with ctx.db() as session:
            result = await assistant.ask(
                session,
                ctx.principal,
                ctx.state.settings,
                ctx.state.redis,
                ctx.jobs,
                question=input.question,
                conversation_id=conversation_id,
            )
        return AskPayload(
            conversation=Conversation.from_model(result.conversation),
            question=Message.from_model(result.question),
            answer=Message.from_model(result.answer),
        )

    @strawberry.mutation(description="Rate an answer as helpful or not (again to change it).")
    async def rate_answer(self, info: Info, input: RateAnswerInput) -> Message:
        """Feedback."""
        async with info.context.db() as session:
            message = await assistant.rate_answer(
                session,
                info.context.principal,
                message_id=decode_id(input.message_id, "Message", field="messageId"),
                helpful=input.helpful,
                comment=input.comment,
            )
        return Message.from_model(message)
