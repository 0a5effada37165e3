"""GraphQL types of leads."""

from __future__ import annotations

import datetime as dt
from enum import Enum

import strawberry

from app.graphql.node import Node, to_global_id
from app.leads.models import Lead as LeadModel


@strawberry.enum(
    description="Where a lead is in the pipeline: NEW, CONTACTED, QUALIFIED, WON or LOST."
)
class LeadStatus(Enum):
    """Lead pipeline states."""

    NEW = "new"
    CONTACTED = "contacted"
    QUALIFIED = "qualified"
    WON = "won"
    LOST = "lost"


@strawberry.type(description="A visitor who left contact details in the widget, with consent.")
class Lead(Node):
    """A lead."""

    email: str = strawberry.field(description="Email address (unique per workspace).")
    name: str | None = strawberry.field(description="Name, if given.")
    phone: str | None = strawberry.field(description="Phone, if given.")
    company: str | None = strawberry.field(description="Company, if given.")
    message: str | None = strawberry.field(description="What the visitor wrote.")
    status: LeadStatus = strawberry.field(description="Pipeline status.")
    note: str | None = strawberry.field(description="The team's note.")
    consented_at: dt.datetime = strawberry.field(description="When consent was given.")
    conversation_id: strawberry.ID | None = strawberry.field(
        description="The conversation the lead came from."
    )
    created_at: dt.datetime = strawberry.field(description="First captured.")
    updated_at: dt.datetime = strawberry.field(description="Last changed.")

    @classmethod
    def from_model(cls, lead: LeadModel) -> Lead:
        """Convert a row."""
        return cls(
            id=to_global_id("Lead", lead.id),
            email=lead.email,
            name=lead.name,
            phone=lead.phone,
            company=lead.company,
            message=lead.message,
            status=LeadStatus(lead.status),
            note=lead.note,
            consented_at=lead.consent_at,
            conversation_id=to_global_id("Conversation", lead.conversation_id)
            if lead.conversation_id
            else None,
            created_at=lead.created_at,
            updated_at=lead.updated_at,
        )
