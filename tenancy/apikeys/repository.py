"""SQL for API keys."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import limits
from app.pagination import PageRequest
from tenancy.apikeys.models import ApiKey


async def insert_key(session: AsyncSession, key: ApiKey) -> None:
    """Add a key."""
    session.add(key)
    await session.flush()


async def get_key(
    session: AsyncSession, workspace_id: uuid.UUID, key_id: uuid.UUID
) -> ApiKey | None:
    """A key by id."""
    return await session.scalar(
        select(ApiKey).where(ApiKey.workspace_id == workspace_id, ApiKey.id == key_id)
    )


async def find_active_key(
    session: AsyncSession, workspace_id: uuid.UUID, secret_hash: bytes
) -> ApiKey | None:
    """An unrevoked key by the hash of its full text."""
    return await session.scalar(
        select(ApiKey).where(
            ApiKey.workspace_id == workspace_id,
            ApiKey.secret_hash == secret_hash,
            ApiKey.revoked_at.is_(None),
        )
    )


async def touch_key(session: AsyncSession, workspace_id: uuid.UUID, key_id: uuid.UUID) -> None:
    """Record use, at most once a minute per key so busy keys do not write on every request.

    Never waits: when a concurrent request already holds the row (it is recording the same
    use), this one skips it. Waiting would queue every request of a busy key behind the
    previous one's whole transaction, and hold a pooled connection meanwhile.
    """
    due = (
        select(ApiKey.id)
        .where(
            ApiKey.workspace_id == workspace_id,
            ApiKey.id == key_id,
            (ApiKey.last_used_at.is_(None))
            | (ApiKey.last_used_at < func.now() - text("interval '1 minute'")),
        )
        .with_for_update(skip_locked=True)
    )
    await session.execute(
        update(ApiKey)
        .where(ApiKey.workspace_id == workspace_id, ApiKey.id.in_(due))
        .values(last_used_at=func.now())
    )


async def fingerprints(
    session: AsyncSession, workspace_id: uuid.UUID
) -> list[tuple[uuid.UUID, bytes]]:
    """Id and secret hash of every key of the workspace (to forget them in caches)."""
    rows = await session.execute(
        select(ApiKey.id, ApiKey.secret_hash).where(ApiKey.workspace_id == workspace_id)
    )
    return [(row[0], row[1]) for row in rows]


async def revoke_key(session: AsyncSession, workspace_id: uuid.UUID, key_id: uuid.UUID) -> bool:
    """Revoke a key; False when it does not exist or was already revoked."""
    result = await session.execute(
        update(ApiKey)
        .where(
            ApiKey.workspace_id == workspace_id, ApiKey.id == key_id, ApiKey.revoked_at.is_(None)
        )
        .values(revoked_at=func.now())
        .returning(ApiKey.id)
    )
    return result.first() is not None


async def set_origins(
    session: AsyncSession, workspace_id: uuid.UUID, key_id: uuid.UUID, origins: list[str]
) -> None:
    """Replace a publishable key's allowed origins."""
    await session.execute(
        update(ApiKey)
        .where(ApiKey.workspace_id == workspace_id, ApiKey.id == key_id)
        .values(allowed_origins=origins)
    )


async def list_keys(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    page: PageRequest,
    *,
    kind: str | None = None,
    include_revoked: bool = False,
) -> list[ApiKey]:
    """Keys of the workspace, oldest first, one page (+1)."""
    query = (
        select(ApiKey)
        .where(ApiKey.workspace_id == workspace_id)
        .order_by(ApiKey.id)
        .limit(limits.page_rows(page))
    )
    if kind is not None:
        query = query.where(ApiKey.kind == kind)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    if page.after is not None:
        query = query.where(ApiKey.id > page.after)
    return list(await session.scalars(query))


async def count_active_keys(session: AsyncSession, workspace_id: uuid.UUID, kind: str) -> int:
    """How many unrevoked keys of a kind the workspace has."""
    return int(
        await session.scalar(
            select(func.count())
            .select_from(ApiKey)
            .where(
                ApiKey.workspace_id == workspace_id,
                ApiKey.kind == kind,
                ApiKey.revoked_at.is_(None),
            )
        )
        or 0
    )
