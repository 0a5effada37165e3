"""DataLoaders of the knowledge base."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from app.graphql.context import Context
from app.knowledge import service as knowledge
from app.knowledge.repository import ChunkView

# (document id, cursor chunk id or None, how many): pages of one size share a query.
ChunkKey = tuple[uuid.UUID, uuid.UUID | None, int]


def chunks_by_document(
    ctx: Context,
) -> Callable[[Sequence[ChunkKey]], Coroutine[Any, Any, list[list[ChunkView]]]]:
    """Batch the chunk pages of a list of documents into one query per page shape."""

    async def load(keys: Sequence[ChunkKey]) -> list[list[ChunkView]]:
        groups: dict[tuple[uuid.UUID | None, int], list[uuid.UUID]] = {}
        for document_id, after, limit in keys:
            groups.setdefault((after, limit), []).append(document_id)
        found: dict[ChunkKey, list[ChunkView]] = {}
        async with ctx.db() as session:
            for (after, limit), ids in groups.items():
                pages = await knowledge.document_chunks(
                    session, ctx.principal, ids, limit=limit, after=after
                )
                for document_id in ids:
                    found[(document_id, after, limit)] = pages.get(document_id, [])
        return [found[key] for key in keys]

    return load
