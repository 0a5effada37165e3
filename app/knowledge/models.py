"""Tables of the knowledge base.

Every table starts its keys with `workspace_id` and is isolated by row-level security
(migration 0003). Chunks carry the embedding model that produced their vector: while a
workspace re-embeds, two sets of chunks exist side by side and search reads only the set of
the workspace's active model.
"""

from __future__ import annotations

import datetime as dt
import uuid

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, created_at_column
from app.knowledge.embedding.catalogue import SUPPORTED_DIMS


class KnowledgeBase(Base):
    """A workspace's knowledge settings: its embedding model and the knowledge version.

    `version` goes up with every change of knowledge (a document ready, replaced or deleted,
    an FAQ entry changed, a model switch); answer cache keys include it, so a change makes
    every cached answer of the workspace unreachable at once.
    """

    __tablename__ = "knowledge_bases"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    embedding_model: Mapped[str] = mapped_column(String(100))
    embedding_dims: Mapped[int] = mapped_column(SmallInteger)
    target_model: Mapped[str | None] = mapped_column(String(100))
    target_dims: Mapped[int | None] = mapped_column(SmallInteger)
    reembed_started_at: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column(BigInteger, default=1)
    # Chunks of the active model. Search uses it to choose between an exact scan and the
    # HNSW index; a wrong value costs speed, never results (see app/knowledge/search.py).
    chunk_count: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = created_at_column()


class Document(Base):
    """A document or FAQ entry and where its processing stands."""

    __tablename__ = "documents"
    __table_args__ = (Index("ix_documents_workspace_id_kind_id", "workspace_id", "kind", "id"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(300))
    filename: Mapped[str | None] = mapped_column(String(255))
    content_type: Mapped[str | None] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[bytes] = mapped_column(LargeBinary)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[uuid.UUID | None]
    source_url: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = created_at_column()
    processed_at: Mapped[dt.datetime | None]


class DocumentSource(Base):
    """The bytes a document was created from (the answer text, for an FAQ entry)."""

    __tablename__ = "document_sources"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "document_id"],
            ["documents.workspace_id", "documents.id"],
            ondelete="CASCADE",
        ),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    document_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)


class Chunk(Base):
    """One passage of a document, embedded by one model.

    The `embedding` column has no fixed dimension; each supported dimension has its own
    partial HNSW index over `embedding::vector(N)` (migration 0003), and `embedding_dims`
    says which one a row belongs to.
    """

    __tablename__ = "chunks"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "document_id"],
            ["documents.workspace_id", "documents.id"],
            ondelete="CASCADE",
        ),
        UniqueConstraint(
            "workspace_id",
            "document_id",
            "embedding_model",
            "position",
            name="uq_chunks_workspace_id_document_id_embedding_model_position",
        ),
        Index("ix_chunks_workspace_id_embedding_model", "workspace_id", "embedding_model"),
        Index("ix_chunks_faq", "workspace_id", "embedding_model", postgresql_where=text("is_faq")),
        *(
            Index(
                f"ix_chunks_embedding_hnsw_{dims}",
                text(f"(embedding::vector({dims})) vector_cosine_ops"),
                postgresql_using="hnsw",
                postgresql_where=text(f"embedding_dims = {dims}"),
            )
            for dims in SUPPORTED_DIMS
        ),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    document_id: Mapped[uuid.UUID]
    revision: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    embedding_model: Mapped[str] = mapped_column(String(100))
    embedding_dims: Mapped[int] = mapped_column(SmallInteger)
    heading_path: Mapped[list[str]] = mapped_column(ARRAY(Text))
    content: Mapped[str] = mapped_column(Text)
    token_count: Mapped[int] = mapped_column(Integer)
    is_faq: Mapped[bool] = mapped_column(Boolean, default=False)
    tsv: Mapped[str] = mapped_column(TSVECTOR)
    # Deferred: ORM reads of chunks never need the vector; search reads it in SQL.
    embedding: Mapped[list[float]] = mapped_column(Vector(), deferred=True)
    created_at: Mapped[dt.datetime] = created_at_column()
