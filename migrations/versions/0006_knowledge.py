"""Knowledge base and assistant: documents, chunks with pgvector, conversations, messages.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22

Chunks of every embedding model share one table. The `embedding` column has no fixed
dimension; each supported dimension gets a partial HNSW index over `embedding::vector(N)`
restricted to `embedding_dims = N`, which is how pgvector indexes vectors of several sizes in
one column. There is deliberately no GIN index on `tsv`: under row-level security the `@@`
operator is not leakproof, so PostgreSQL may not use it as an index condition for the
application role, and the index would only slow down writes. Keyword search reads the
workspace's rows through `ix_chunks_workspace_id_embedding_model` instead.
"""

from __future__ import annotations

from alembic import op

from app.config import get_settings
from app.db.rls import tenant_table_sql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Keep in step with app/knowledge/embedding/catalogue.py:SUPPORTED_DIMS.
SUPPORTED_DIMS = (384, 768, 1024, 1536)

DDL = """
CREATE TABLE knowledge_bases (
    workspace_id uuid PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    embedding_model varchar(100) NOT NULL,
    embedding_dims smallint NOT NULL,
    target_model varchar(100),
    target_dims smallint,
    reembed_started_at timestamptz,
    version bigint NOT NULL DEFAULT 1,
    chunk_count bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ck_knowledge_bases_target_complete
        CHECK ((target_model IS NULL) = (target_dims IS NULL))
);

CREATE TABLE documents (
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id uuid NOT NULL,
    kind varchar(16) NOT NULL CONSTRAINT ck_documents_kind
        CHECK (kind IN ('text', 'markdown', 'html', 'pdf', 'faq')),
    title varchar(300) NOT NULL,
    filename varchar(255),
    content_type varchar(100),
    size_bytes bigint NOT NULL,
    sha256 bytea NOT NULL,
    revision integer NOT NULL DEFAULT 1,
    status varchar(16) NOT NULL CONSTRAINT ck_documents_status
        CHECK (status IN ('queued', 'processing', 'ready', 'failed')),
    error text,
    attempts integer NOT NULL DEFAULT 0,
    chunk_count integer NOT NULL DEFAULT 0,
    created_by uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    CONSTRAINT pk_documents PRIMARY KEY (workspace_id, id)
);
CREATE INDEX ix_documents_workspace_id_kind_id ON documents (workspace_id, kind, id);

CREATE TABLE document_sources (
    workspace_id uuid NOT NULL,
    document_id uuid NOT NULL,
    revision integer NOT NULL,
    content bytea NOT NULL,
    CONSTRAINT pk_document_sources PRIMARY KEY (workspace_id, document_id),
    CONSTRAINT fk_document_sources_workspace_id_document_id_documents
        FOREIGN KEY (workspace_id, document_id)
        REFERENCES documents (workspace_id, id) ON DELETE CASCADE
);

CREATE TABLE chunks (
    workspace_id uuid NOT NULL,
    id uuid NOT NULL,
    document_id uuid NOT NULL,
    revision integer NOT NULL,
    position integer NOT NULL,
    embedding_model varchar(100) NOT NULL,
    embedding_dims smallint NOT NULL,
    heading_path text[] NOT NULL DEFAULT '{}',
    content text NOT NULL,
    token_count integer NOT NULL,
    is_faq boolean NOT NULL DEFAULT false,
    tsv tsvector NOT NULL,
    embedding vector NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_chunks PRIMARY KEY (workspace_id, id),
    CONSTRAINT uq_chunks_workspace_id_document_id_embedding_model_position
        UNIQUE (workspace_id, document_id, embedding_model, position),
    CONSTRAINT fk_chunks_workspace_id_document_id_documents
        FOREIGN KEY (workspace_id, document_id)
        REFERENCES documents (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT ck_chunks_dims CHECK (vector_dims(embedding) = embedding_dims)
);
-- Keep rows of up to ~8 KB whole in the heap page instead of compressing or moving their
-- largest values (the vector, the tsvector) to the TOAST table: exact search and keyword
-- search read every row of a workspace, and fetching each value back from TOAST made that
-- several times slower (ops/bench/knowledge.py). Only 1536-dimension vectors still overflow.
ALTER TABLE chunks SET (toast_tuple_target = 8160);
CREATE INDEX ix_chunks_workspace_id_embedding_model ON chunks (workspace_id, embedding_model);
CREATE INDEX ix_chunks_faq ON chunks (workspace_id, embedding_model) WHERE is_faq;

CREATE TABLE conversations (
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id uuid NOT NULL,
    visitor_id varchar(128),
    user_id uuid,
    api_key_id uuid,
    title varchar(200) NOT NULL,
    message_count integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_message_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_conversations PRIMARY KEY (workspace_id, id)
);
CREATE INDEX ix_conversations_workspace_id_visitor_id_id
    ON conversations (workspace_id, visitor_id, id) WHERE visitor_id IS NOT NULL;

CREATE TABLE messages (
    workspace_id uuid NOT NULL,
    id uuid NOT NULL,
    conversation_id uuid NOT NULL,
    role varchar(16) NOT NULL CONSTRAINT ck_messages_role CHECK (role IN ('user', 'assistant')),
    reply_to uuid,
    content text NOT NULL DEFAULT '',
    status varchar(16) NOT NULL CONSTRAINT ck_messages_status
        CHECK (status IN ('pending', 'streaming', 'complete', 'failed')),
    mode varchar(16) CONSTRAINT ck_messages_mode
        CHECK (mode IN ('generated', 'extractive', 'faq', 'no_answer')),
    cached boolean NOT NULL DEFAULT false,
    citations jsonb NOT NULL DEFAULT '[]'::jsonb,
    input_tokens integer NOT NULL DEFAULT 0,
    output_tokens integer NOT NULL DEFAULT 0,
    error text,
    feedback varchar(16) CONSTRAINT ck_messages_feedback
        CHECK (feedback IN ('helpful', 'not_helpful')),
    feedback_comment text,
    feedback_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    CONSTRAINT pk_messages PRIMARY KEY (workspace_id, id),
    CONSTRAINT fk_messages_workspace_id_conversation_id_conversations
        FOREIGN KEY (workspace_id, conversation_id)
        REFERENCES conversations (workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX ix_messages_workspace_id_conversation_id_id
    ON messages (workspace_id, conversation_id, id);
"""

TENANT_TABLES = (
    "knowledge_bases",
    "documents",
    "document_sources",
    "chunks",
    "conversations",
    "messages",
)


def upgrade() -> None:
    app = get_settings().database.app_role
    for statement in DDL.split(";\n"):
        if statement.strip():
            op.execute(statement)
    for dims in SUPPORTED_DIMS:
        # m and ef_construction are pgvector's defaults; ops/bench/search.py measures recall
        # and latency with them.
        op.execute(
            f"CREATE INDEX ix_chunks_embedding_hnsw_{dims} ON chunks "
            f"USING hnsw ((embedding::vector({dims})) vector_cosine_ops) "
            f"WHERE embedding_dims = {dims}"
        )
    for table in TENANT_TABLES:
        for sql in tenant_table_sql(table, app):
            op.execute(sql)


def downgrade() -> None:
    for table in reversed(TENANT_TABLES):
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
