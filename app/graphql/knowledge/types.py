"""GraphQL types of the knowledge base."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import Enum
from typing import Annotated

import strawberry

from app.errors import ParleyError
from app.graphql.context import Info
from app.graphql.loaders import loaded
from app.graphql.lookahead import arguments
from app.graphql.node import Node, to_global_id
from app.graphql.pagination import Connection, connection
from app.graphql.tenancy.types import User
from app.knowledge.models import Document as DocumentModel
from app.knowledge.models import KnowledgeBase as KnowledgeBaseModel
from app.knowledge.repository import ChunkView, DocumentRow
from app.knowledge.search import Passage as PassageResult
from app.pagination import PageRequest, make_page, page_request


@strawberry.enum(
    description="Where a document's processing stands: QUEUED (waiting for a worker), "
    "PROCESSING, READY (searchable) or FAILED (see `error`)."
)
class DocumentStatus(Enum):
    """Document states."""

    QUEUED = "queued"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


@strawberry.enum(description="What a document was made from.")
class DocumentKind(Enum):
    """Document kinds."""

    TEXT = "text"
    MARKDOWN = "markdown"
    HTML = "html"
    PDF = "pdf"


@strawberry.enum(description="The format of inline document content.")
class TextFormat(Enum):
    """Formats accepted by addDocument."""

    TEXT = "text"
    MARKDOWN = "markdown"
    HTML = "html"


# Stored values to members by lookup: `DocumentKind(value)` costs two Python calls, twice per
# document of every page (an unknown value is a bug either way: KeyError instead of ValueError).
_KINDS = {member.value: member for member in DocumentKind}
_STATUSES = {member.value: member for member in DocumentStatus}


@strawberry.type(description="A passage of a document, as search sees it.")
class DocumentChunk:
    """One chunk of a document."""

    id: strawberry.ID = strawberry.field(description="Id of the passage (as in search hits).")
    position: int = strawberry.field(description="Its place in the document, from 0.")
    heading_path: list[str] = strawberry.field(description="Headings the passage sits under.")
    text: str = strawberry.field(description="The passage.")
    token_count: int = strawberry.field(description="Its length in the model's tokens.")

    @classmethod
    def from_row(cls, row: ChunkView) -> DocumentChunk:
        """Convert a row."""
        return cls(
            id=strawberry.ID(str(row.id)),
            position=row.position,
            heading_path=row.heading_path,
            text=row.content,
            token_count=row.token_count,
        )


@strawberry.type(description="A document of the knowledge base.")
class Document(Node):
    """A document and where its processing stands."""

    title: str = strawberry.field(description="Title (from the input, file name or first line).")
    kind: DocumentKind = strawberry.field(description="What the document was made from.")
    status: DocumentStatus = strawberry.field(description="Where processing stands.")
    error: str | None = strawberry.field(description="Why processing failed, when it did.")
    filename: str | None = strawberry.field(description="Name of the uploaded file.")
    source_url: str | None = strawberry.field(
        description="Where the document lives; citations link to it."
    )
    content_type: str | None = strawberry.field(description="Declared type of the uploaded file.")
    size_bytes: int = strawberry.field(description="Size of the source in bytes.")
    revision: int = strawberry.field(description="Goes up each time the content is replaced.")
    chunk_count: int = strawberry.field(description="Passages the document was split into.")
    attempts: int = strawberry.field(description="Processing attempts of this revision.")
    created_at: dt.datetime = strawberry.field(description="When it was added.")
    updated_at: dt.datetime = strawberry.field(description="When it last changed.")
    processed_at: dt.datetime | None = strawberry.field(
        description="When processing last finished."
    )
    row_id: strawberry.Private[uuid.UUID]
    created_by_id: strawberry.Private[uuid.UUID | None]

    # Through the request's user loader: at once when the page primed it, else batched with
    # the other documents' authors.
    added_by: User | None = strawberry.field(
        description="Who added it, if they still have an account.",
        resolver=loaded("users", "created_by_id", User.from_card),
        graphql_type=User | None,
    )

    @strawberry.field(
        description="Its passages in order (those of the current embedding model); empty "
        "until processed."
    )
    async def chunks(
        self,
        info: Info,
        first: Annotated[
            int | None, strawberry.argument(description="Page size (at most 100).")
        ] = 10,
        after: Annotated[
            str | None, strawberry.argument(description="Cursor to continue after.")
        ] = None,
    ) -> Connection[DocumentChunk]:
        """Batched through the request's chunk loader: one query for a list of documents (or
        none, when the document's own query brought the page: `chunks_asked`)."""
        request = page_request(first, after)
        rows = await info.context.loaders.chunks.load((self.row_id, request))
        return connection(make_page(rows, request), DocumentChunk.from_row, lambda row: row.id)

    @classmethod
    def from_model(cls, doc: DocumentModel | DocumentRow) -> Document:
        """Convert an entity or a row of the documents table."""
        return cls(
            id=to_global_id("Document", doc.id),
            title=doc.title,
            kind=_KINDS[doc.kind],
            status=_STATUSES[doc.status],
            error=doc.error,
            filename=doc.filename,
            source_url=doc.source_url,
            content_type=doc.content_type,
            size_bytes=doc.size_bytes,
            revision=doc.revision,
            chunk_count=doc.chunk_count,
            attempts=doc.attempts,
            created_at=doc.created_at,
            updated_at=doc.updated_at,
            processed_at=doc.processed_at,
            row_id=doc.id,
            created_by_id=doc.created_by,
        )


