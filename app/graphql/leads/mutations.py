"""Mutation fields of leads."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.graphql.context import Info
from app.graphql.leads.types import Lead, LeadStatus
from app.graphql.node import decode_id
from app.graphql.permissions import IsDashboardCaller
from app.leads import service


@strawberry.input(description="Contact details a visitor submits from the widget.")
class SubmitLeadInput:
    """Lead form."""

    email: str = strawberry.field(description="Email address.")
    consent: bool = strawberry.field(
        description="The visitor agreed to be contacted; must be true."
    )
    name: str | None = strawberry.field(default=None, description="Name (at most 200).")
    phone: str | None = strawberry.field(default=None, description="Phone number.")
    company: str | None = strawberry.field(default=None, description="Company (at most 200).")
    message: str | None = strawberry.field(default=None, description="Message (at most 5,000).")
    conversation_id: strawberry.ID | None = strawberry.field(
        default=None, description="The widget conversation this came from."
    )


@strawberry.type
class LeadsMutation:
    """Root mutation fields of leads."""

    @strawberry.mutation(description="Leave contact details (widget visitors).")
    async def submit_lead(self, info: Info, input: SubmitLeadInput) -> bool:
        """Returns true once stored; visitors never read leads back."""
        data = service.LeadInput(
            email=input.email,
            consent=input.consent,
            name=input.name,
            phone=input.phone,
            company=input.company,
            message=input.message,
            conversation_id=decode_id(input.conversation_id, "Conversation", "conversationId")
            if input.conversation_id
            else None,
        )
        async with info.context.db() as session:
            await service.capture(session, info.context.principal, data)
        return True

    @strawberry.mutation(
        description="Move a lead along the pipeline.", permission_classes=[IsDashboardCaller]
    )
    async def update_lead(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The Lead id.")],
        status: Annotated[LeadStatus, strawberry.argument(description="New status.")],
        note: Annotated[
            str | None, strawberry.argument(description="Replace the note (at most 5,000).")
        ] = None,
    ) -> Lead:
        """Update status and note."""
        lead_id = decode_id(id, "Lead")
        async with info.context.db() as session:
            lead = await service.update_status(
                session, info.context.principal, lead_id=lead_id, status=status.value, note=note
            )
        return Lead.from_model(lead)
