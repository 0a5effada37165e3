"""Reading the catalogue."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import NotFound, ValidationFailed
from billing.plans import repository
from billing.plans.models import Plan, TopUpPack

FREE = "free"
_FREE_CACHE_KEY = "billing.free_plan"


async def list_plans(session: AsyncSession) -> list[Plan]:
    """Plans offered to buyers now (anyone may read the price list)."""
    return await repository.list_available(session)


async def list_packs(session: AsyncSession) -> list[TopUpPack]:
    """Top-up packs on sale."""
    return await repository.list_packs(session)


async def free_plan(session: AsyncSession) -> Plan:
    """The free plan version offered now: what every workspace falls back to. Cached on the
    session, as every quota check may need it."""
    cached = session.info.get(_FREE_CACHE_KEY)
    if isinstance(cached, Plan):
        return cached
    plan = await repository.available_by_code(session, FREE)
    if plan is None:
        raise RuntimeError("the catalogue has no available free plan; run the migrations")
    session.info[_FREE_CACHE_KEY] = plan
    return plan


async def plan_for_purchase(session: AsyncSession, plan_id: uuid.UUID, *, field: str) -> Plan:
    """A plan a workspace may buy now: offered and paid for through Razorpay."""
    plan = await repository.get(session, plan_id)
    if plan is None or not plan.available:
        raise NotFound("No such plan is on offer.", field=field)
    if plan.is_free:
        raise ValidationFailed(
            "The free plan needs no checkout: cancel the paid subscription to return to it.",
            field=field,
        )
    return plan


async def pack_for_purchase(session: AsyncSession, pack_id: uuid.UUID, *, field: str) -> TopUpPack:
    """A top-up pack on sale."""
    pack = await repository.get_pack(session, pack_id)
    if pack is None or not pack.available:
        raise NotFound("No such top-up pack is on sale.", field=field)
    return pack
