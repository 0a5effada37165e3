"""Mutation fields of the widget."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.graphql.context import Info
from app.graphql.node import decode_id
from app.graphql.permissions import IsDashboardCaller
from app.graphql.widget.types import WidgetConfig, WidgetSession
from app.widget import service


@strawberry.input(description="Changes to a widget; omitted fields keep their value.")
class WidgetConfigInput:
    """Widget settings."""

    title: str | None = strawberry.field(default=None, description="Panel title (1-60).")
    greeting: str | None = strawberry.field(default=None, description="First message (1-500).")
    primary_color: str | None = strawberry.field(default=None, description="#rrggbb.")
    position: str | None = strawberry.field(
        default=None, description="bottom-right or bottom-left."
    )
    suggested_questions: list[str] | None = strawberry.field(
        default=None, description="Up to 5 questions of at most 120 characters."
    )
    lead_capture: bool | None = strawberry.field(default=None, description="Offer the lead form.")
    lead_fields: list[str] | None = strawberry.field(
        default=None, description="Any of name, email, phone, company, message."
    )
    language: str | None = strawberry.field(
        default=None, description="en, es, fr, de, pt, it, nl or hi."
    )
    require_identity: bool | None = strawberry.field(
        default=None, description="Only visitors with a signed identity may chat."
    )


@strawberry.input(description="A visitor identity vouched for by the customer's server.")
class VisitorIdentityInput:
    """Identity and its signature."""

    user_id: str = strawberry.field(description="The customer's id for the visitor.")
    signature: str = strawberry.field(
        description="Hex HMAC-SHA256 of userId with the widget identity secret."
    )


@strawberry.input(description="Starting a widget session.")
class StartWidgetSessionInput:
    """Optional continuity and identity."""

    visitor_id: str | None = strawberry.field(
        default=None, description="The visitorId of an earlier session in this browser."
    )
    identity: VisitorIdentityInput | None = strawberry.field(
        default=None, description="A signed identity (logged-in mode)."
    )


@strawberry.type
class WidgetMutation:
    """Root mutation fields of the widget."""

    @strawberry.mutation(
        description="Change a publishable key's widget (admins).",
        permission_classes=[IsDashboardCaller],
    )
    async def update_widget_config(
        self,
        info: Info,
        key_id: Annotated[strawberry.ID, strawberry.argument(description="The ApiKey id.")],
        input: WidgetConfigInput,
    ) -> WidgetConfig:
        """Update the widget."""
        key = decode_id(key_id, "ApiKey", "keyId")
        data = service.ConfigInput(
            title=input.title,
            greeting=input.greeting,
            primary_color=input.primary_color,
            position=input.position,
            suggested_questions=input.suggested_questions,
            lead_capture=input.lead_capture,
            lead_fields=input.lead_fields,
            language=input.language,
            require_identity=input.require_identity,
        )
        async with info.context.db() as session:
            view = await service.update_config(session, info.context.principal, key, data)
        return WidgetConfig.from_view(view)

    @strawberry.mutation(
        description="Replace the widget identity secret; earlier signatures stop working.",
        permission_classes=[IsDashboardCaller],
    )
    async def rotate_widget_identity_secret(
        self,
        info: Info,
        key_id: Annotated[strawberry.ID, strawberry.argument(description="The ApiKey id.")],
    ) -> str:
        """Rotate and return the new secret."""
        key = decode_id(key_id, "ApiKey", "keyId")
        ctx = info.context
        async with ctx.db() as session:
            return await service.identity_secret(
                session, ctx.state.security, ctx.principal, key, rotate=True
            )

    @strawberry.mutation(
        description="Exchange the publishable key (Authorization) for a visitor token (widget)."
    )
    async def start_widget_session(
        self, info: Info, input: StartWidgetSessionInput | None = None
    ) -> WidgetSession:
        """Start or resume a visitor session."""
        ctx = info.context
        identity = None
        if input is not None and input.identity is not None:
            identity = service.Identity(
                input.identity.user_id[:200], input.identity.signature[:200]
            )
        async with ctx.db() as session:
            visitor = await service.start_session(
                session,
                ctx.state.security,
                ctx.principal,
                origin=ctx.origin,
                visitor_id=input.visitor_id if input else None,
                identity=identity,
            )
        return WidgetSession.from_session(visitor)