@strawberry.type(description="A curated question and answer, answered directly when asked.")
class FaqEntry(Node):
    """An FAQ entry."""

    question: str = strawberry.field(description="The question.")
    answer: str = strawberry.field(description="The answer given when the question matches.")
    status: DocumentStatus = strawberry.field(description="READY once it can match questions.")
    error: str | None = strawberry.field(description="Why processing failed, when it did.")
    created_at: dt.datetime = strawberry.field(description="When it was added.")
    updated_at: dt.datetime = strawberry.field(description="When it last changed.")

    @classmethod
    def from_model(cls, doc: DocumentModel | DocumentRow, answer: str) -> FaqEntry:
        """Convert an entity or a row of the documents table, and its answer text."""
        return cls(
            id=to_global_id("FaqEntry", doc.id),
            question=doc.title,
            answer=answer,
            status=DocumentStatus(doc.status),
            error=doc.error,
            created_at=doc.created_at,
            updated_at=doc.updated_at,
        )


@strawberry.type(description="The workspace's knowledge settings.")
class KnowledgeBase:
    """Embedding model and knowledge version."""

    embedding_model: str = strawberry.field(description="The model search uses now.")
    embedding_dimensions: int = strawberry.field(description="Vector size of that model.")
    pending_embedding_model: str | None = strawberry.field(
        description="The model being switched to; search moves over once re-embedding is done."
    )
    reembedding_since: dt.datetime | None = strawberry.field(
        description="When the switch to the pending model started."
    )
    version: int = strawberry.field(
        description="Goes up with every change of knowledge (cached answers key on it)."
    )
    chunk_count: int = strawberry.field(description="Searchable passages.")

    @classmethod
    def from_model(cls, kb: KnowledgeBaseModel) -> KnowledgeBase:
        """Convert a row."""
        return cls(
            embedding_model=kb.embedding_model,
            embedding_dimensions=kb.embedding_dims,
            pending_embedding_model=kb.target_model,
            reembedding_since=kb.reembed_started_at,
            version=kb.version,
            chunk_count=kb.chunk_count,
        )


@strawberry.type(description="A passage found by search.")
class SearchHit:
    """A retrieved passage with its scores."""

    chunk_id: strawberry.ID = strawberry.field(description="Id of the passage.")
    document_id: strawberry.ID = strawberry.field(description="Global id of its document.")
    document_title: str = strawberry.field(description="Title of its document.")
    heading_path: list[str] = strawberry.field(description="Headings the passage sits under.")
    text: str = strawberry.field(description="The passage.")
    score: float = strawberry.field(description="Fused reciprocal-rank score (higher is better).")
    similarity: float = strawberry.field(description="Cosine similarity to the query.")
    vector_rank: int | None = strawberry.field(description="Rank by meaning, if in that list.")
    keyword_rank: int | None = strawberry.field(description="Rank by words, if in that list.")
    relevant: bool = strawberry.field(
        description="True when close enough in meaning, or containing every word of the query."
    )

    @classmethod
    def from_passage(cls, passage: PassageResult) -> SearchHit:
        """Convert a search result."""
        chunk = passage.chunk
        is_faq = chunk.is_faq
        return cls(
            chunk_id=strawberry.ID(str(chunk.id)),
            document_id=to_global_id("FaqEntry" if is_faq else "Document", chunk.document_id),
            document_title=chunk.document_title,
            heading_path=list(chunk.heading_path),
            text=chunk.content,
            score=passage.score,
            similarity=passage.similarity,
            vector_rank=passage.vector_rank,
            keyword_rank=passage.keyword_rank,
            relevant=passage.relevant,
        )


def chunks_asked(info: Info) -> PageRequest | None:
    """The page `Document.chunks` will ask for below the current field (which resolves a
    document), when the operation selects it with one set of valid arguments; else None,
    and the field loads its page itself (and reports invalid arguments)."""
    asked = arguments(info, "chunks")
    if asked is None:
        return None
    try:
        return page_request(asked["first"], asked.get("after"))
    except ParleyError:
        return None
