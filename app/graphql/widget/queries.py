"""Query fields of the widget."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.graphql.context import Info
from app.graphql.node import decode_id
from app.graphql.permissions import IsDashboardCaller
from app.graphql.widget.types import WidgetConfig
from app.widget import service


@strawberry.type
class WidgetQuery:
    """Root query fields of the widget."""

    @strawberry.field(
        description="The widget configuration of a publishable key (dashboard).",
        permission_classes=[IsDashboardCaller],
    )
    async def widget_config(
        self,
        info: Info,
        key_id: Annotated[strawberry.ID, strawberry.argument(description="The ApiKey id.")],
    ) -> WidgetConfig:
        """A key's widget settings."""
        key = decode_id(key_id, "ApiKey", "keyId")
        async with info.context.db() as session:
            view = await service.get_config(session, info.context.principal, key)
        return WidgetConfig.from_view(view)

    @strawberry.field(description="The calling visitor's widget configuration (widget).")
    async def visitor_widget(self, info: Info) -> WidgetConfig:
        """For the widget itself, with a visitor token."""
        async with info.context.db() as session:
            view = await service.visitor_config(session, info.context.principal)
        return WidgetConfig.from_view(view)

    @strawberry.field(
        description="The secret your server signs visitor identities with (admins).",
        permission_classes=[IsDashboardCaller],
    )
    async def widget_identity_secret(
        self,
        info: Info,
        key_id: Annotated[strawberry.ID, strawberry.argument(description="The ApiKey id.")],
    ) -> str:
        """Derived per key; rotate it with rotateWidgetIdentitySecret."""
        key = decode_id(key_id, "ApiKey", "keyId")
        ctx = info.context
        async with ctx.db() as session:
            return await service.identity_secret(session, ctx.state.security, ctx.principal, key)
