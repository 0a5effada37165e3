"""Recording and reading usage."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from billing.usage import repository
from billing.usage.metrics import LIFETIME, Metric, month_start, period_for
from tenancy.principal import Principal


async def record(
    session: AsyncSession, workspace_id: uuid.UUID, metric: Metric, amount: int = 1
) -> int:
    """Count `amount` of `metric` for the workspace in the current period, atomically, in the
    caller's transaction (so usage exists exactly when the thing it counts does)."""
    return await repository.add(session, workspace_id, metric.value, period_for(metric), amount)


@dataclass(frozen=True, slots=True)
class UsageSnapshot:
    """A workspace's usage: this month's counters and the running totals."""

    period_start: dt.date
    values: dict[Metric, int]


async def snapshot(
    session: AsyncSession, principal: Principal, now: dt.datetime | None = None
) -> UsageSnapshot:
    """Current usage of the caller's workspace."""
    workspace_id = principal.require_workspace()
    month = month_start(now)
    found = await repository.values(session, workspace_id, [month, LIFETIME])
    return UsageSnapshot(
        period_start=month,
        values={m: found.get((m.value, period_for(m, now)), 0) for m in Metric},
    )
