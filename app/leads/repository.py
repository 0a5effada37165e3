"""SQL for leads."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import limits
from app.leads.models import Lead
from app.pagination import PageRequest


async def upsert(session: AsyncSession, values: dict[str, Any]) -> tuple[Lead, bool]:
    """Insert a lead or, when the email is known in this workspace, refresh the details the
    visitor gave (never the status or note the team set). Returns the row and whether it is new.
    """
    base = insert(Lead).values(**values)
    refreshed = {
        col: func.coalesce(base.excluded[col], getattr(Lead, col))
        for col in ("name", "phone", "company", "message", "conversation_id", "visitor_id")
    }
    statement = base.on_conflict_do_update(
        index_elements=[Lead.workspace_id, func.lower(Lead.email)],
        set_={**refreshed, "consent_at": base.excluded.consent_at, "updated_at": func.now()},
    ).returning(Lead, text("(xmax = 0) AS inserted"))
    row = (await session.execute(statement)).one()
    return row[0], bool(row[1])


async def get(session: AsyncSession, workspace_id: uuid.UUID, lead_id: uuid.UUID) -> Lead | None:
    """A lead by id."""
    return await session.scalar(
        select(Lead).where(Lead.workspace_id == workspace_id, Lead.id == lead_id)
    )


def _filtered(workspace_id: uuid.UUID, status: str | None, search: str | None) -> Any:
    query = select(Lead).where(Lead.workspace_id == workspace_id)
    if status is not None:
        query = query.where(Lead.status == status)
    if search:
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(Lead.email.ilike(pattern), Lead.name.ilike(pattern), Lead.company.ilike(pattern))
        )
    return query


async def list_page(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    page: PageRequest,
    *,
    status: str | None,
    search: str | None,
) -> list[Lead]:
    """Newest leads first, one page (+1)."""
    query = (
        _filtered(workspace_id, status, search)
        .order_by(Lead.id.desc())
        .limit(limits.page_rows(page))
    )
    if page.after is not None:
        query = query.where(Lead.id < page.after)
    return list(await session.scalars(query))


async def list_all(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    status: str | None,
    search: str | None,
    limit: int,
) -> list[Lead]:
    """Up to `limit` leads, oldest first (for exports)."""
    query = _filtered(workspace_id, status, search).order_by(Lead.id).limit(limits.rows(limit))
    return list(await session.scalars(query))


async def set_status(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    lead_id: uuid.UUID,
    status: str,
    note: str | None,
    now: dt.datetime,
) -> None:
    """Change a lead's status (and note)."""
    values: dict[str, Any] = {"status": status, "updated_at": now}
    if note is not None:
        values["note"] = note
    await session.execute(
        update(Lead).where(Lead.workspace_id == workspace_id, Lead.id == lead_id).values(**values)
    )
