"""SQL for security events."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenancy.security_events.models import SecurityEvent


async def insert_event(session: AsyncSession, event: SecurityEvent) -> None:
    """Append an event. A plain INSERT without RETURNING: the application role may not read
    this table back."""
    await session.execute(
        insert(SecurityEvent).values(
            id=event.id,
            kind=event.kind,
            user_id=event.user_id,
            key_id=event.key_id,
            target_workspace_id=event.target_workspace_id,
            ip=event.ip,
            user_agent=event.user_agent,
            request_id=event.request_id,
            details=event.details or {},
        )
    )


async def delete_before(session: AsyncSession, cutoff: dt.datetime, batch: int) -> int:
    """Delete up to `batch` of the oldest events from before `cutoff`; returns how many went.
    (The application role may read only `id` and `occurred_at`, which is all this needs.)"""
    oldest = (
        select(SecurityEvent.id)
        .where(SecurityEvent.occurred_at < cutoff)
        .order_by(SecurityEvent.occurred_at)
        .limit(batch)
    )
    result = await session.execute(delete(SecurityEvent).where(SecurityEvent.id.in_(oldest)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
