"""Knowledge rules: adding, replacing and deleting documents and FAQ entries, the workspace's
embedding model, and search.

Every change that creates work adds an ingestion job to the caller's JobBuffer, which is
enqueued only after the transaction commits. Members manage knowledge; the embedding model is
a workspace setting and needs an admin.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.ids import uuid7
from app.errors import Conflict, NotFound, Unavailable, ValidationFailed
from app.jobs import QUEUE_BULK, JobBuffer
from app.knowledge import repository
from app.knowledge.embedding import catalogue
from app.knowledge.embedding.catalogue import EmbeddingModel
from app.knowledge.embedding.providers import provider_for
from app.knowledge.extract import decode_text, inspect_upload
from app.knowledge.models import Document, KnowledgeBase
from app.knowledge.search import Passage, hybrid_search
from app.pagination import Page, PageRequest, make_page
from billing.entitlements import service as entitlements
from billing.entitlements.limits import Limit
from billing.usage import service as usage
from billing.usage.metrics import Metric
from tenancy.accounts.repository import UserCard
from tenancy.principal import Principal, Role

log = logging.getLogger(__name__)

TEXT_FORMATS = ("text", "markdown", "html")
DOCUMENT_KINDS = ("text", "markdown", "html", "pdf")
TITLE_MAX = 300
FAQ_QUESTION_MAX = 300
FAQ_ANSWER_MAX = 4_000
SEARCH_K_MAX = 50
SEARCH_QUERY_MAX = 2_000


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A file received in a request."""

    filename: str | None
    content_type: str | None
    data: bytes


# --- quota check point --------------------------------------------------------------------


async def ensure_document_quota(
    session: AsyncSession, workspace_id: uuid.UUID, *, add_documents: int, add_bytes: int
) -> None:
    """Quota check point for knowledge: called before a document or FAQ entry is created or
    grows, with what it adds; raises QUOTA_EXCEEDED when the plan does not allow it. Usage is
    recorded by the callers in the same transaction."""
    wanted = {Limit.DOCUMENTS: add_documents, Limit.STORED_BYTES: add_bytes}
    amounts = {limit: amount for limit, amount in wanted.items() if amount > 0}
    if amounts:
        await entitlements.require_all(session, workspace_id, amounts)


def clean_source_url(value: str | None) -> str | None:
    """An http(s) URL a citation may link to (no credentials, at most 2,000 characters)."""
    if value is None or not value.strip():
        return None
    url = value.strip()
    parts = urlsplit(url)
    if (
        len(url) > 2000
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username
        or parts.password
    ):
        raise ValidationFailed(
            "sourceUrl must be an http(s) URL without credentials (at most 2,000 characters).",
            field="sourceUrl",
        )
    return url


# --- settings -----------------------------------------------------------------------------


async def knowledge_base_for(
    session: AsyncSession, workspace_id: uuid.UUID, settings: Settings
) -> KnowledgeBase:
    """The workspace's knowledge settings, created with the deployment's default embedding
    model on first use."""
    kb = await repository.get_knowledge_base(session, workspace_id)
    if kb is None:
        model = catalogue.default_model(settings)
        await repository.create_knowledge_base(session, workspace_id, model.name, model.dims)
        kb = await repository.get_knowledge_base(session, workspace_id)
        assert kb is not None
    return kb


def active_model(kb: KnowledgeBase, settings: Settings) -> EmbeddingModel:
    """The catalogue entry of the workspace's active embedding model."""
    return catalogue.resolve(kb.embedding_model, settings)


def live_models(kb: KnowledgeBase, settings: Settings) -> list[EmbeddingModel]:
    """Models new chunks must be written for: the active one and, while re-embedding, the
    target."""
    models = [active_model(kb, settings)]
    if kb.target_model:
        models.append(catalogue.resolve(kb.target_model, settings))
    return models


async def get_knowledge_base(
    session: AsyncSession, principal: Principal, settings: Settings
) -> KnowledgeBase:
    """The current workspace's knowledge settings."""
    workspace_id = principal.require_role(Role.MEMBER)
    return await knowledge_base_for(session, workspace_id, settings)


