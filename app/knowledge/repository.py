"""All SQL of the knowledge base. Row-level security scopes every statement to the current
workspace; the explicit `workspace_id` conditions are there for the indexes.

Vector SQL is built per embedding size: the partial HNSW index of size N can only be chosen
when the statement says `embedding_dims = N` literally and orders by `embedding::vector(N)`,
so N is interpolated (from the fixed list of supported sizes, never from input).
"""

from __future__ import annotations

import functools
import uuid
from collections import namedtuple
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import asyncpg
from sqlalchemy import (
    Text,
    any_,
    bindparam,
    delete,
    func,
    literal_column,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import limits, raw
from app.db.raw import DriverStatement, driver_statement, fetch
from app.knowledge.embedding.catalogue import SUPPORTED_DIMS
from app.knowledge.models import Chunk, Document, DocumentSource, KnowledgeBase
from app.pagination import PageRequest
from tenancy.accounts.models import User
from tenancy.accounts.repository import USER_CARD_COLUMNS, UserCard

# --- knowledge base settings --------------------------------------------------------------


async def get_knowledge_base(
    session: AsyncSession, workspace_id: uuid.UUID
) -> KnowledgeBase | None:
    """The workspace's knowledge settings, if created yet."""
    return await session.scalar(
        select(KnowledgeBase).where(KnowledgeBase.workspace_id == workspace_id)
    )


async def create_knowledge_base(
    session: AsyncSession, workspace_id: uuid.UUID, model: str, dims: int
) -> None:
    """Create the settings row unless it exists (concurrent first uses are harmless)."""
    await session.execute(
        insert(KnowledgeBase)
        .values(workspace_id=workspace_id, embedding_model=model, embedding_dims=dims)
        .on_conflict_do_nothing(index_elements=["workspace_id"])
    )


async def lock_knowledge_base(
    session: AsyncSession, workspace_id: uuid.UUID
) -> KnowledgeBase | None:
    """The settings row, locked until the transaction ends. Chunk writes and the model switch
    take this lock, so a switch never interleaves with a document's chunks being written."""
    return await session.scalar(
        select(KnowledgeBase)
        .where(KnowledgeBase.workspace_id == workspace_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def bump_version(session: AsyncSession, workspace_id: uuid.UUID, chunk_delta: int = 0) -> int:
    """Mark the knowledge as changed (answer cache keys include the version), adjusting the
    active model's chunk count by `chunk_delta`."""
    result = await session.execute(
        update(KnowledgeBase)
        .where(KnowledgeBase.workspace_id == workspace_id)
        .values(
            version=KnowledgeBase.version + 1,
            chunk_count=func.greatest(KnowledgeBase.chunk_count + chunk_delta, 0),
            updated_at=func.now(),
        )
        .returning(KnowledgeBase.version)
    )
    return int(result.scalar_one())


async def set_target_model(
    session: AsyncSession, workspace_id: uuid.UUID, model: str | None, dims: int | None
) -> None:
    """Start (or cancel, with None) re-embedding towards `model`."""
    await session.execute(
        update(KnowledgeBase)
        .where(KnowledgeBase.workspace_id == workspace_id)
        .values(
            target_model=model,
            target_dims=dims,
            reembed_started_at=func.now() if model else None,
            updated_at=func.now(),
        )
    )


async def switch_model(session: AsyncSession, workspace_id: uuid.UUID) -> None:
    """Make the target model the active one and bump the version."""
    await session.execute(
        update(KnowledgeBase)
        .where(KnowledgeBase.workspace_id == workspace_id)
        .values(
            embedding_model=KnowledgeBase.target_model,
            embedding_dims=KnowledgeBase.target_dims,
            target_model=None,
            target_dims=None,
            reembed_started_at=None,
            version=KnowledgeBase.version + 1,
            updated_at=func.now(),
        )
    )


# --- documents ----------------------------------------------------------------------------


async def insert_document(session: AsyncSession, document: Document, content: bytes) -> None:
    """Add a document and its source bytes."""
    session.add(document)
    await session.flush()
    session.add(
        DocumentSource(
            workspace_id=document.workspace_id,
            document_id=document.id,
            revision=document.revision,
            content=content,
        )
    )
    await session.flush()


async def get_document(
    session: AsyncSession, workspace_id: uuid.UUID, document_id: uuid.UUID, *, lock: bool = False
) -> Document | None:
    """A document by id, optionally locked."""
    query = select(Document).where(
        Document.workspace_id == workspace_id, Document.id == document_id
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


async def get_documents(
    session: AsyncSession, workspace_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> list[Document]:
    """Documents by ids (those that exist)."""
    if not ids:
        return []
    return list(
        await session.scalars(
            select(Document).where(Document.workspace_id == workspace_id, Document.id.in_(ids))
        )
    )


@dataclass(frozen=True, slots=True)
class ChunkView:
    """A passage as a document's page shows it (no vector, no tsvector)."""

    id: uuid.UUID
    document_id: uuid.UUID
    position: int
    heading_path: list[str]
    content: str
    token_count: int


def _chunk_page(document_id: Any, after: bool) -> Any:
    """A lateral subquery: the first `limit` chunks by position of the document `document_id`
    (a column of the enclosing statement), after the cursor's when `after`, read from the
    unique index on (workspace, document, model, position) without touching the rest of its
    chunks. Only the workspace's current embedding model counts (a switch in progress writes
    a second set). Columns in `ChunkView`'s order."""
    current = (
        select(KnowledgeBase.embedding_model)
        .where(KnowledgeBase.workspace_id == bindparam("workspace_id"))
        .scalar_subquery()
    )
    page = select(
        Chunk.id,
        Chunk.document_id,
        Chunk.position,
        Chunk.heading_path,
        Chunk.content,
        Chunk.token_count,
    ).where(
        Chunk.workspace_id == bindparam("workspace_id"),
        Chunk.document_id == document_id,
        Chunk.embedding_model == current,
    )
    if after:
        start = (
            select(Chunk.position)
            .where(Chunk.workspace_id == bindparam("workspace_id"), Chunk.id == bindparam("after"))
            .scalar_subquery()
        )
        page = page.where(Chunk.position > start)
    # The limit stays a parameter here, unlike a page's (app/db/limits.py): PostgreSQL kept
    # the generic plan of a document with its chunks (pg_stat_statements showed no planning
    # per request, docs/BENCHMARKS.md "Eighth pass"). The loader's many-document form was
    # not measured that way.
    return page.order_by(Chunk.position).limit(bindparam("limit")).lateral("c")


def _chunk_view(values: Sequence[Any]) -> ChunkView:
    """A `ChunkView` of the six columns of `_chunk_page`, in order."""
    return ChunkView(values[0], values[1], values[2], list(values[3]), values[4], values[5])


@functools.cache
def _first_chunks(after: bool) -> DriverStatement:
    """Chunk pages of several documents in one statement (one `_chunk_page` per id)."""
    documents = (
        func.unnest(bindparam("document_ids", type_=ARRAY(PgUUID)))
        .table_valued("id")
        .render_derived(name="d")
    )
    chunks = _chunk_page(documents.c.id, after)
    return driver_statement(
        select(*chunks.c)
        .select_from(documents.join(chunks, true()))
        .order_by(chunks.c.document_id, chunks.c.position)
    )


async def first_chunks(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    document_ids: Sequence[uuid.UUID],
    page: PageRequest,
) -> dict[uuid.UUID, list[ChunkView]]:
    """One page of each document's chunks in position order (with the extra row:
    `PageRequest.fetch`), those of the workspace's current embedding model only. One query
    for all the documents."""
    if not document_ids:
        return {}
    rows = await fetch(
        session,
        _first_chunks(page.after is not None),
        {
            "workspace_id": workspace_id,
            "document_ids": list(document_ids),
            "after": page.after,
            "limit": page.fetch,
        },
    )
    found: dict[uuid.UUID, list[ChunkView]] = {}
    for row in rows:
        chunk = _chunk_view(row)
        found.setdefault(chunk.document_id, []).append(chunk)
    return found


async def rename_document(
    session: AsyncSession, workspace_id: uuid.UUID, document_id: uuid.UUID, title: str
) -> DocumentRow | None:
    """Set a document's title (not an FAQ entry's); the updated row, or None when there is
    none. On the driver like the hot reads below: the ORM's UPDATE ... RETURNING built,
    cache-keyed and loaded an entity on every call (about 800 Python calls). An entity of
    this document already in the session's identity map is not refreshed."""
    return await _one_document(
        session,
        _RENAME,
        {"workspace_id": workspace_id, "document_id": document_id, "title": title},
    )


# Reads that only display documents take plain rows of the table's columns (attribute names
# as on the model): no identity map, no instance state, a fraction of the cost of entities.
# They are the dashboard's hottest reads, so they run on the driver (app/db/raw.py): built
# once per variant as SQLAlchemy statements, compiled once, executed with asyncpg.
_DOCUMENT_COLUMNS = tuple(Document.__table__.c)
# Attribute access by column name, as SQLAlchemy's rows gave; typed as loosely as those were.
DocumentRow: TypeAlias = Any
_document_row = namedtuple("DocumentRow", [c.key for c in _DOCUMENT_COLUMNS])._make  # type: ignore[attr-defined]

# A page row with its author's card after the document's columns (`_document_page`).
_AUTHOR_FROM = len(_DOCUMENT_COLUMNS)
_authored_row = namedtuple(  # type: ignore[attr-defined]
    "DocumentRow",
    [c.key for c in _DOCUMENT_COLUMNS] + [f"author_{c.key}" for c in USER_CARD_COLUMNS],
)._make

_DOCUMENT_ROW = driver_statement(
    select(*_DOCUMENT_COLUMNS).where(
        Document.workspace_id == bindparam("workspace_id"),
        Document.id == bindparam("document_id"),
    )
)


_RENAME = driver_statement(
    update(Document)
    .where(
        Document.workspace_id == bindparam("workspace_id"),
        Document.id == bindparam("document_id"),
        Document.kind != literal_column("'faq'"),
    )
    .values(title=bindparam("title"), updated_at=func.now())
    .returning(*_DOCUMENT_COLUMNS)
)


@functools.lru_cache(maxsize=256)
def _document_page(
    by_status: bool, after: bool, limit: int, authors: bool = False
) -> DriverStatement:
    """The page query for one combination of filters and one page length, built on first
    use; with `authors`, each row also carries its author's UserCard columns (null when
    there is none). The length is in the statement's text (app/db/limits.py)."""
    query = (
        select(*_DOCUMENT_COLUMNS)
        .where(
            Document.workspace_id == bindparam("workspace_id"),
            Document.kind == any_(bindparam("kinds", type_=ARRAY(Text))),
        )
        .order_by(Document.id.desc())
        .limit(limits.rows(limit))
    )
    if by_status:
        query = query.where(Document.status == bindparam("status"))
    if after:
        query = query.where(Document.id < bindparam("after"))
    if authors:
        # A left join: a document without an author, or whose author's account is gone,
        # keeps its row (with nulls), as the user loader would answer None for it.
        query = query.add_columns(
            *(column.label(f"author_{column.key}") for column in USER_CARD_COLUMNS)
        ).outerjoin(User, User.id == Document.created_by)
    return driver_statement(query)


async def get_document_row(
    session: AsyncSession, workspace_id: uuid.UUID, document_id: uuid.UUID
) -> DocumentRow | None:
    """A document by id, as a read-only row."""
    return await _one_document(
        session, _DOCUMENT_ROW, {"workspace_id": workspace_id, "document_id": document_id}
    )


@functools.cache
def _document_with_chunks(after: bool) -> DriverStatement:
    """A document's columns with its first chunk page beside them: one row per chunk (the
    document's columns repeated), or one row of null chunk columns when it has none."""
    chunks = _chunk_page(Document.id, after)
    return driver_statement(
        select(*_DOCUMENT_COLUMNS, *chunks.c)
        .outerjoin(chunks, true())
        .where(
            Document.workspace_id == bindparam("workspace_id"),
            Document.id == bindparam("document_id"),
        )
        .order_by(chunks.c.position)
    )


async def document_with_chunks(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    document_id: uuid.UUID,
    page: PageRequest,
) -> tuple[DocumentRow | None, list[ChunkView]]:
    """`get_document_row` and, in the same statement, what `first_chunks` gives for it: one
    round trip where the two took two."""
    params = {
        "workspace_id": workspace_id,
        "document_id": document_id,
        "after": page.after,
        "limit": page.fetch,
    }
    rows = await fetch(session, _document_with_chunks(page.after is not None), params)
    if not rows:
        return None, []
    width = len(_DOCUMENT_COLUMNS)
    document = _document_row(tuple(rows[0])[:width])
    # The chunk columns of a document without chunks are null (the outer join).
    chunks = [_chunk_view(tuple(row)[width:]) for row in rows if row[width] is not None]
    return document, chunks


async def _one_document(
    session: AsyncSession, statement: DriverStatement, params: dict[str, Any]
) -> DocumentRow | None:
    rows = await fetch(session, statement, params)
    return _document_row(rows[0]) if rows else None


async def list_documents(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    page: PageRequest,
    *,
    kinds: Sequence[str],
    status: str | None = None,
) -> list[DocumentRow]:
    """Documents of the given kinds as read-only rows, newest first, one page (with the
    extra row: `PageRequest.fetch`)."""
    rows = await _fetch_page(session, workspace_id, page, kinds, status, authors=False)
    return [_document_row(row) for row in rows]


async def list_documents_with_authors(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    page: PageRequest,
    *,
    kinds: Sequence[str],
    status: str | None = None,
) -> tuple[list[DocumentRow], dict[uuid.UUID, UserCard | None]]:
    """`list_documents` and, in the same statement, the card of each row's author (None
    for an author whose account is gone), by user id."""
    rows = await _fetch_page(session, workspace_id, page, kinds, status, authors=True)
    documents = [_authored_row(row) for row in rows]
    authors: dict[uuid.UUID, UserCard | None] = {}
    for document in documents:
        author = document.created_by
        if author is not None and author not in authors:
            card = document[_AUTHOR_FROM:]
            authors[author] = UserCard(*card) if card[0] is not None else None
    return documents, authors


async def _fetch_page(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    page: PageRequest,
    kinds: Sequence[str],
    status: str | None,
    *,
    authors: bool,
) -> list[asyncpg.Record]:
    """The raw rows of one documents page (the statement for this shape, from its cache)."""
    query = _document_page(status is not None, page.after is not None, page.fetch, authors)
    params = {
        "workspace_id": workspace_id,
        "kinds": list(kinds),
        "status": status,
        "after": page.after,
    }
    return await fetch(session, query, params)


async def get_sources(
    session: AsyncSession, workspace_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, bytes]:
    """Source bytes by document id."""
    if not ids:
        return {}
    rows = await session.execute(
        select(DocumentSource.document_id, DocumentSource.content).where(
            DocumentSource.workspace_id == workspace_id, DocumentSource.document_id.in_(ids)
        )
    )
    return {row[0]: row[1] for row in rows}


async def replace_source(
    session: AsyncSession,
    document: Document,
    content: bytes,
    *,
    size_bytes: int,
    sha256: bytes,
    values: dict[str, object],
) -> None:
    """Give a document new source bytes and a new revision; processing starts over."""
    await session.execute(
        update(DocumentSource)
        .where(
            DocumentSource.workspace_id == document.workspace_id,
            DocumentSource.document_id == document.id,
        )
        .values(content=content, revision=document.revision + 1)
    )
    await session.execute(
        update(Document)
        .where(Document.workspace_id == document.workspace_id, Document.id == document.id)
        .values(
            revision=document.revision + 1,
            size_bytes=size_bytes,
            sha256=sha256,
            status="queued",
            error=None,
            attempts=0,
            updated_at=func.now(),
            **values,
        )
    )


async def start_processing(
    session: AsyncSession, workspace_id: uuid.UUID, document_id: uuid.UUID, revision: int
) -> Document | None:
    """Mark the document's `revision` as processing and count the attempt; None when the
    document is gone, was replaced, or that revision is already done."""
    result = await session.execute(
        update(Document)
        .where(
            Document.workspace_id == workspace_id,
            Document.id == document_id,
            Document.revision == revision,
            Document.status.in_(("queued", "processing")),
        )
        .values(status="processing", attempts=Document.attempts + 1, updated_at=func.now())
        .returning(Document)
        .execution_options(populate_existing=True)
    )
    return result.scalars().first()


async def finish_document(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    document_id: uuid.UUID,
    revision: int,
    *,
    status: str,
    error: str | None = None,
    chunk_count: int = 0,
) -> bool:
    """Record the outcome of processing `revision`; False when the document moved on."""
    result = await session.execute(
        update(Document)
        .where(
            Document.workspace_id == workspace_id,
            Document.id == document_id,
            Document.revision == revision,
        )
        .values(
            status=status,
            error=error,
            chunk_count=chunk_count,
            processed_at=func.now(),
            updated_at=func.now(),
        )
        .returning(Document.id)
    )
    return result.first() is not None


async def delete_document(
    session: AsyncSession, workspace_id: uuid.UUID, document_id: uuid.UUID
) -> Document | None:
    """Delete a document; its source and chunks go with it (ON DELETE CASCADE)."""
    result = await session.execute(
        delete(Document)
        .where(Document.workspace_id == workspace_id, Document.id == document_id)
        .returning(Document)
    )
    return result.scalars().first()


async def ready_documents_missing_model(
    session: AsyncSession, workspace_id: uuid.UUID, target: str, source: str, limit: int
) -> list[Document]:
    """Ready documents that have chunks of `source` but none of `target` yet (re-embedding's
    work list)."""

    def has_chunks(model: str) -> Any:
        return (
            select(Chunk.id)
            .where(
                Chunk.workspace_id == Document.workspace_id,
                Chunk.document_id == Document.id,
                Chunk.embedding_model == model,
            )
            .exists()
        )

    query = (
        select(Document)
        .where(
            Document.workspace_id == workspace_id,
            Document.status == "ready",
            has_chunks(source),
            ~has_chunks(target),
        )
        .order_by(Document.id)
        .limit(limit)
    )
    return list(await session.scalars(query))


# --- chunks -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChunkRow:
    """A chunk ready to store."""

    id: uuid.UUID
    document_id: uuid.UUID
    revision: int
    position: int
    heading_path: tuple[str, ...]
    content: str
    token_count: int
    is_faq: bool
    embedding: Sequence[float]


# One statement per batch: the rows travel as parallel arrays and `unnest` turns them back
# into rows inside PostgreSQL, so a document's chunks cost one parse, one plan and one round
# trip. Heading paths of different lengths cannot share a two-dimensional array, so all
# headings go in one flat array with each row's slice bounds (an empty path is the empty
# slice [n+1:n]); the vectors likewise go as one flat float4 array sliced by the size.
_INSERT_CHUNKS = """
INSERT INTO chunks (workspace_id, id, document_id, revision, position, embedding_model,
                    embedding_dims, heading_path, content, token_count, is_faq, tsv, embedding)
SELECT $1, r.id, r.document_id, r.revision, r.position, $2, $3, r.heading_path, r.content,
       r.token_count, r.is_faq,
       setweight(to_tsvector('english', array_to_string(r.heading_path, ' ')), 'A')
         || to_tsvector('english', r.content),
       ($4::real[])[(r.n - 1) * $5 + 1 : r.n * $5]::vector
FROM (SELECT u.*, ($6::text[])[u.heading_from : u.heading_to] AS heading_path
      FROM unnest($7::uuid[], $8::uuid[], $9::int[], $10::int[], $11::text[], $12::int[],
                  $13::bool[], $14::int[], $15::int[])
           WITH ORDINALITY AS u(id, document_id, revision, position, content, token_count,
                                is_faq, heading_from, heading_to, n)) AS r
"""
_SKIP_EXISTING = " ON CONFLICT (workspace_id, document_id, embedding_model, position) DO NOTHING"


async def insert_chunks(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    model: str,
    dims: int,
    rows: Sequence[ChunkRow],
    *,
    skip_existing: bool = False,
) -> None:
    """Store chunks with one INSERT on the transaction's connection (vectors travel as one
    binary float4 array). With `skip_existing`, a chunk whose document, model and position
    are taken is skipped. (COPY would be faster still, but PostgreSQL refuses COPY FROM into
    a table with row-level security.)"""
    if not rows:
        return
    headings: list[str] = []
    heading_from: list[int] = []
    heading_to: list[int] = []
    vectors: list[float] = []
    for row in rows:
        # A vector of another size would shift every later row's slice, so refuse it here
        # (one row at a time, the dimension check constraint caught it).
        if len(row.embedding) != dims:
            raise ValueError(f"a {len(row.embedding)}-dimension vector among {dims}-dimension ones")
        heading_from.append(len(headings) + 1)
        headings.extend(row.heading_path)
        heading_to.append(len(headings))
        vectors.extend(row.embedding)
    await raw.execute(
        session,
        _INSERT_CHUNKS + (_SKIP_EXISTING if skip_existing else ""),
        workspace_id,
        model,
        dims,  # $3, typed by the smallint column
        vectors,
        dims,  # $5, the same size typed int for the slice arithmetic
        headings,
        [row.id for row in rows],
        [row.document_id for row in rows],
        [row.revision for row in rows],
        [row.position for row in rows],
        [row.content for row in rows],
        [row.token_count for row in rows],
        [row.is_faq for row in rows],
        heading_from,
        heading_to,
    )


async def delete_chunks(
    session: AsyncSession, workspace_id: uuid.UUID, document_id: uuid.UUID
) -> int:
    """Delete every chunk of a document (all models)."""
    result = await session.execute(
        delete(Chunk).where(Chunk.workspace_id == workspace_id, Chunk.document_id == document_id)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def delete_model_chunks(session: AsyncSession, workspace_id: uuid.UUID, model: str) -> int:
    """Delete every chunk of an embedding model (after a switch, or a cancelled target)."""
    result = await session.execute(
        delete(Chunk).where(Chunk.workspace_id == workspace_id, Chunk.embedding_model == model)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def chunks_of_documents(
    session: AsyncSession, workspace_id: uuid.UUID, model: str, document_ids: Sequence[uuid.UUID]
) -> list[Chunk]:
    """The chunks of `model` of some documents, in document and position order."""
    return list(
        await session.scalars(
            select(Chunk)
            .where(
                Chunk.workspace_id == workspace_id,
                Chunk.embedding_model == model,
                Chunk.document_id.in_(document_ids),
            )
            .order_by(Chunk.document_id, Chunk.position)
        )
    )


async def count_chunks(session: AsyncSession, workspace_id: uuid.UUID, model: str) -> int:
    """How many chunks of `model` the workspace has."""
    return int(
        await session.scalar(
            select(func.count())
            .select_from(Chunk)
            .where(Chunk.workspace_id == workspace_id, Chunk.embedding_model == model)
        )
        or 0
    )


# --- search -------------------------------------------------------------------------------


# The query vector is written `(SELECT CAST(:q AS real[])::vector(N))`: a scalar sub-select
# becomes an InitPlan, converted once per statement instead of once per row compared, and it
# still counts as a constant for the HNSW index's ORDER BY.


def _query_vector(dims: int) -> str:
    return f"(SELECT CAST(:q AS real[])::vector({dims}))"


def _dims(dims: int) -> int:
    if dims not in SUPPORTED_DIMS:
        raise ValueError(f"unsupported embedding size {dims}")
    return dims


async def vector_exact(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    model: str,
    dims: int,
    query: Sequence[float],
    limit: int,
    *,
    faq_only: bool = False,
) -> list[tuple[uuid.UUID, float]]:
    """Exact nearest chunks by cosine similarity: every chunk of the workspace's model is
    compared (through the workspace index; the HNSW index cannot be chosen because the order
    is on the uncast column)."""
    n = _dims(dims)
    faq = "AND is_faq " if faq_only else ""
    rows = await session.execute(
        # Only the size (a whitelisted int) and a fixed clause are interpolated.
        text(
            f"SELECT id, embedding <=> {_query_vector(n)} AS distance FROM chunks "  # noqa: S608
            f"WHERE workspace_id = :ws AND embedding_model = :model {faq}"
            f"ORDER BY distance LIMIT :limit"
        ),
        {"ws": workspace_id, "model": model, "q": list(query), "limit": limit},
    )
    return [(row[0], 1.0 - float(row[1])) for row in rows]


async def vector_approximate(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    model: str,
    dims: int,
    query: Sequence[float],
    limit: int,
    *,
    ef_search: int,
    max_scan_tuples: int,
) -> list[tuple[uuid.UUID, float]]:
    """Nearest chunks through the HNSW index with pgvector's iterative scan: the scan keeps
    going until `limit` rows pass the workspace filter (or `max_scan_tuples` were visited).
    relaxed_order may return rows slightly out of order, so they are sorted again."""
    n = _dims(dims)
    await session.execute(
        text(
            "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), "
            "set_config('hnsw.ef_search', :ef, true), "
            "set_config('hnsw.max_scan_tuples', :mst, true)"
        ),
        {"ef": str(max(ef_search, limit)), "mst": str(max_scan_tuples)},
    )
    rows = await session.execute(
        # Only the size (a whitelisted int) is interpolated.
        text(
            f"WITH nearest AS MATERIALIZED ("  # noqa: S608
            f"SELECT id, embedding::vector({n}) <=> {_query_vector(n)} AS distance "
            f"FROM chunks WHERE workspace_id = :ws AND embedding_model = :model "
            f"AND embedding_dims = {n} "
            f"ORDER BY embedding::vector({n}) <=> {_query_vector(n)} LIMIT :limit) "
            f"SELECT id, 1 - distance FROM nearest ORDER BY distance"
        ),
        {"ws": workspace_id, "model": model, "q": list(query), "limit": limit},
    )
    return [(row[0], float(row[1])) for row in rows]


async def keyword_search(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    model: str,
    query_text: str,
    limit: int,
    cap: int,
) -> list[tuple[uuid.UUID, float, bool]]:
    """Chunks matching any of the query's words, best `ts_rank_cd` first, with whether they
    match all of them. At most `cap` matches are ranked, which bounds the cost for words
    that occur everywhere."""
    rows = await session.execute(
        text(
            "WITH q AS (SELECT plainto_tsquery('english', :text) AS every, "
            "replace(plainto_tsquery('english', :text)::text, ' & ', ' | ')::tsquery AS any), "
            "matches AS MATERIALIZED (SELECT c.id, c.tsv FROM chunks c, q "
            "WHERE c.workspace_id = :ws AND c.embedding_model = :model AND c.tsv @@ q.any "
            "LIMIT :cap) "
            "SELECT m.id, ts_rank_cd(m.tsv, q.any) AS rank, m.tsv @@ q.every AS all_terms "
            "FROM matches m, q ORDER BY rank DESC, m.id LIMIT :limit"
        ),
        {"ws": workspace_id, "model": model, "text": query_text, "limit": limit, "cap": cap},
    )
    return [(row[0], float(row[1]), bool(row[2])) for row in rows]


@dataclass(frozen=True, slots=True)
class ChunkDetail:
    """What an answer or a search result shows of a chunk."""

    id: uuid.UUID
    document_id: uuid.UUID
    document_title: str
    document_url: str | None
    position: int
    heading_path: tuple[str, ...]
    content: str
    is_faq: bool
    similarity: float


async def chunk_details(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    dims: int,
    ids: Sequence[uuid.UUID],
    query: Sequence[float] | None,
) -> dict[uuid.UUID, ChunkDetail]:
    """Chunks with their document's title and their similarity to the query (0 without a
    query vector, when search fell back to keywords)."""
    if not ids:
        return {}
    n = _dims(dims)
    similarity = f"1 - (c.embedding <=> {_query_vector(n)})" if query is not None else "0.0"
    rows = await session.execute(
        # Only the size (a whitelisted int) is interpolated.
        text(
            f"SELECT c.id, c.document_id, d.title, c.position, c.heading_path, c.content, "  # noqa: S608
            f"c.is_faq, {similarity}, d.source_url "
            f"FROM chunks c JOIN documents d "
            f"ON d.workspace_id = c.workspace_id AND d.id = c.document_id "
            f"WHERE c.workspace_id = :ws AND c.id = ANY(:ids)"
        ),
        {"ws": workspace_id, "ids": list(ids), **({"q": list(query)} if query is not None else {})},
    )
    return {
        row[0]: ChunkDetail(
            id=row[0],
            document_id=row[1],
            document_title=row[2],
            document_url=row[8],
            position=row[3],
            heading_path=tuple(row[4] or ()),
            content=row[5],
            is_faq=row[6],
            similarity=float(row[7]),
        )
        for row in rows
    }


async def faq_answers(
    session: AsyncSession, workspace_id: uuid.UUID, document_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, str]]:
    """Question and answer text of FAQ entries by document id."""
    if not document_ids:
        return {}
    rows = await session.execute(
        select(Document.id, Document.title, DocumentSource.content)
        .join(
            DocumentSource,
            (DocumentSource.workspace_id == Document.workspace_id)
            & (DocumentSource.document_id == Document.id),
        )
        .where(
            Document.workspace_id == workspace_id,
            Document.id.in_(document_ids),
            Document.kind == "faq",
        )
    )
    return {row[0]: (row[1], row[2].decode("utf-8")) for row in rows}
