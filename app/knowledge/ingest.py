"""The ingestion pipeline a worker runs for one document revision, and re-embedding.

Idempotent by construction: a revision's chunks are written in one transaction that first
deletes whatever chunks the document had, so a job that runs twice, or is killed and retried,
leaves exactly one set. The transaction also locks the workspace's knowledge base row, which
serialises it with a model switch and tells it which models need chunks right now.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from app.config import Settings
from app.db.ids import uuid7
from app.db.tenant import tenant_transaction
from app.knowledge import repository
from app.knowledge.chunking import ChunkDraft, chunk_blocks, count_tokens, embedding_text
from app.knowledge.embedding.catalogue import EmbeddingModel
from app.knowledge.embedding.providers import provider_for
from app.knowledge.extract import ExtractionFailed, extract, faq_blocks
from app.knowledge.repository import ChunkRow
from app.knowledge.service import knowledge_base_for, live_models
from app.openai_api import ProviderRateLimited
from app.state import AppState

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a job."""

    status: str  # ready, failed, skipped, superseded
    chunks: int = 0
    detail: str | None = None


# --- throttling ---------------------------------------------------------------------------


def _cooldown_key(settings: Settings, provider: str) -> str:
    return f"{settings.redis.key_prefix}throttle:embeddings:{provider}"


async def _wait_cooldown(redis: Redis, key: str) -> None:
    """Sleep while another job has told everyone to back off from the provider."""
    while True:
        remaining_ms = await redis.pttl(key)
        if remaining_ms is None or remaining_ms <= 0:
            return
        await asyncio.sleep(min(remaining_ms / 1000, 5.0))


async def embed_throttled(
    state: AppState, model: EmbeddingModel, texts: Sequence[str]
) -> list[list[float]]:
    """Embed for bulk work. A 429 makes every ingestion job of this process and the others
    back off together (a cooldown key in Redis, honouring Retry-After) and then carry on, for
    up to KNOWLEDGE_EMBED_RATE_LIMIT_WAIT_S; a bulk import slows down instead of failing.
    Other provider errors propagate: the job hands them to arq's retries."""
    settings = state.settings
    provider = provider_for(model, settings)
    key = _cooldown_key(settings, model.provider)
    deadline = time.monotonic() + settings.knowledge.embed_rate_limit_wait_s
    backoff = 1.0
    vectors: list[list[float]] = []
    size = max(1, settings.embedding.batch_size)
    start = 0
    while start < len(texts):
        await _wait_cooldown(state.redis, key)
        batch = texts[start : start + size]
        try:
            vectors.extend(await provider.embed(batch))
        except ProviderRateLimited as exc:
            wait = exc.retry_after if exc.retry_after is not None else backoff
            backoff = min(backoff * 2, 60.0)
            if time.monotonic() + wait > deadline:
                raise
            log.info("embedding provider rate limited; backing off %.1fs", wait)
            await state.redis.set(key, b"1", px=max(1, int(wait * 1000)))
            await asyncio.sleep(wait)
            continue
        start += len(batch)
        backoff = 1.0
    return vectors


# --- one document -------------------------------------------------------------------------


async def _fail(
    state: AppState, workspace_id: uuid.UUID, document_id: uuid.UUID, revision: int, reason: str
) -> Outcome:
    """Record a permanent failure; the document's chunks (an older revision's) go too."""
    async with tenant_transaction(state.sessions, workspace_id) as session:
        document = await repository.get_document(session, workspace_id, document_id, lock=True)
        if document is None or document.revision != revision:
            return Outcome("superseded")
        previous = document.chunk_count
        await repository.delete_chunks(session, workspace_id, document_id)
        await repository.finish_document(
            session, workspace_id, document_id, revision, status="failed", error=reason
        )
        if previous:
            await repository.bump_version(session, workspace_id, chunk_delta=-previous)
    log.info(
        "document failed",
        extra={"document_id": str(document_id), "revision": revision, "reason": reason},
    )
    return Outcome("failed", detail=reason)


async def fail_document(
    state: AppState, workspace_id: uuid.UUID, document_id: uuid.UUID, revision: int, reason: str
) -> Outcome:
    """Mark a revision failed (the job gave up on it)."""
    return await _fail(state, workspace_id, document_id, revision, reason)


async def ingest_document(
    state: AppState, workspace_id: uuid.UUID, document_id: uuid.UUID, revision: int
) -> Outcome:
    """Extract, chunk, embed and store one revision of a document."""
    settings = state.settings
    async with tenant_transaction(state.sessions, workspace_id) as session:
        document = await repository.start_processing(session, workspace_id, document_id, revision)
        if document is None:
            return Outcome("skipped")
        kind, title = document.kind, document.title
        source = (await repository.get_sources(session, workspace_id, [document_id])).get(
            document_id
        )
        kb = await knowledge_base_for(session, workspace_id, settings)
        models = live_models(kb, settings)
    if source is None:
        return await _fail(state, workspace_id, document_id, revision, "The source is missing.")

    is_faq = kind == "faq"
    try:
        if is_faq:
            blocks = faq_blocks(title, source.decode("utf-8"))
        else:
            blocks = await asyncio.to_thread(extract, kind, source)
    except (ExtractionFailed, UnicodeDecodeError) as exc:
        return await _fail(state, workspace_id, document_id, revision, str(exc))
    knobs = settings.knowledge
    drafts: list[ChunkDraft] = (
        [ChunkDraft(0, blocks[0].heading_path, blocks[0].text, count_tokens(blocks[0].text))]
        if is_faq
        else chunk_blocks(blocks, knobs.chunk_max_tokens, knobs.chunk_overlap_tokens)
    )
    texts = [embedding_text(d.heading_path, d.text, is_faq=is_faq) for d in drafts]

    vectors: dict[str, list[list[float]]] = {}
    for _ in range(5):  # the live models change only when someone switches models meanwhile
        for model in models:
            if model.name not in vectors:
                vectors[model.name] = await embed_throttled(state, model, texts)
        stored = await store_chunks(
            state, workspace_id, document_id, revision, drafts, vectors, is_faq=is_faq
        )
        if isinstance(stored, Outcome):
            return stored
        models = stored
    return Outcome("skipped", detail="the embedding model kept changing; retry")


