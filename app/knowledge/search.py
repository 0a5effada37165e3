"""Hybrid retrieval: pgvector similarity and PostgreSQL full-text search, fused by reciprocal
rank, always inside the current workspace (row-level security applies to every statement).

The vector side never returns fewer rows than the workspace has (up to the number asked):
small workspaces are searched exactly, which costs less than the index would at their size;
large ones go through HNSW with pgvector's iterative scan, and should that scan still come
back short (its `max_scan_tuples` budget ran out) the search repeats exactly.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import KnowledgeSettings
from app.knowledge import repository
from app.knowledge.embedding.catalogue import EmbeddingModel
from app.knowledge.repository import ChunkDetail

log = logging.getLogger(__name__)

RRF_K = 60  # the usual reciprocal-rank-fusion constant: damps the head of each list

Strategy = Literal["exact", "hnsw", "hnsw+exact"]


async def nearest(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    model: EmbeddingModel,
    query: Sequence[float],
    limit: int,
    settings: KnowledgeSettings,
    *,
    size_hint: int,
) -> tuple[list[tuple[uuid.UUID, float]], Strategy]:
    """The `limit` chunks most similar to `query`, and how they were found. `size_hint` is
    the workspace's chunk count as its knowledge base row records it."""
    if size_hint < max(settings.exact_search_below, limit):
        rows = await repository.vector_exact(
            session, workspace_id, model.name, model.dims, query, limit
        )
        return rows, "exact"
    rows = await repository.vector_approximate(
        session,
        workspace_id,
        model.name,
        model.dims,
        query,
        limit,
        ef_search=settings.hnsw_ef_search,
        max_scan_tuples=settings.hnsw_max_scan_tuples,
    )
    if len(rows) >= limit:
        return rows, "hnsw"
    log.warning(
        "HNSW scan came back short; searching exactly",
        extra={"workspace_id": str(workspace_id), "found": len(rows), "wanted": limit},
    )
    exact = await repository.vector_exact(
        session, workspace_id, model.name, model.dims, query, limit
    )
    return exact, "hnsw+exact"


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrieved chunk with its scores."""

    chunk: ChunkDetail
    score: float  # fused reciprocal-rank score
    vector_rank: int | None
    keyword_rank: int | None
    all_terms: bool  # the chunk contains every word of the query
    relevant: bool

    @property
    def similarity(self) -> float:
        """Cosine similarity of the chunk to the question."""
        return self.chunk.similarity


async def hybrid_search(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    model: EmbeddingModel,
    query_vector: Sequence[float] | None,
    query_text: str,
    k: int,
    settings: KnowledgeSettings,
    *,
    min_similarity: float,
    size_hint: int,
) -> list[Passage]:
    """The `k` best chunks by fused rank. A passage is `relevant` when it is semantically
    close (similarity at least `min_similarity`) or contains every word of the question.
    Without a query vector (the embedding endpoint failed) the search is keyword-only."""
    pool = max(4 * k, 20)
    by_vector: Sequence[tuple[uuid.UUID, float]] = []
    if query_vector is not None:
        by_vector, _ = await nearest(
            session, workspace_id, model, query_vector, pool, settings, size_hint=size_hint
        )
    by_keyword = await repository.keyword_search(
        session, workspace_id, model.name, query_text, pool, settings.keyword_candidates
    )
    scores: dict[uuid.UUID, float] = {}
    vector_rank: dict[uuid.UUID, int] = {}
    keyword_rank: dict[uuid.UUID, int] = {}
    all_terms: dict[uuid.UUID, bool] = {}
    for rank, (chunk_id, _) in enumerate(by_vector, start=1):
        vector_rank[chunk_id] = rank
        scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank)
    for rank, (chunk_id, _, every) in enumerate(by_keyword, start=1):
        keyword_rank[chunk_id] = rank
        all_terms[chunk_id] = every
        scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank)
    best = sorted(scores, key=lambda cid: (-scores[cid], str(cid)))[:k]
    details = await repository.chunk_details(session, workspace_id, model.dims, best, query_vector)
    passages = []
    for chunk_id in best:
        detail = details.get(chunk_id)
        if detail is None:
            continue
        every = all_terms.get(chunk_id, False)
        passages.append(
            Passage(
                chunk=detail,
                score=scores[chunk_id],
                vector_rank=vector_rank.get(chunk_id),
                keyword_rank=keyword_rank.get(chunk_id),
                all_terms=every,
                relevant=detail.similarity >= min_similarity or every,
            )
        )
    return passages


async def best_faq(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    model: EmbeddingModel,
    query_vector: Sequence[float],
    threshold: float,
) -> tuple[uuid.UUID, float] | None:
    """The FAQ chunk whose question is closest to the question asked, if it is close enough
    (FAQ entries are few, so they are compared exactly)."""
    rows = await repository.vector_exact(
        session, workspace_id, model.name, model.dims, query_vector, 1, faq_only=True
    )
    if rows and rows[0][1] >= threshold:
        return rows[0]
    return None
