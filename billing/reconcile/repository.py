"""SQL for the watchlist of Razorpay ids that reconciliation fetches."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from billing.reconcile.models import WatchedId


@dataclass(frozen=True, slots=True)
class Due:
    """A watched id whose turn has come."""

    razorpay_id: str
    kind: str
    added_at: dt.datetime
    failures: int


async def watch(session: AsyncSession, razorpay_id: str, kind: str) -> None:
    """Start watching an id (no-op when already watched)."""
    await session.execute(
        insert(WatchedId)
        .values(razorpay_id=razorpay_id, kind=kind)
        .on_conflict_do_nothing(index_elements=["razorpay_id"])
    )


async def unwatch(session: AsyncSession, razorpay_id: str) -> None:
    """Stop watching an id (its subscription ended, its order was paid)."""
    await session.execute(delete(WatchedId).where(WatchedId.razorpay_id == razorpay_id))


async def claim_due(
    session: AsyncSession, now: dt.datetime, limit: int, lease: dt.timedelta
) -> list[Due]:
    """Up to `limit` ids due for a check, pushed `lease` into the future so a concurrent run
    (or a crash half-way) does not check them twice in a row. SKIP LOCKED lets two
    reconcilers share the work."""
    rows = (
        await session.execute(
            select(WatchedId.razorpay_id, WatchedId.kind, WatchedId.added_at, WatchedId.failures)
            .where(WatchedId.next_check_at <= now)
            .order_by(WatchedId.next_check_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    if rows:
        await session.execute(
            update(WatchedId)
            .where(WatchedId.razorpay_id.in_([r[0] for r in rows]))
            .values(next_check_at=now + lease)
        )
    return [Due(r[0], r[1], r[2], r[3]) for r in rows]


async def checked(
    session: AsyncSession,
    razorpay_id: str,
    now: dt.datetime,
    next_check_at: dt.datetime,
    *,
    failed: bool,
) -> None:
    """Record a check and schedule the next one."""
    values: dict[str, object] = {"last_checked_at": now, "next_check_at": next_check_at}
    values["failures"] = WatchedId.failures + 1 if failed else 0
    await session.execute(
        update(WatchedId).where(WatchedId.razorpay_id == razorpay_id).values(**values)
    )


async def is_watched(session: AsyncSession, razorpay_id: str) -> bool:
    """True while an id is on the watchlist."""
    return (
        await session.scalar(
            select(WatchedId.razorpay_id).where(WatchedId.razorpay_id == razorpay_id)
        )
    ) is not None
