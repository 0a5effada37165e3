"""The floor: the benchmark's three operations as hand-written Litestar + asyncpg endpoints.

No GraphQL, no ORM: check the access token, open a transaction as the application role, set
the tenant the way `app/db/tenant.py` does, run the operation's SQL, return JSON. Whatever
Parley or PostGraphile spend above this is the cost of their machinery.

    DATABASE_URL=postgresql://parley_app@/db?host=/socket JWT_SECRET=... \\
        python -m uvicorn --factory ops.bench.graphql.floor:create_app --port 5679
(run from the repository root; `run.py` starts it like this).
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import asyncpg
import jwt
from litestar import Litestar, Request, get, patch
from litestar.exceptions import NotAuthorizedException, NotFoundException

SET_TENANT = "SELECT set_config('app.workspace_id', $1, true), set_config('app.user_id', $2, true)"

LIST = """
SELECT d.id, d.title, d.status, d.created_at, d.updated_at, u.display_name AS author
FROM documents AS d LEFT JOIN users AS u ON u.id = d.created_by
WHERE d.workspace_id = $1 AND ($2::uuid IS NULL OR d.id < $2)
ORDER BY d.id DESC LIMIT $3
"""

ONE = """
SELECT id, title, kind, status, size_bytes, chunk_count, created_at, updated_at
FROM documents WHERE workspace_id = $1 AND id = $2
"""

CHUNKS = """
SELECT id, position, content FROM chunks
WHERE workspace_id = $1 AND document_id = $2
ORDER BY position LIMIT 10
"""

RENAME = """
UPDATE documents SET title = $3, updated_at = now() WHERE workspace_id = $1 AND id = $2
RETURNING id, title, updated_at
"""

# The process's pool, opened at startup (a module-level holder keeps the handlers plain).
_state: dict[str, asyncpg.Pool] = {}


def _caller(request: Request[Any, Any, Any]) -> tuple[uuid.UUID, str]:
    """The workspace and user of a valid access token, or 401."""
    header = request.headers.get("authorization", "")
    try:
        claims = jwt.decode(
            header.removeprefix("Bearer "),
            os.environ["JWT_SECRET"],
            algorithms=["HS256"],
            issuer=os.environ.get("JWT_ISSUER", "parley"),
        )
        return uuid.UUID(request.headers["x-workspace-id"]), str(claims["sub"])
    except (jwt.PyJWTError, KeyError, ValueError) as exc:
        raise NotAuthorizedException() from exc


def _pool_or_fail() -> asyncpg.Pool:
    return _state["pool"]


@get("/documents")
async def list_documents(request: Request[Any, Any, Any], after: str | None = None) -> Any:
    """op1: 20 documents, newest first, after a cursor (the id of the last one seen)."""
    workspace, user = _caller(request)
    async with _pool_or_fail().acquire() as conn, conn.transaction(readonly=True):
        await conn.execute(SET_TENANT, str(workspace), user)
        rows = await conn.fetch(LIST, workspace, uuid.UUID(after) if after else None, 21)
    items = [
        {
            "id": str(r["id"]),
            "title": r["title"],
            "status": r["status"],
            "createdAt": r["created_at"].isoformat(),
            "updatedAt": r["updated_at"].isoformat(),
            "author": r["author"],
        }
        for r in rows[:20]
    ]
    return {
        "items": items,
        "hasNextPage": len(rows) > 20,
        "endCursor": items[-1]["id"] if items else None,
    }


@get("/documents/{document_id:uuid}")
async def one_document(request: Request[Any, Any, Any], document_id: uuid.UUID) -> Any:
    """op2: one document and its first 10 chunks."""
    workspace, user = _caller(request)
    async with _pool_or_fail().acquire() as conn, conn.transaction(readonly=True):
        await conn.execute(SET_TENANT, str(workspace), user)
        row = await conn.fetchrow(ONE, workspace, document_id)
        if row is None:
            raise NotFoundException()
        chunks = await conn.fetch(CHUNKS, workspace, document_id)
    return {
        "id": str(row["id"]),
        "title": row["title"],
        "kind": row["kind"],
        "status": row["status"],
        "sizeBytes": row["size_bytes"],
        "chunkCount": row["chunk_count"],
        "createdAt": row["created_at"].isoformat(),
        "updatedAt": row["updated_at"].isoformat(),
        "chunks": [
            {"id": str(c["id"]), "position": c["position"], "text": c["content"]} for c in chunks
        ],
    }


@patch("/documents/{document_id:uuid}")
async def rename_document(
    request: Request[Any, Any, Any], document_id: uuid.UUID, data: dict[str, str]
) -> Any:
    """op3: a new title."""
    workspace, user = _caller(request)
    async with _pool_or_fail().acquire() as conn, conn.transaction():
        await conn.execute(SET_TENANT, str(workspace), user)
        row = await conn.fetchrow(RENAME, workspace, document_id, data["title"])
    if row is None:
        raise NotFoundException()
    return {"id": str(row["id"]), "title": row["title"], "updatedAt": row["updated_at"].isoformat()}


async def _open() -> None:
    _state["pool"] = await asyncpg.create_pool(
        os.environ["DATABASE_URL"], min_size=5, max_size=int(os.environ.get("POOL_SIZE", "20"))
    )


async def _close() -> None:
    if "pool" in _state:
        await _state.pop("pool").close()


def create_app() -> Litestar:
    """The floor's ASGI app."""
    return Litestar(
        [list_documents, one_document, rename_document],
        on_startup=[_open],
        on_shutdown=[_close],
        debug=False,
    )
