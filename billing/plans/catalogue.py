"""Operators publishing the catalogue: a new plan version, never an edit of a sold one.

Runs over the admin connection as the owner role (the application role may only read the
catalogue). Publishing a version makes it the one offered to new buyers; workspaces keep the
version they bought until they change plan.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import create_async_engine

from app.config import DatabaseSettings
from app.db.engine import sqlalchemy_url
from app.db.ids import uuid7
from app.errors import NotFound, ValidationFailed
from billing.entitlements.limits import Limit
from billing.plans import repository

CHANGEABLE = frozenset(
    {
        "name",
        "description",
        "price_minor",
        "currency",
        "billing_period",
        "razorpay_plan_id",
        "sort_order",
        *(limit.value for limit in Limit),
    }
)


TEXT_FIELDS = frozenset({"name", "description", "currency", "billing_period", "razorpay_plan_id"})


def parse_changes(pairs: list[str]) -> dict[str, Any]:
    """`field=value` pairs from the command line: numbers for prices and limits, `null` for
    unlimited, text for the rest."""
    changes: dict[str, Any] = {}
    for pair in pairs:
        field, sep, raw = pair.partition("=")
        field = field.strip()
        if not sep or field not in CHANGEABLE:
            raise ValidationFailed(
                f"{pair!r}: use field=value with one of {', '.join(sorted(CHANGEABLE))}."
            )
        if field in TEXT_FIELDS:
            changes[field] = raw
        elif raw.strip().lower() in ("null", "none", "unlimited"):
            changes[field] = None
        else:
            try:
                changes[field] = int(raw.replace("_", ""))
            except ValueError as exc:
                raise ValidationFailed(f"{field} must be a whole number or null.") from exc
    return changes


def _check(changes: dict[str, Any]) -> None:
    unknown = set(changes) - CHANGEABLE
    if unknown:
        raise ValidationFailed(f"Unknown plan fields: {', '.join(sorted(unknown))}.")
    for limit in Limit:
        value = changes.get(limit.value)
        if value is not None and (not isinstance(value, int) or value < 0):
            raise ValidationFailed(f"{limit.value} must be a non-negative integer or null.")
    price = changes.get("price_minor")
    if price is not None and (not isinstance(price, int) or price < 0):
        raise ValidationFailed("price_minor must be a non-negative integer (minor units).")


async def publish_version(settings: DatabaseSettings, code: str, **changes: Any) -> uuid.UUID:
    """Publish a new version of plan `code`: the newest version's terms with `changes`
    applied. Returns the new version's id."""
    _check(changes)
    engine = create_async_engine(sqlalchemy_url(settings.admin_url))
    try:
        async with engine.begin() as conn:
            await repository.set_owner_role(conn, settings.owner_role)
            latest = await repository.latest_version(conn, code)
            if latest is None:
                raise NotFound(f"No plan with code {code!r}.")
            values = {k: v for k, v in latest.items() if k not in ("id", "created_at")}
            values.update(changes)
            values.update(id=uuid7(), version=int(latest["version"]) + 1, available=True)
            await repository.insert_version(conn, values)
            return uuid.UUID(str(values["id"]))
    finally:
        await engine.dispose()