async def set_embedding_model(
    session: AsyncSession, principal: Principal, settings: Settings, jobs: JobBuffer, *, model: str
) -> KnowledgeBase:
    """Switch the workspace to another embedding model (admins). Everything is re-embedded in
    the background and search moves to the new model only once all of it is done; choosing
    the active model again cancels a switch in progress."""
    workspace_id = principal.require_role(Role.ADMIN)
    chosen = catalogue.resolve(clean_line(model, field="model", max_length=100), settings)
    if not catalogue.available(chosen, settings):
        raise ValidationFailed(
            f"The model {chosen.name} needs an OpenAI-compatible endpoint, and none is configured.",
            field="model",
        )
    await knowledge_base_for(session, workspace_id, settings)
    kb = await repository.lock_knowledge_base(session, workspace_id)
    assert kb is not None
    previous_target = kb.target_model
    if chosen.name == kb.embedding_model:
        if previous_target:
            await repository.set_target_model(session, workspace_id, None, None)
            await repository.delete_model_chunks(session, workspace_id, previous_target)
    elif chosen.name != previous_target:
        if previous_target:
            await repository.delete_model_chunks(session, workspace_id, previous_target)
        await repository.set_target_model(session, workspace_id, chosen.name, chosen.dims)
        jobs.add(
            "reembed_workspace",
            str(workspace_id),
            chosen.name,
            0,
            job_id=f"reembed:{workspace_id}:{chosen.name}:{uuid7()}",
            queue=QUEUE_BULK,
        )
    kb = await repository.get_knowledge_base(session, workspace_id)
    assert kb is not None
    await session.refresh(kb)
    return kb


# --- input rules --------------------------------------------------------------------------


def clean_line(value: str, *, field: str, max_length: int) -> str:
    """One line of text: no control characters, surrounding space stripped, bounded."""
    cleaned = unicodedata.normalize("NFC", value).strip()
    if not cleaned:
        raise ValidationFailed(f"{field} must not be empty.", field=field)
    if any(unicodedata.category(ch) == "Cc" for ch in cleaned):
        raise ValidationFailed(f"{field} must be a single line of text.", field=field)
    if len(cleaned) > max_length:
        raise ValidationFailed(
            f"{field} must be at most {max_length} characters (got {len(cleaned)}).",
            field=field,
            max_length=max_length,
        )
    return cleaned


def clean_body(value: str, *, field: str, max_length: int) -> str:
    """Multi-line text: newlines normalised, no control characters but tab and newline."""
    cleaned = unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n"))
    if not cleaned.strip():
        raise ValidationFailed(f"{field} must not be empty.", field=field)
    if len(cleaned) > max_length:
        raise ValidationFailed(
            f"{field} must be at most {max_length} characters (got {len(cleaned)}).",
            field=field,
            max_length=max_length,
        )
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in cleaned):
        raise ValidationFailed(f"{field} contains control characters.", field=field)
    return cleaned


def _title_from(content: str, fallback: str) -> str:
    for line in content.splitlines():
        plain = re.sub(r"^#+\s*", "", re.sub(r"<[^>]+>", "", line)).strip()
        if plain:
            return plain[:TITLE_MAX]
    return fallback


def _title_from_filename(filename: str | None) -> str:
    stem = PurePosixPath(filename or "").stem.replace("_", " ").strip()
    return (stem or "Untitled document")[:TITLE_MAX]


def _format(value: str) -> str:
    kind = value.lower()
    if kind not in TEXT_FORMATS:
        raise ValidationFailed("format must be TEXT, MARKDOWN or HTML.", field="format")
    return kind


def _enqueue_ingest(jobs: JobBuffer, document: Document, revision: int) -> None:
    jobs.add(
        "ingest_document",
        str(document.workspace_id),
        str(document.id),
        revision,
        job_id=f"ingest:{document.id}:{revision}",
        queue=QUEUE_BULK,
    )


async def _create(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    jobs: JobBuffer,
    *,
    kind: str,
    title: str,
    content: bytes,
    filename: str | None = None,
    content_type: str | None = None,
    source_url: str | None = None,
) -> Document:
    workspace_id = principal.require_role(Role.MEMBER)
    await ensure_document_quota(session, workspace_id, add_documents=1, add_bytes=len(content))
    await knowledge_base_for(session, workspace_id, settings)
    document = Document(
        workspace_id=workspace_id,
        id=uuid7(),
        kind=kind,
        title=title,
        filename=filename,
        content_type=content_type,
        size_bytes=len(content),
        sha256=hashlib.sha256(content).digest(),
        revision=1,
        status="queued",
        attempts=0,
        chunk_count=0,
        created_by=principal.user_id,
        source_url=clean_source_url(source_url),
    )
    await repository.insert_document(session, document, content)
    await usage.record(session, workspace_id, Metric.DOCUMENTS, 1)
    await usage.record(session, workspace_id, Metric.STORED_BYTES, len(content))
    _enqueue_ingest(jobs, document, 1)
    return document


