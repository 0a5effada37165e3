"""SQL for quota checks: counter locks, conditional reservations, credits and row counts.

Every statement that admits usage is atomic in PostgreSQL: either a conditional UPDATE whose
WHERE clause is re-checked after waiting for a concurrent writer's row lock, or a count taken
under a transaction-scoped advisory lock.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from billing.entitlements.models import QuotaCredit, Reservation
from billing.usage.models import UsageCounter
from tenancy.apikeys.models import ApiKey
from tenancy.workspaces.models import Invitation, Membership


@dataclass(frozen=True, slots=True)
class Counter:
    """A usage counter's value and the amount reserved on top of it."""

    value: int
    reserved: int


def _key(workspace_id: uuid.UUID, metric: str, period: dt.date) -> list[ColumnElement[bool]]:
    return [
        UsageCounter.workspace_id == workspace_id,
        UsageCounter.metric == metric,
        UsageCounter.period_start == period,
    ]


async def ensure_counter(
    session: AsyncSession, workspace_id: uuid.UUID, metric: str, period: dt.date
) -> None:
    """Create the counter row at zero if missing, so there is a row to lock."""
    await session.execute(
        insert(UsageCounter)
        .values(workspace_id=workspace_id, metric=metric, period_start=period, value=0)
        .on_conflict_do_nothing(index_elements=["workspace_id", "metric", "period_start"])
    )


async def lock_counter(
    session: AsyncSession, workspace_id: uuid.UUID, metric: str, period: dt.date
) -> Counter:
    """Lock a counter row until the transaction ends and read it."""
    row = (
        await session.execute(
            select(UsageCounter.value, UsageCounter.reserved)
            .where(*_key(workspace_id, metric, period))
            .with_for_update()
        )
    ).one()
    return Counter(int(row[0]), int(row[1]))


async def read_counter(
    session: AsyncSession, workspace_id: uuid.UUID, metric: str, period: dt.date
) -> Counter:
    """A counter's current value (zero when there is no row)."""
    row = (
        await session.execute(
            select(UsageCounter.value, UsageCounter.reserved).where(
                *_key(workspace_id, metric, period)
            )
        )
    ).first()
    return Counter(int(row[0]), int(row[1])) if row else Counter(0, 0)


async def counters(
    session: AsyncSession, workspace_id: uuid.UUID, periods: list[dt.date]
) -> dict[tuple[str, dt.date], Counter]:
    """Every counter of the workspace in the given periods."""
    rows = await session.execute(
        select(
            UsageCounter.metric,
            UsageCounter.period_start,
            UsageCounter.value,
            UsageCounter.reserved,
        ).where(UsageCounter.workspace_id == workspace_id, UsageCounter.period_start.in_(periods))
    )
    return {(m, p): Counter(int(v), int(r)) for m, p, v, r in rows}


async def try_reserve(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    metric: str,
    period: dt.date,
    amount: int,
    limit: int | None,
) -> bool:
    """Add `amount` to the reserved total if value + reserved + amount stays within `limit`
    (None: no limit). One UPDATE: concurrent callers queue on the row lock and each re-checks
    the condition against the committed total, so they cannot overshoot together."""
    condition = _key(workspace_id, metric, period)
    if limit is not None:
        condition.append(UsageCounter.value + UsageCounter.reserved + amount <= limit)
    result = await session.execute(
        update(UsageCounter)
        .where(*condition)
        .values(reserved=UsageCounter.reserved + amount)
        .returning(UsageCounter.reserved)
    )
    return result.first() is not None


async def adjust_counter(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    metric: str,
    period: dt.date,
    *,
    reserved_delta: int,
    value_delta: int,
) -> None:
    """Move amounts between reserved and used (never below zero reserved)."""
    await ensure_counter(session, workspace_id, metric, period)
    await session.execute(
        update(UsageCounter)
        .where(*_key(workspace_id, metric, period))
        .values(
            reserved=func.greatest(UsageCounter.reserved + reserved_delta, 0),
            value=UsageCounter.value + value_delta,
        )
    )


async def insert_reservation(session: AsyncSession, reservation: Reservation) -> None:
    """Record a reservation."""
    session.add(reservation)
    await session.flush()


