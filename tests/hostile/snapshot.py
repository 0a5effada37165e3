"""A superuser's copy of every row a workspace owns, to prove a probe changed nothing."""

from __future__ import annotations

import uuid

import asyncpg


async def tenant_tables(db: asyncpg.Connection) -> list[str]:
    """Every table in the public schema with a workspace_id column."""
    rows = await db.fetch(
        "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
        "AND column_name = 'workspace_id' ORDER BY table_name"
    )
    return [r["table_name"] for r in rows]


async def snapshot(
    db: asyncpg.Connection, workspace_id: uuid.UUID, user_ids: list[uuid.UUID]
) -> dict[str, list[str]]:
    """The workspace's row, its users' rows and all its rows in tenant tables, as text."""
    copy: dict[str, list[str]] = {}
    for table in await tenant_tables(db):
        rows = await db.fetch(
            f'SELECT t::text AS row FROM "{table}" t WHERE workspace_id = $1', workspace_id
        )
        copy[table] = sorted(r["row"] for r in rows)
    rows = await db.fetch("SELECT t::text AS row FROM workspaces t WHERE id = $1", workspace_id)
    copy["workspaces"] = [r["row"] for r in rows]
    rows = await db.fetch("SELECT t::text AS row FROM users t WHERE id = ANY($1)", user_ids)
    copy["users"] = sorted(r["row"] for r in rows)
    return copy
