"""Widget configuration through the two-level cache (app/cache): read when a visitor session
starts and when the widget asks for its configuration, changed only by admins."""

from __future__ import annotations

import dataclasses
import uuid

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from app.cache.commit import invalidate_after_commit, read_through
from app.cache.tiered import CacheSpec
from app.widget import repository
from app.widget.views import ConfigView

NAME = "widget"


def _encode(view: ConfigView) -> bytes:
    values = dataclasses.asdict(view)
    values["key_id"] = str(view.key_id)  # asyncpg's UUID type is not orjson's
    return orjson.dumps(values)


def _decode(raw: bytes) -> ConfigView:
    values = orjson.loads(raw)
    values["key_id"] = uuid.UUID(values["key_id"])
    values["suggested_questions"] = tuple(values["suggested_questions"])
    values["lead_fields"] = tuple(values["lead_fields"])
    return ConfigView(**values)


SPEC = CacheSpec(NAME, _encode, _decode)


def _entry(workspace_id: uuid.UUID, key_id: uuid.UUID) -> str:
    return f"{workspace_id}:{key_id}"


async def config(session: AsyncSession, workspace_id: uuid.UUID, key_id: uuid.UUID) -> ConfigView:
    """The key's configuration (defaults filled in); the transaction is scoped to the
    workspace."""

    async def load() -> ConfigView:
        return ConfigView.of(key_id, await repository.get(session, workspace_id, key_id))

    return await read_through(session, SPEC, _entry(workspace_id, key_id), load)


def forget(session: AsyncSession, workspace_id: uuid.UUID, key_id: uuid.UUID) -> None:
    """After this transaction commits, every process reads the key's configuration afresh."""
    invalidate_after_commit(session, NAME, _entry(workspace_id, key_id))
