"""Query fields of leads."""

from __future__ import annotations

import uuid
from typing import Annotated

import strawberry

from app.graphql.context import Info
from app.graphql.leads.types import Lead, LeadStatus
from app.graphql.node import register_node
from app.graphql.pagination import Connection, connection
from app.graphql.permissions import IsDashboardCaller
from app.leads import repository, service
from app.pagination import page_request
from tenancy.principal import PrincipalKind


async def _lead_node(info: Info, value: uuid.UUID) -> Lead | None:
    principal = info.context.principal
    if principal.workspace_id is None or principal.kind not in (
        PrincipalKind.USER,
        PrincipalKind.SECRET_KEY,
    ):
        return None
    async with info.context.db() as session:
        lead = await repository.get(session, principal.workspace_id, value)
    return Lead.from_model(lead) if lead else None


register_node("Lead", _lead_node)


@strawberry.type
class LeadsQuery:
    """Root query fields of leads."""

    @strawberry.field(description="Leads, newest first.", permission_classes=[IsDashboardCaller])
    async def leads(
        self,
        info: Info,
        first: int | None = 20,
        after: str | None = None,
        status: Annotated[
            LeadStatus | None, strawberry.argument(description="Only this status.")
        ] = None,
        search: Annotated[
            str | None, strawberry.argument(description="Match email, name or company.")
        ] = None,
    ) -> Connection[Lead]:
        """Paged leads."""
        request = page_request(first, after)
        async with info.context.db() as session:
            page = await service.list_leads(
                session,
                info.context.principal,
                request,
                status=status.value if status else None,
                search=search,
            )
        return connection(page, Lead.from_model, lambda lead: lead.id)

    @strawberry.field(
        description="Leads as CSV (at most 10,000 rows; admins).",
        permission_classes=[IsDashboardCaller],
    )
    async def leads_csv(
        self,
        info: Info,
        status: Annotated[
            LeadStatus | None, strawberry.argument(description="Only this status.")
        ] = None,
        search: Annotated[
            str | None, strawberry.argument(description="Match email, name or company.")
        ] = None,
    ) -> str:
        """CSV export."""
        async with info.context.db() as session:
            return await service.export_csv(
                session,
                info.context.principal,
                status=status.value if status else None,
                search=search,
            )
