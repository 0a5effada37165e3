"""All SQL of the job outbox."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.maintenance import as_maintenance
from app.outbox.models import OutboxJob


async def insert_jobs(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Record jobs in the caller's transaction (the tenant must be set: RLS checks it)."""
    if rows:
        await session.execute(insert(OutboxJob).values(list(rows)))


async def delete_jobs(
    session: AsyncSession, workspace_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> int:
    """Forget jobs that arq has taken; returns how many rows went."""
    if not ids:
        return 0
    result = await session.execute(
        delete(OutboxJob).where(OutboxJob.workspace_id == workspace_id, OutboxJob.id.in_(ids))
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def waiting(
    session: AsyncSession, role: str, *, older_than: dt.timedelta, limit: int
) -> tuple[int, list[uuid.UUID]]:
    """Across workspaces, as the maintenance role: how many jobs wait in total, and up to
    `limit` workspaces holding jobs older than `older_than` (oldest first)."""
    cutoff = func.now() - older_than
    async with as_maintenance(session, role):
        depth = await session.scalar(select(func.count(OutboxJob.workspace_id)))
        rows = await session.execute(
            select(OutboxJob.workspace_id)
            .where(OutboxJob.created_at < cutoff)
            .group_by(OutboxJob.workspace_id)
            .order_by(func.min(OutboxJob.created_at))
            .limit(limit)
        )
        workspaces = [row[0] for row in rows]
    return int(depth or 0), workspaces


async def lock_due(
    session: AsyncSession, workspace_id: uuid.UUID, *, older_than: dt.timedelta, limit: int
) -> list[OutboxJob]:
    """The current workspace's jobs older than `older_than`, oldest first, locked for this
    transaction; rows another relay holds are skipped, so two relays never send the same."""
    rows = await session.scalars(
        select(OutboxJob)
        .where(
            OutboxJob.workspace_id == workspace_id,
            OutboxJob.created_at < func.now() - older_than,
        )
        .order_by(OutboxJob.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(rows)
