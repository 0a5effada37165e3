"""Enumerating workspaces for maintenance work (retention, exports) without bypassing RLS.

The application role sees only the current workspace's row. Work that visits every workspace
first needs their ids, so the role may `SET ROLE` to a NOLOGIN maintenance role (granted
`WITH INHERIT FALSE`, so it gains nothing until it asks) that can read exactly one column,
`workspaces.id`, of every row (and, for the job outbox's relay, which workspaces have jobs
waiting). Each workspace is then processed in its own transaction with its
tenant set, under the same policies as a request. No SECURITY DEFINER function, no BYPASSRLS.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unsafe SQL identifier: {name!r}")
    return f'"{name}"'


@asynccontextmanager
async def as_maintenance(session: AsyncSession, role: str) -> AsyncIterator[None]:
    """Run the block's statements as the maintenance role, inside the session's transaction.
    Only the columns granted to that role are readable (workspace ids, and the waiting jobs'
    workspaces and ages in the job outbox)."""
    await session.execute(text(f"SET LOCAL ROLE {_ident(role)}"))
    try:
        yield
    finally:
        await session.execute(text("RESET ROLE"))


async def workspace_ids_page(
    session: AsyncSession, role: str, after: uuid.UUID | None, limit: int
) -> list[uuid.UUID]:
    """Up to `limit` workspace ids greater than `after`, in id order."""
    async with as_maintenance(session, role):
        rows = await session.execute(
            text(
                "SELECT id FROM workspaces WHERE CAST(:after AS uuid) IS NULL "
                "OR id > CAST(:after AS uuid) ORDER BY id LIMIT :limit"
            ),
            {"after": str(after) if after else None, "limit": limit},
        )
        return [uuid.UUID(str(row[0])) for row in rows]


async def all_workspace_ids(
    sessions: async_sessionmaker[AsyncSession], role: str, batch: int = 500
) -> AsyncIterator[uuid.UUID]:
    """Every workspace id, read in short transactions of `batch` ids each."""
    after: uuid.UUID | None = None
    while True:
        async with sessions() as session, session.begin():
            page = await workspace_ids_page(session, role, after, batch)
        for workspace_id in page:
            yield workspace_id
        if len(page) < batch:
            return
        after = page[-1]
