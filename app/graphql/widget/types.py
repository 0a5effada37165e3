"""GraphQL types of the widget."""

from __future__ import annotations

import datetime as dt

import strawberry

from app.graphql.node import to_global_id
from app.widget.service import VisitorSession
from app.widget.views import ConfigView


@strawberry.type(description="How a publishable key's chat widget looks and behaves.")
class WidgetConfig:
    """Widget configuration."""

    key_id: strawberry.ID = strawberry.field(description="The publishable key (ApiKey id).")
    title: str = strawberry.field(description="Panel title.")
    greeting: str = strawberry.field(description="First message shown to visitors.")
    primary_color: str = strawberry.field(description="Accent colour, #rrggbb.")
    position: str = strawberry.field(description="bottom-right or bottom-left.")
    suggested_questions: list[str] = strawberry.field(description="Up to 5 starter questions.")
    lead_capture: bool = strawberry.field(description="Whether the lead form is offered.")
    lead_fields: list[str] = strawberry.field(
        description="Fields of the lead form (email always included)."
    )
    language: str = strawberry.field(description="Language of the widget's built-in texts.")
    require_identity: bool = strawberry.field(
        description="Only visitors whose identity the customer's server signed may chat."
    )

    @classmethod
    def from_view(cls, view: ConfigView) -> WidgetConfig:
        """Convert a service view."""
        return cls(
            key_id=to_global_id("ApiKey", view.key_id),
            title=view.title,
            greeting=view.greeting,
            primary_color=view.primary_color,
            position=view.position,
            suggested_questions=list(view.suggested_questions),
            lead_capture=view.lead_capture,
            lead_fields=list(view.lead_fields),
            language=view.language,
            require_identity=view.require_identity,
        )


@strawberry.type(description="A visitor's session with the widget.")
class WidgetSession:
    """Visitor token and configuration."""

    visitor_token: str = strawberry.field(
        description="Bearer token for the widget's later calls, bound to this page's origin."
    )
    expires_at: dt.datetime = strawberry.field(description="When to start a new session.")
    visitor_id: str = strawberry.field(
        description="Signed visitor id; send it back next time to keep the conversations."
    )
    identified: bool = strawberry.field(
        description="True when the customer's server vouched for the visitor's identity."
    )
    config: WidgetConfig = strawberry.field(description="The widget's configuration.")

    @classmethod
    def from_session(cls, visitor: VisitorSession) -> WidgetSession:
        """Convert a service result."""
        return cls(
            visitor_token=visitor.token,
            expires_at=visitor.expires_at,
            visitor_id=visitor.visitor_id,
            identified=visitor.identified,
            config=WidgetConfig.from_view(visitor.config),
        )
