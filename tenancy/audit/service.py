"""Recording and reading the audit log."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.ids import uuid7, uuid7_floor
from app.pagination import Page, PageRequest, make_page
from tenancy.audit import repository
from tenancy.audit.models import AuditEvent
from tenancy.principal import Principal, Role


async def record(
    session: AsyncSession,
    principal: Principal,
    action: str,
    *,
    workspace_id: uuid.UUID | None = None,
    target_type: str | None = None,
    target_id: uuid.UUID | str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append an event to the workspace's audit log, in the caller's transaction, so the
    event exists exactly when the action it describes does."""
    ws = workspace_id or principal.workspace_id
    if ws is None:
        return
    await repository.insert_event(
        session,
        AuditEvent(
            workspace_id=ws,
            id=uuid7(),
            actor_type=principal.kind.value,
            actor_id=principal.actor_id,
            action=action,
            target_type=target_type,
            target_id=str(target_id) if target_id is not None else None,
            ip=principal.ip,
            details=details or {},
        ),
    )


async def list_events(
    session: AsyncSession, principal: Principal, page: PageRequest, action: str | None = None
) -> Page[AuditEvent]:
    """The current workspace's audit log, newest first; admins and owners only."""
    workspace_id = principal.require_role(Role.ADMIN)
    rows = await repository.list_events(session, workspace_id, page, action)
    return make_page(rows, page)


async def purge_expired(
    session: AsyncSession, workspace_id: uuid.UUID, older_than: float, batch: int = 5_000
) -> int:
    """Delete up to `batch` of the workspace's audit events created before `older_than` (Unix
    seconds). The caller's transaction must have the workspace as its tenant: RLS scopes the
    delete like any other statement. Returns how many were deleted."""
    return await repository.delete_before(session, workspace_id, uuid7_floor(older_than), batch)
