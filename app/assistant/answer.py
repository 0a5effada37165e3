"""Producing one answer (run by the `answer_question` job on the interactive queue).

The steps: load the question and recent history; embed the question with the workspace's
active model; an FAQ entry close enough answers directly; otherwise retrieve passages
(hybrid search) and keep the relevant ones; with none, say so; with some, generate the answer
through the chat model (streamed) when one is configured, or compose an extractive one. The
text streams to subscribers through Redis as it is produced; the final message, its
citations and token usage are stored in one transaction; the cache learns first answers.

An answer that needs no model call (FAQ, extractive, "don't know") is stored in the
transaction of the retrieval that found it, and its text reaches subscribers as one delta
together with the end of the stream: load, embed, retrieve-and-store, one Redis round trip.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.assistant import cache, extractive, llm, repository
from app.assistant.breaker import Breaker
from app.assistant.service import answer_flavour, generates
from app.assistant.stream import Publisher, final_fields
from app.config import Settings
from app.db.tenant import tenant_transaction
from app.knowledge import repository as knowledge_repo
from app.knowledge.chunking import count_tokens
from app.knowledge.embedding.catalogue import EmbeddingModel
from app.knowledge.embedding.providers import provider_for
from app.knowledge.search import Passage, best_faq, hybrid_search
from app.knowledge.service import active_model, knowledge_base_for
from app.openai_api import ProviderError
from app.state import AppState
from billing.entitlements import service as entitlements
from tenancy.ratelimit.limits import workspace_limits

# System prompt, fences and per-message framing, on top of the texts counted one by one.
PROMPT_OVERHEAD_TOKENS = 400

log = logging.getLogger(__name__)

DONT_KNOW = (
    "I don't know: the knowledge base has nothing about that. Try asking in other words, "
    "or ask to talk to a person."
)
FAILED = "Sorry, I could not answer just now. Please try again in a moment."
SNIPPET_CHARS = 300


@dataclass
class Draft:
    """An answer before it is stored."""

    content: str
    mode: str
    citations: list[dict[str, Any]] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    reservation_id: uuid.UUID | None = None


def citation(number: int, passage: Passage) -> dict[str, Any]:
    """The stored snapshot of a cited passage."""
    chunk = passage.chunk
    snippet = " ".join(chunk.content.split())
    if len(snippet) > SNIPPET_CHARS:
        snippet = snippet[: SNIPPET_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return {
        "index": number,
        "chunkId": str(chunk.id),
        "documentId": str(chunk.document_id),
        "isFaq": chunk.is_faq,
        "title": chunk.document_title,
        "url": chunk.document_url,
        "headingPath": list(chunk.heading_path),
        "snippet": snippet,
        "similarity": round(chunk.similarity, 4),
    }


@dataclass(frozen=True, slots=True)
class Question:
    """What the job needs to know about the question."""

    workspace_id: uuid.UUID
    message_id: uuid.UUID
    text: str
    history: list[tuple[str, str]]
    first_turn: bool
    model: EmbeddingModel
    version: int
    chunk_count: int


async def load(state: AppState, workspace_id: uuid.UUID, message_id: uuid.UUID) -> Question | None:
    """Mark the answer as streaming and gather what answering needs; None when there is
    nothing to do (the answer is gone or already finished)."""
    settings = state.settings
    async with tenant_transaction(state.sessions, workspace_id) as session:
        answer = await repository.get_message(session, workspace_id, message_id, lock=True)
        if answer is None or answer.status in ("complete", "failed") or answer.reply_to is None:
            return None
        asked = await repository.get_message(session, workspace_id, answer.reply_to)
        if asked is None:
            return None
        earlier = await repository.history(
            session,
            workspace_id,
            answer.conversation_id,
            asked.id,
            settings.assistant.history_messages,
        )
        first_turn = (
            await repository.count_earlier(session, workspace_id, answer.conversation_id, asked.id)
            == 0
        )
        kb = await knowledge_base_for(session, workspace_id, settings)
        await repository.update_message(session, workspace_id, message_id, status="streaming")
        return Question(
            workspace_id=workspace_id,
            message_id=message_id,
            text=asked.content,
            history=[(m.role, m.content) for m in earlier],
            first_turn=first_turn,
            model=active_model(kb, settings),
            version=kb.version,
            chunk_count=kb.chunk_count,
        )


async def _retrieve(
    session: AsyncSession, settings: Settings, question: Question, vector: list[float] | None
) -> tuple[Draft | None, list[Passage]]:
    """An FAQ answer if one matches; otherwise the relevant passages (found by keywords
    alone when there is no vector). Runs in the caller's transaction."""
    model = question.model
    ws = question.workspace_id
    faq = vector is not None and await best_faq(
        session,
        ws,
        model,
        vector,
        settings.assistant.faq_similarity or model.faq_similarity,
    )
    if faq:
        details = await knowledge_repo.chunk_details(session, ws, model.dims, [faq[0]], vector)
        detail = details.get(faq[0])
        if detail is not None:
            entries = await knowledge_repo.faq_answers(session, ws, [detail.document_id])
            if detail.document_id in entries:
                passage = Passage(detail, 1.0, 1, None, False, True)
                return Draft(entries[detail.document_id][1], "faq", [citation(1, passage)]), []
    passages = await hybrid_search(
        session,
        ws,
        model,
        vector,
        question.text,
        settings.assistant.passages,
        settings.knowledge,
        min_similarity=settings.assistant.min_similarity or model.min_similarity,
        size_hint=question.chunk_count,
    )
    return None, [p for p in passages if p.relevant]


