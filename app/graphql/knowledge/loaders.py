"""DataLoaders of the knowledge base."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from app.graphql.context import Context
from app.knowledge import service as knowledge
from app.knowledge.repository import ChunkView
from app.pagination import PageRequest

# (document id, the page asked for): documents asked for the same page share a query.
ChunkKey = tuple[uuid.UUID, PageRequest]


def chunks_by_document(
    ctx: Context,
) -> Callable[[Sequence[ChunkKey]], Coroutine[Any, Any, list[list[ChunkView]]]]:
    """Batch the chunk pages of a list of documents into one query per page shape."""

    async def load(keys: Sequence[ChunkKey]) -> list[list[ChunkView]]:
        groups: dict[PageRequest, list[uuid.UUID]] = {}
        for document_id, page in keys:
            groups.setdefault(page, []).append(document_id)
        found: dict[ChunkKey, list[ChunkView]] = {}
        async with ctx.db() as session:
            for page, ids in groups.items():
                pages = await knowledge.document_chunks(session, ctx.principal, ids, page)
                for document_id in ids:
                    found[(document_id, page)] = pages.get(document_id, [])
        return [found[key] for key in keys]

    return load