async def store_chunks(
    state: AppState,
    workspace_id: uuid.UUID,
    document_id: uuid.UUID,
    revision: int,
    drafts: Sequence[ChunkDraft],
    vectors: dict[str, list[list[float]]],
    *,
    is_faq: bool = False,
) -> Outcome | list[EmbeddingModel]:
    """The chunk-writing transaction: replace the document's chunks with `drafts` for every
    live model, mark the revision ready and bump the knowledge version. Returns the live
    models instead when `vectors` lacks one of them (a model switch started meanwhile)."""
    settings = state.settings
    async with tenant_transaction(state.sessions, workspace_id) as session:
        kb = await repository.lock_knowledge_base(session, workspace_id)
        assert kb is not None
        models = live_models(kb, settings)
        if any(m.name not in vectors for m in models):
            return models
        document = await repository.get_document(session, workspace_id, document_id, lock=True)
        if document is None or document.revision != revision:
            return Outcome("superseded")
        previous = document.chunk_count
        await repository.delete_chunks(session, workspace_id, document_id)
        for model in models:
            rows = [
                ChunkRow(
                    id=uuid7(),
                    document_id=document_id,
                    revision=revision,
                    position=draft.position,
                    heading_path=draft.heading_path,
                    content=draft.text,
                    token_count=draft.token_count,
                    is_faq=is_faq,
                    embedding=vector,
                )
                for draft, vector in zip(drafts, vectors[model.name], strict=True)
            ]
            await repository.insert_chunks(session, workspace_id, model.name, model.dims, rows)
        await repository.finish_document(
            session, workspace_id, document_id, revision, status="ready", chunk_count=len(drafts)
        )
        await repository.bump_version(session, workspace_id, chunk_delta=len(drafts) - previous)
    log.info(
        "document ready",
        extra={"document_id": str(document_id), "revision": revision, "chunks": len(drafts)},
    )
    return Outcome("ready", chunks=len(drafts))


# --- re-embedding -------------------------------------------------------------------------


async def reembed_slice(
    state: AppState, workspace_id: uuid.UUID, target: str, *, deadline: float
) -> str:
    """Embed ready documents with the target model until done or `deadline`; switches the
    workspace over once no ready document lacks target chunks. Returns `switched`,
    `cancelled` (the target changed) or `continue` (time is up, more to do)."""
    settings = state.settings
    batch_documents = max(1, settings.knowledge.reembed_batch // 8)
    while True:
        async with tenant_transaction(state.sessions, workspace_id) as session:
            kb = await repository.get_knowledge_base(session, workspace_id)
            if kb is None or kb.target_model != target:
                return "cancelled"
            models = live_models(kb, settings)
            source_model, target_model = models[0], models[1]
            todo = await repository.ready_documents_missing_model(
                session, workspace_id, target, source_model.name, batch_documents
            )
            chunks = await repository.chunks_of_documents(
                session, workspace_id, source_model.name, [d.id for d in todo]
            )
        if not todo:
            async with tenant_transaction(state.sessions, workspace_id) as session:
                kb = await repository.lock_knowledge_base(session, workspace_id)
                if kb is None or kb.target_model != target:
                    return "cancelled"
                if await repository.ready_documents_missing_model(
                    session, workspace_id, target, kb.embedding_model, 1
                ):
                    continue
                old = kb.embedding_model
                await repository.switch_model(session, workspace_id)
                await repository.delete_model_chunks(session, workspace_id, old)
            log.info(
                "embedding model switched",
                extra={"workspace_id": str(workspace_id), "from": old, "to": target},
            )
            return "switched"
        texts = [embedding_text(tuple(c.heading_path), c.content, is_faq=c.is_faq) for c in chunks]
        vectors = await embed_throttled(state, target_model, texts)
        revisions = {d.id: d.revision for d in todo}
        async with tenant_transaction(state.sessions, workspace_id) as session:
            kb = await repository.lock_knowledge_base(session, workspace_id)
            if kb is None or kb.target_model != target:
                return "cancelled"
            current = {
                d.id: d
                for d in await repository.get_documents(session, workspace_id, list(revisions))
            }
            rows = [
                ChunkRow(
                    id=uuid7(),
                    document_id=c.document_id,
                    revision=c.revision,
                    position=c.position,
                    heading_path=tuple(c.heading_path),
                    content=c.content,
                    token_count=c.token_count,
                    is_faq=c.is_faq,
                    embedding=vector,
                )
                for c, vector in zip(chunks, vectors, strict=True)
                # A document re-ingested meanwhile got target chunks from its own job.
                if c.document_id in current
                and current[c.document_id].revision == c.revision
                and current[c.document_id].status == "ready"
            ]
            await repository.insert_chunks(
                session, workspace_id, target, target_model.dims, rows, skip_existing=True
            )
        if time.monotonic() >= deadline:
            return "continue"