async def settle_reservation(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    reservation_id: uuid.UUID,
    *,
    status: str,
    used: int | None,
    now: dt.datetime,
) -> tuple[str, dt.date, int] | None:
    """Move a held reservation to `status`; returns (metric, period, amount), or None when it
    was not held any more (already settled: the caller decides what that means)."""
    row = (
        await session.execute(
            update(Reservation)
            .where(
                Reservation.workspace_id == workspace_id,
                Reservation.id == reservation_id,
                Reservation.status == "held",
            )
            .values(status=status, used=used, settled_at=now)
            .returning(Reservation.metric, Reservation.period_start, Reservation.amount)
        )
    ).first()
    return (row[0], row[1], int(row[2])) if row else None


async def get_reservation(
    session: AsyncSession, workspace_id: uuid.UUID, reservation_id: uuid.UUID
) -> Reservation | None:
    """A reservation by id, locked."""
    return await session.scalar(
        select(Reservation)
        .where(Reservation.workspace_id == workspace_id, Reservation.id == reservation_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def mark_committed(
    session: AsyncSession, workspace_id: uuid.UUID, reservation_id: uuid.UUID, used: int
) -> None:
    """Record the usage of a reservation that had expired before its commit arrived."""
    await session.execute(
        update(Reservation)
        .where(Reservation.workspace_id == workspace_id, Reservation.id == reservation_id)
        .values(status="committed", used=used)
    )


async def release_expired(
    session: AsyncSession, workspace_id: uuid.UUID, now: dt.datetime
) -> list[tuple[str, dt.date, int]]:
    """Release the workspace's held reservations past their expiry (a crashed caller never
    committed nor released them); returns what each held."""
    rows = await session.execute(
        update(Reservation)
        .where(
            Reservation.workspace_id == workspace_id,
            Reservation.status == "held",
            Reservation.expires_at < now,
        )
        .values(status="released", settled_at=now)
        .returning(Reservation.metric, Reservation.period_start, Reservation.amount)
    )
    return [(m, p, int(a)) for m, p, a in rows]


async def credits(
    session: AsyncSession, workspace_id: uuid.UUID, period: dt.date
) -> dict[str, int]:
    """Top-up allowance per limit for one month."""
    rows = await session.execute(
        select(QuotaCredit.limit_name, func.sum(QuotaCredit.amount))
        .where(QuotaCredit.workspace_id == workspace_id, QuotaCredit.period_start == period)
        .group_by(QuotaCredit.limit_name)
    )
    return {name: int(total) for name, total in rows}


async def add_credit(session: AsyncSession, credit: QuotaCredit) -> bool:
    """Grant allowance once per (source, limit); False when it was granted before."""
    result = await session.execute(
        insert(QuotaCredit)
        .values(
            workspace_id=credit.workspace_id,
            id=credit.id,
            limit_name=credit.limit_name,
            period_start=credit.period_start,
            amount=credit.amount,
            source_ref=credit.source_ref,
        )
        .on_conflict_do_nothing(index_elements=["workspace_id", "source_ref", "limit_name"])
        .returning(QuotaCredit.id)
    )
    return result.first() is not None


async def credits_from(
    session: AsyncSession, workspace_id: uuid.UUID, source_ref: str
) -> list[QuotaCredit]:
    """Positive credits granted from one source (an order)."""
    return list(
        await session.scalars(
            select(QuotaCredit).where(
                QuotaCredit.workspace_id == workspace_id,
                QuotaCredit.source_ref == source_ref,
                QuotaCredit.amount > 0,
            )
        )
    )


_ADVISORY = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")


async def lock_limit(session: AsyncSession, workspace_id: uuid.UUID, limit: str) -> None:
    """Serialise checks of a row-counted limit in one workspace until the transaction ends."""
    await session.execute(_ADVISORY, {"key": f"quota:{workspace_id}:{limit}"})


async def count_members_and_invitations(
    session: AsyncSession, workspace_id: uuid.UUID, now: dt.datetime
) -> int:
    """Members plus invitations still pending (each may become a member)."""
    members = await session.scalar(
        select(func.count()).select_from(Membership).where(Membership.workspace_id == workspace_id)
    )
    pending = await session.scalar(
        select(func.count())
        .select_from(Invitation)
        .where(
            Invitation.workspace_id == workspace_id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > now,
        )
    )
    return int(members or 0) + int(pending or 0)


async def count_publishable_keys(session: AsyncSession, workspace_id: uuid.UUID) -> int:
    """Publishable keys not revoked."""
    return int(
        await session.scalar(
            select(func.count())
            .select_from(ApiKey)
            .where(
                ApiKey.workspace_id == workspace_id,
                ApiKey.kind == "publishable",
                ApiKey.revoked_at.is_(None),
            )
        )
        or 0
    )