async def _generate(
    state: AppState, question: Question, passages: list[Passage], publisher: Publisher
) -> Draft:
    """A generated answer, its AI tokens reserved against the plan before the model is called
    (so parallel answers cannot overshoot the quota) and settled by `store` afterwards; the
    call also holds one of the workspace's concurrent model-call slots."""
    settings = state.settings
    ws = question.workspace_id
    prompt = "\n".join(
        [
            question.text,
            *(p.chunk.content for p in passages),
            *(text for _, text in question.history),
        ]
    )
    estimate = count_tokens(prompt) + PROMPT_OVERHEAD_TOKENS + settings.assistant.max_output_tokens
    async with tenant_transaction(state.sessions, ws) as session:
        held = await entitlements.reserve(session, ws, estimate)
        limits = await workspace_limits(session, ws, settings.ratelimit)
    try:
        # No database connection is held while the model writes.
        async with state.limiter.model_call(ws, limits.concurrent_model_calls):
            generated = await llm.generate(
                settings, question.text, question.history, passages, publisher
            )
    except BaseException:
        async with tenant_transaction(state.sessions, ws) as session:
            await entitlements.release(session, ws, held.id)
        raise
    cited = generated.cited or list(range(1, len(passages) + 1))
    return Draft(
        generated.content,
        "generated",
        [citation(n, passages[n - 1]) for n in cited],
        generated.input_tokens,
        generated.output_tokens,
        reservation_id=held.id,
    )


def breaker(state: AppState, name: str) -> Breaker:
    """The circuit breaker of one model endpoint ("chat" or "embed")."""
    settings = state.settings
    return Breaker(state.redis, settings.redis.key_prefix, name, settings.assistant)


async def _embed_question(state: AppState, question: Question) -> list[float] | None:
    """The question's vector, or None when the embedding endpoint is failing (its breaker is
    open, or this call failed transiently): retrieval then runs on keywords alone rather than
    keeping a visitor waiting."""
    provider = provider_for(question.model, state.settings)
    if question.model.provider == "local":
        # The model runs in this process: there is no endpoint to fail, so the breaker (two
        # Redis round trips per answer) does not apply, and a remote endpoint's open breaker
        # must not send a local workspace to keyword-only search.
        return (await provider.embed([question.text], interactive=True))[0]
    embed_breaker = breaker(state, "embed")
    if await embed_breaker.is_open():
        return None
    try:
        vector = (await provider.embed([question.text], interactive=True))[0]
    except ProviderError as exc:
        if not exc.retryable:
            raise
        await embed_breaker.failed()
        log.warning("question embedding failed, searching by keywords: %s", exc)
        return None
    await embed_breaker.succeeded()
    return vector


def _extract(question: Question, passages: list[Passage]) -> Draft:
    """An answer quoted from the passages (or "don't know" without any)."""
    if not passages:
        return Draft(DONT_KNOW, "no_answer")
    content, used = extractive.compose(question.text, [p.chunk.content for p in passages])
    if not content:
        return Draft(DONT_KNOW, "no_answer")
    return Draft(content, "extractive", [citation(n, passages[n - 1]) for n in used])