# --- documents ----------------------------------------------------------------------------


async def add_text_document(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    jobs: JobBuffer,
    *,
    content: str,
    format: str,
    title: str | None = None,
    source_url: str | None = None,
) -> Document:
    """Add a text, Markdown or HTML document given inline; it is processed in the background."""
    kind = _format(format)
    body = clean_body(content, field="content", max_length=settings.knowledge.max_text_chars)
    name = (
        clean_line(title, field="title", max_length=TITLE_MAX)
        if title is not None
        else _title_from(body, "Untitled document")
    )
    return await _create(
        session,
        principal,
        settings,
        jobs,
        kind=kind,
        title=name,
        content=body.encode("utf-8"),
        source_url=source_url,
    )


async def upload_document(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    jobs: JobBuffer,
    *,
    upload: UploadedFile,
    title: str | None = None,
    source_url: str | None = None,
) -> Document:
    """Add an uploaded PDF, HTML, Markdown or plain-text file. What can be checked before
    storing it (size, type, the bytes matching the declared type, text decoding) is checked
    here; what needs parsing (a PDF's text) fails the document later with a reason."""
    principal.require_role(Role.MEMBER)
    kind = inspect_upload(
        upload.filename,
        upload.content_type,
        upload.data,
        max_bytes=settings.knowledge.max_file_bytes,
    )
    filename = (
        clean_line(upload.filename, field="filename", max_length=255) if upload.filename else None
    )
    name = (
        clean_line(title, field="title", max_length=TITLE_MAX)
        if title is not None
        else _title_from_filename(filename)
    )
    return await _create(
        session,
        principal,
        settings,
        jobs,
        kind=kind,
        title=name,
        content=upload.data,
        filename=filename,
        content_type=(upload.content_type or "").split(";")[0].strip().lower() or None,
        source_url=source_url,
    )


async def _existing(
    session: AsyncSession, workspace_id: uuid.UUID, document_id: uuid.UUID, *, faq: bool
) -> Document:
    document = await repository.get_document(session, workspace_id, document_id, lock=True)
    if document is None or (document.kind == "faq") != faq:
        raise NotFound("No such FAQ entry." if faq else "No such document.")
    return document


async def _replace(
    session: AsyncSession,
    document: Document,
    jobs: JobBuffer,
    content: bytes,
    values: dict[str, object],
) -> Document:
    digest = hashlib.sha256(content).digest()
    unchanged = digest == document.sha256 and all(
        getattr(document, key) == value for key, value in values.items()
    )
    if unchanged and document.status in ("queued", "processing", "ready"):
        return document  # nothing to do: replacing with the same content is idempotent
    grow = len(content) - document.size_bytes
    await ensure_document_quota(
        session, document.workspace_id, add_documents=0, add_bytes=max(grow, 0)
    )
    await repository.replace_source(
        session, document, content, size_bytes=len(content), sha256=digest, values=values
    )
    if grow:
        await usage.record(session, document.workspace_id, Metric.STORED_BYTES, grow)
    refreshed = await repository.get_document(
        session, document.workspace_id, document.id, lock=True
    )
    assert refreshed is not None
    _enqueue_ingest(jobs, refreshed, refreshed.revision)
    return refreshed


