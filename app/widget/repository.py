"""SQL for widget configuration."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.widget.models import WidgetConfig


async def get(
    session: AsyncSession, workspace_id: uuid.UUID, key_id: uuid.UUID
) -> WidgetConfig | None:
    """A key's stored configuration."""
    return await session.scalar(
        select(WidgetConfig).where(
            WidgetConfig.workspace_id == workspace_id, WidgetConfig.key_id == key_id
        )
    )


async def upsert(session: AsyncSession, values: dict[str, Any]) -> WidgetConfig:
    """Store a key's configuration."""
    changes = {k: v for k, v in values.items() if k not in ("workspace_id", "key_id")}
    statement = (
        insert(WidgetConfig)
        .values(**values)
        .on_conflict_do_update(
            index_elements=[WidgetConfig.workspace_id, WidgetConfig.key_id],
            set_={**changes, "updated_at": func.now()},
        )
        .returning(WidgetConfig)
    )
    row: WidgetConfig = (await session.execute(statement)).scalar_one()
    return row


async def bump_identity_version(
    session: AsyncSession, workspace_id: uuid.UUID, key_id: uuid.UUID
) -> None:
    """Invalidate the key's identity secret by moving to the next version."""
    await session.execute(
        update(WidgetConfig)
        .where(WidgetConfig.workspace_id == workspace_id, WidgetConfig.key_id == key_id)
        .values(identity_secret_version=WidgetConfig.identity_secret_version + 1)
    )