async def _compose(
    state: AppState, question: Question, passages: list[Passage], publisher: Publisher
) -> Draft:
    if passages and generates(state.settings):
        chat_breaker = breaker(state, "chat")
        if not await chat_breaker.is_open():
            try:
                draft = await _generate(state, question, passages, publisher)
            except ProviderError as exc:
                if exc.retryable:
                    await chat_breaker.failed()
                raise
            await chat_breaker.succeeded()
            return draft
        # The model endpoint is failing: answer from the passages, labelled as extractive.
        log.warning("chat breaker open: composing an extractive answer")
    return _extract(question, passages)


async def answer(
    state: AppState, workspace_id: uuid.UUID, message_id: uuid.UUID, *, retried: bool = False
) -> str:
    """Produce and store one answer; returns its mode (or why nothing was done). `retried`:
    an earlier try of this job may have streamed part of the text."""
    settings = state.settings
    prefix = settings.redis.key_prefix
    publisher = Publisher.for_answer(state.redis, settings, message_id)
    question = await load(state, workspace_id, message_id)
    if question is None:
        await publisher.done()
        return "nothing-to-do"
    if retried:
        await publisher.reset()  # a retried job starts the text over
    vector = await _embed_question(state, question)
    async with tenant_transaction(state.sessions, workspace_id) as session:
        draft, passages = await _retrieve(session, settings, question, vector)
        if draft is None and (not passages or not generates(settings)):
            # Nothing for a model to do (no model, or nothing relevant: "don't know").
            draft = _extract(question, passages)
        if draft is not None:
            # No model to wait for: the answer is stored with the reads that found it, one
            # transaction instead of two.
            completed_at = await _save(session, question, draft)
    if draft is None:
        draft = await _compose(state, question, passages, publisher)
        completed_at = await store(state, question, draft)
    # A degraded answer (keyword-only, or extractive while the model is down) is not cached,
    # so the next visitor gets the real one once the endpoint is back.
    degraded = vector is None or (draft.mode == "extractive" and generates(settings))
    if question.first_turn and not degraded:
        key = cache.cache_key(
            prefix, workspace_id, question.version, answer_flavour(settings), question.text
        )
        await cache.put(
            state.redis,
            key,
            cache.CachedAnswer(draft.content, draft.mode, draft.citations),
            settings.assistant.cache_ttl_s,
        )
    # Generated text was streamed as it came; any other answer exists whole at once and goes
    # out with the end of the stream, in one round trip.
    final = final_fields(
        draft.content, "complete", completed_at, mode=draft.mode, citations=draft.citations
    )
    await publisher.done("" if draft.mode == "generated" else draft.content, final)
    return draft.mode


async def store(state: AppState, question: Question, draft: Draft) -> dt.datetime:
    """Save the finished answer and meter its tokens, in one transaction; returns when it
    was completed."""
    async with tenant_transaction(state.sessions, question.workspace_id) as session:
        return await _save(session, question, draft)


async def _save(session: AsyncSession, question: Question, draft: Draft) -> dt.datetime:
    """Save the finished answer and meter its tokens, in the caller's transaction; returns
    when it was completed."""
    ws = question.workspace_id
    completed_at = dt.datetime.now(dt.UTC)
    await repository.update_message(
        session,
        ws,
        question.message_id,
        content=draft.content,
        mode=draft.mode,
        citations=draft.citations,
        status="complete",
        input_tokens=draft.input_tokens,
        output_tokens=draft.output_tokens,
        completed_at=completed_at,
        error=None,
    )
    if draft.reservation_id is not None:
        # Settles the reservation with the real counts and meters input, output and
        # total AI tokens (idempotent, so a retried job counts once).
        await entitlements.commit(
            session,
            ws,
            draft.reservation_id,
            input_tokens=draft.input_tokens,
            output_tokens=draft.output_tokens,
        )
    return completed_at


async def fail(
    state: AppState, workspace_id: uuid.UUID, message_id: uuid.UUID, reason: str
) -> None:
    """Give up on an answer: the visitor sees an apology, the team sees the reason."""
    completed_at = dt.datetime.now(dt.UTC)
    async with tenant_transaction(state.sessions, workspace_id) as session:
        await repository.update_message(
            session,
            workspace_id,
            message_id,
            content=FAILED,
            status="failed",
            error=reason,
            completed_at=completed_at,
        )
    # The fields that changed travel with the end, so subscribers need not read them back.
    publisher = Publisher.for_answer(state.redis, state.settings, message_id)
    await publisher.done("", final_fields(FAILED, "failed", completed_at))