async def replace_document(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    jobs: JobBuffer,
    *,
    document_id: uuid.UUID,
    content: str | None = None,
    format: str | None = None,
    upload: UploadedFile | None = None,
    title: str | None = None,
) -> Document:
    """Give a document new content (inline text or a file). Its old chunks keep answering
    until the new ones are written, then are replaced in the same transaction."""
    workspace_id = principal.require_role(Role.MEMBER)
    if (content is None) == (upload is None):
        raise ValidationFailed("Send either content or file, not both.", field="content")
    document = await _existing(session, workspace_id, document_id, faq=False)
    values: dict[str, object] = {}
    if title is not None:
        values["title"] = clean_line(title, field="title", max_length=TITLE_MAX)
    if content is not None:
        kind = _format(format or (document.kind if document.kind in TEXT_FORMATS else "text"))
        body = clean_body(content, field="content", max_length=settings.knowledge.max_text_chars)
        data = body.encode("utf-8")
        values.update(kind=kind, filename=None, content_type=None)
    else:
        assert upload is not None
        kind = inspect_upload(
            upload.filename,
            upload.content_type,
            upload.data,
            max_bytes=settings.knowledge.max_file_bytes,
        )
        data = upload.data
        values.update(
            kind=kind,
            filename=clean_line(upload.filename, field="filename", max_length=255)
            if upload.filename
            else None,
            content_type=(upload.content_type or "").split(";")[0].strip().lower() or None,
        )
    return await _replace(session, document, jobs, data, values)


async def reprocess_document(
    session: AsyncSession, principal: Principal, jobs: JobBuffer, *, document_id: uuid.UUID
) -> Document:
    """Process a document again from its stored source (after a failure, or a stuck job)."""
    workspace_id = principal.require_role(Role.MEMBER)
    document = await repository.get_document(session, workspace_id, document_id, lock=True)
    if document is None:
        raise NotFound("No such document.")
    if document.status == "ready":
        raise Conflict("The document is already processed.")
    sources = await repository.get_sources(session, workspace_id, [document_id])
    await repository.replace_source(
        session,
        document,
        sources[document_id],
        size_bytes=document.size_bytes,
        sha256=document.sha256,
        values={},
    )
    refreshed = await repository.get_document(session, workspace_id, document_id, lock=True)
    assert refreshed is not None
    _enqueue_ingest(jobs, refreshed, refreshed.revision)
    return refreshed


async def delete_document(
    session: AsyncSession, principal: Principal, *, document_id: uuid.UUID, faq: bool = False
) -> None:
    """Delete a document or FAQ entry with its chunks; cached answers stop being served."""
    workspace_id = principal.require_role(Role.MEMBER)
    await _existing(session, workspace_id, document_id, faq=faq)
    deleted = await repository.delete_document(session, workspace_id, document_id)
    assert deleted is not None
    await repository.bump_version(session, workspace_id, chunk_delta=-deleted.chunk_count)
    await usage.record(session, workspace_id, Metric.DOCUMENTS, -1)
    await usage.record(session, workspace_id, Metric.STORED_BYTES, -deleted.size_bytes)


async def rename_document(
    session: AsyncSession, principal: Principal, *, document_id: uuid.UUID, title: str
) -> repository.DocumentRow:
    """Give a document a new title without touching its content: nothing is processed again.
    Answers cached before the change may still cite the old title until they expire."""
    workspace_id = principal.require_role(Role.MEMBER)
    clean = clean_line(title, field="title", max_length=TITLE_MAX)
    document = await repository.rename_document(session, workspace_id, document_id, clean)
    if document is None:
        raise NotFound("No such document.")
    return document


async def document_chunks(
    session: AsyncSession,
    principal: Principal,
    document_ids: list[uuid.UUID],
    page: PageRequest,
) -> dict[uuid.UUID, list[repository.ChunkView]]:
    """One page of passages of each document of the current workspace, in order (with the
    extra row: `PageRequest.fetch`)."""
    workspace_id = principal.require_role(Role.MEMBER)
    return await repository.first_chunks(session, workspace_id, document_ids, page)


async def get_document(
    session: AsyncSession, principal: Principal, document_id: uuid.UUID
) -> repository.DocumentRow | None:
    """A document of the current workspace (a read-only row), or None."""
    workspace_id = principal.require_role(Role.MEMBER)
    return await repository.get_document_row(session, workspace_id, document_id)


async def get_document_with_chunks(
    session: AsyncSession,
    principal: Principal,
    document_id: uuid.UUID,
    page: PageRequest,
) -> tuple[repository.DocumentRow | None, list[repository.ChunkView]]:
    """`get_document` and the document's chunk page as `document_chunks` gives it, in one
    statement."""
    workspace_id = principal.require_role(Role.MEMBER)
    return await repository.document_with_chunks(session, workspace_id, document_id, page)


