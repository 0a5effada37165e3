"""SQL for the audit log."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, exists, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import limits
from app.pagination import PageRequest
from tenancy.audit.models import AuditEvent
from tenancy.workspaces.models import Workspace


async def insert_event(session: AsyncSession, event: AuditEvent) -> None:
    """Append an event."""
    session.add(event)
    await session.flush()


async def list_events(
    session: AsyncSession, workspace_id: uuid.UUID, page: PageRequest, action: str | None = None
) -> list[AuditEvent]:
    """Newest events first, one page (+1). Ids are time-ordered, so the primary key index
    (workspace_id, id) serves both the filter and the order."""
    query = (
        select(AuditEvent)
        .where(AuditEvent.workspace_id == workspace_id)
        .order_by(AuditEvent.id.desc())
        .limit(limits.page_rows(page))
    )
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if page.after is not None:
        query = query.where(AuditEvent.id < page.after)
    return list(await session.scalars(query))


async def insert_event_if_workspace_exists(session: AsyncSession, event: AuditEvent) -> bool:
    """Append an event to a workspace's log only if that workspace exists (a refused request
    may name any id). The tenant must already be that workspace; returns whether it was
    written."""
    values = {
        "workspace_id": event.workspace_id,
        "id": event.id,
        "actor_type": event.actor_type,
        "actor_id": event.actor_id,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "ip": event.ip,
        "details": event.details or {},
    }
    source = select(
        *(literal(value, type_=AuditEvent.__table__.c[name].type) for name, value in values.items())
    ).where(exists().where(Workspace.id == event.workspace_id))
    result = await session.execute(
        insert(AuditEvent).from_select(list(values), source).returning(AuditEvent.id)
    )
    return result.first() is not None


async def delete_before(
    session: AsyncSession, workspace_id: uuid.UUID, bound: uuid.UUID, batch: int
) -> int:
    """Delete up to `batch` of the workspace's oldest events with ids below `bound` (ids are
    UUIDv7, so this is "older than" and an index range on the primary key); returns how many
    went."""
    oldest = (
        select(AuditEvent.id)
        .where(AuditEvent.workspace_id == workspace_id, AuditEvent.id < bound)
        .order_by(AuditEvent.id)
        .limit(batch)
    )
    result = await session.execute(
        delete(AuditEvent).where(AuditEvent.workspace_id == workspace_id, AuditEvent.id.in_(oldest))
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
