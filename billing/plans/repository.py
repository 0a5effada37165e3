"""SQL for the catalogue. The application role may only read it; publishing a version runs
as the owner role over an operator's connection (see billing/plans/catalogue.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from billing.plans.models import Plan, TopUpPack


async def list_available(session: AsyncSession) -> list[Plan]:
    """The versions offered to buyers now, cheapest first."""
    return list(
        await session.scalars(
            select(Plan).where(Plan.available).order_by(Plan.sort_order, Plan.price_minor)
        )
    )


async def get(session: AsyncSession, plan_id: uuid.UUID) -> Plan | None:
    """A plan version by id (available or not)."""
    return await session.get(Plan, plan_id)


async def get_many(session: AsyncSession, plan_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Plan]:
    """Plan versions by id."""
    if not plan_ids:
        return {}
    rows = await session.scalars(select(Plan).where(Plan.id.in_(set(plan_ids))))
    return {plan.id: plan for plan in rows}


async def available_by_code(session: AsyncSession, code: str) -> Plan | None:
    """The version of `code` offered now."""
    return await session.scalar(select(Plan).where(Plan.code == code, Plan.available))


async def by_razorpay_plan_id(session: AsyncSession, razorpay_plan_id: str) -> Plan | None:
    """The version behind a Razorpay plan id: the offered one if any, else the newest."""
    return await session.scalar(
        select(Plan)
        .where(Plan.razorpay_plan_id == razorpay_plan_id)
        .order_by(Plan.available.desc(), Plan.version.desc())
        .limit(1)
    )


async def list_packs(session: AsyncSession) -> list[TopUpPack]:
    """Top-up packs on sale."""
    return list(
        await session.scalars(
            select(TopUpPack).where(TopUpPack.available).order_by(TopUpPack.sort_order)
        )
    )


async def get_pack(session: AsyncSession, pack_id: uuid.UUID) -> TopUpPack | None:
    """A top-up pack by id."""
    return await session.get(TopUpPack, pack_id)


# Owner-side statements (operators publishing the catalogue).


async def latest_version(conn: AsyncConnection, code: str) -> dict[str, Any] | None:
    """The newest version of a plan code, as a column dict, locked against a concurrent
    publish."""
    row = (
        (
            await conn.execute(
                select(Plan.__table__)
                .where(Plan.code == code)
                .order_by(Plan.version.desc())
                .limit(1)
                .with_for_update()
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def insert_version(conn: AsyncConnection, values: dict[str, Any]) -> None:
    """Insert a plan version, taking over `available` from the version offered before."""
    await conn.execute(
        update(Plan).where(Plan.code == values["code"], Plan.available).values(available=False)
    )
    await conn.execute(insert(Plan).values(**values))


async def set_owner_role(conn: AsyncConnection, owner_role: str) -> None:
    """Act as the owner role for the rest of the transaction (the catalogue's owner)."""
    if not owner_role.replace("_", "").isalnum():
        raise ValueError(f"unsafe role name {owner_role!r}")
    await conn.execute(text(f'SET LOCAL ROLE "{owner_role}"'))
