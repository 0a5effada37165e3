"""The one choke point that scopes a database transaction to a workspace.

Settings are transaction-local (`set_config(..., true)`): they vanish at commit or rollback, so
a pooled connection never carries one request's tenant into the next.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import raw

_SET_TENANT = raw.driver_statement(
    text(
        "SELECT set_config('app.workspace_id', :workspace_id, true), "
        "set_config('app.user_id', :user_id, true)"
    )
)


async def set_tenant(
    session: AsyncSession, workspace_id: uuid.UUID | None, user_id: uuid.UUID | None = None
) -> None:
    """Make `workspace_id` (and `user_id`) current for the rest of this transaction."""
    params = {
        "workspace_id": str(workspace_id) if workspace_id else "",
        "user_id": str(user_id) if user_id else "",
    }
    await raw.fetch_opening(session, _SET_TENANT, params)


@asynccontextmanager
async def tenant_transaction(
    sessions: async_sessionmaker[AsyncSession],
    workspace_id: uuid.UUID | None,
    user_id: uuid.UUID | None = None,
) -> AsyncIterator[AsyncSession]:
    """A session in one transaction scoped to the workspace; commits when the block ends
    normally, rolls back when it raises. Jobs and scripts use this; GraphQL requests decide
    commit or rollback from the result instead (see app/graphql/http.py)."""
    async with sessions() as session, session.begin():
        await set_tenant(session, workspace_id, user_id)
        yield session
