"""SQL for usage counters. Increments are single UPSERT statements, so concurrent requests
never lose an update."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from billing.usage.models import UsageCounter


async def add(
    session: AsyncSession, workspace_id: uuid.UUID, metric: str, period: dt.date, amount: int
) -> int:
    """Add `amount` (may be negative) and return the new value."""
    statement = (
        insert(UsageCounter)
        .values(workspace_id=workspace_id, metric=metric, period_start=period, value=amount)
        .on_conflict_do_update(
            index_elements=["workspace_id", "metric", "period_start"],
            set_={"value": UsageCounter.value + amount},
        )
        .returning(UsageCounter.value)
    )
    return int((await session.execute(statement)).scalar_one())


async def values(
    session: AsyncSession, workspace_id: uuid.UUID, periods: list[dt.date]
) -> dict[tuple[str, dt.date], int]:
    """Every counter of the workspace in the given periods."""
    rows = await session.execute(
        select(UsageCounter.metric, UsageCounter.period_start, UsageCounter.value).where(
            UsageCounter.workspace_id == workspace_id, UsageCounter.period_start.in_(periods)
        )
    )
    return {(metric, period): int(value) for metric, period, value in rows}