async def list_documents(
    session: AsyncSession,
    principal: Principal,
    page: PageRequest,
    *,
    status: str | None = None,
    faq: bool = False,
) -> Page[repository.DocumentRow]:
    """Documents (or FAQ entries) as read-only rows, newest first."""
    workspace_id = principal.require_role(Role.MEMBER)
    kinds = ("faq",) if faq else DOCUMENT_KINDS
    rows = await repository.list_documents(session, workspace_id, page, kinds=kinds, status=status)
    return make_page(rows, page)


async def list_documents_with_authors(
    session: AsyncSession, principal: Principal, page: PageRequest, *, status: str | None = None
) -> tuple[Page[repository.DocumentRow], dict[uuid.UUID, UserCard | None]]:
    """`list_documents` (not FAQ entries) and their authors' cards, in one statement."""
    workspace_id = principal.require_role(Role.MEMBER)
    rows, authors = await repository.list_documents_with_authors(
        session, workspace_id, page, kinds=DOCUMENT_KINDS, status=status
    )
    return make_page(rows, page), authors


async def document_text(
    session: AsyncSession, workspace_id: uuid.UUID, document_ids: list[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """Decoded source text by document id (FAQ answers, inline documents)."""
    sources = await repository.get_sources(session, workspace_id, document_ids)
    out: dict[uuid.UUID, str] = {}
    for document_id, data in sources.items():
        try:
            out[document_id] = decode_text(data)
        except ValidationFailed:
            out[document_id] = ""
    return out


# --- FAQ ----------------------------------------------------------------------------------


async def create_faq(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    jobs: JobBuffer,
    *,
    question: str,
    answer: str,
) -> Document:
    """Add a curated question and answer; a visitor's question that matches it closely is
    answered with it directly."""
    q = clean_line(question, field="question", max_length=FAQ_QUESTION_MAX)
    a = clean_body(answer, field="answer", max_length=FAQ_ANSWER_MAX).strip()
    return await _create(
        session, principal, settings, jobs, kind="faq", title=q, content=a.encode("utf-8")
    )


async def update_faq(
    session: AsyncSession,
    principal: Principal,
    jobs: JobBuffer,
    *,
    faq_id: uuid.UUID,
    question: str | None,
    answer: str | None,
) -> Document:
    """Change an FAQ entry's question and/or answer."""
    workspace_id = principal.require_role(Role.MEMBER)
    if question is None and answer is None:
        raise ValidationFailed("Send a new question, a new answer, or both.", field="question")
    document = await _existing(session, workspace_id, faq_id, faq=True)
    values: dict[str, object] = {}
    if question is not None:
        values["title"] = clean_line(question, field="question", max_length=FAQ_QUESTION_MAX)
    if answer is not None:
        data = clean_body(answer, field="answer", max_length=FAQ_ANSWER_MAX).strip().encode()
    else:
        data = (await repository.get_sources(session, workspace_id, [faq_id]))[faq_id]
    return await _replace(session, document, jobs, data, values)


# --- search -------------------------------------------------------------------------------


async def embed_query(settings: Settings, model: EmbeddingModel, text: str) -> list[float]:
    """The query's vector with the workspace's model (an interactive call: it goes ahead of
    bulk work on a shared local model)."""
    from app.openai_api import ProviderError

    try:
        return (await provider_for(model, settings).embed([text], interactive=True))[0]
    except ProviderError as exc:
        raise Unavailable(f"The embedding model is unavailable: {exc}") from exc


async def search(
    session: AsyncSession, principal: Principal, settings: Settings, *, query: str, k: int
) -> list[Passage]:
    """The workspace's passages that best match `query` (hybrid vector + keyword)."""
    workspace_id = principal.require_role(Role.MEMBER)
    text = clean_body(query, field="query", max_length=SEARCH_QUERY_MAX).strip()
    if not 1 <= k <= SEARCH_K_MAX:
        raise ValidationFailed(f"k must be between 1 and {SEARCH_K_MAX}.", field="k")
    kb = await knowledge_base_for(session, workspace_id, settings)
    model = active_model(kb, settings)
    vector = await embed_query(settings, model, text)
    return await hybrid_search(
        session,
        workspace_id,
        model,
        vector,
        text,
        k,
        settings.knowledge,
        min_similarity=settings.assistant.min_similarity or model.min_similarity,
        size_hint=kb.chunk_count,
    )
