"""The benchmark's data: workspaces, authors, documents and chunks, made in bulk by SQL.

Rows are generated inside PostgreSQL (`INSERT ... SELECT generate_series`) as the superuser,
so 100,000 documents and 1,000,000 chunks take about a minute instead of an hour of ORM calls.
The schema is the real one (migrated by `app.db.bootstrap.migrate`), with its row-level
security, so every server reads the rows as the application role under the same policies.

Chunk embeddings are random 8-dimensional vectors under a made-up model `bench-8`: the
column has no fixed dimension and the HNSW indexes are partial per supported dimension, so
these rows stay out of them (building HNSW over a million vectors would take longer than the
whole benchmark, and no operation here searches).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import asyncpg

AUTHORS_PER_WORKSPACE = 10
CHUNKS_PER_DOCUMENT = 10
BENCH_MODEL = "bench-8"
BENCH_DIMS = 8


@dataclass(frozen=True)
class Dataset:
    """What the load needs to know about the rows: who calls, where, and about what."""

    user_id: uuid.UUID
    session_id: uuid.UUID
    workspaces: list[uuid.UUID]
    documents: dict[uuid.UUID, list[uuid.UUID]]  # a sample of document ids per workspace


SQL_WORKSPACES = """
INSERT INTO workspaces (id, name, slug)
SELECT uuidv7(), 'Bench ' || n, 'bench-' || n FROM generate_series(1, $1) AS n
"""

# One login user, member of every workspace (the dashboard caller), plus authors per workspace.
SQL_USERS = """
INSERT INTO users (id, email, display_name, password_hash)
SELECT uuidv7(), 'a' || a || '.' || w.id || '@bench.invalid', 'Author ' || a || ' of ' || w.name,
       'x'
FROM workspaces AS w, generate_series(1, $1) AS a
"""

SQL_MEMBERS = """
INSERT INTO memberships (workspace_id, user_id, role)
SELECT w.id, u.id, 'member'
FROM workspaces AS w JOIN users AS u ON u.email LIKE '%.' || w.id || '@bench.invalid'
"""

SQL_KNOWLEDGE_BASES = """
INSERT INTO knowledge_bases (workspace_id, embedding_model, embedding_dims, chunk_count)
SELECT id, $1, $2, $3 FROM workspaces
"""

# uuidv7() is monotonic within a backend, so ids (Parley's "newest first" order) follow n;
# created_at goes back one minute per document to agree with them.
SQL_DOCUMENTS = """
INSERT INTO documents (workspace_id, id, kind, title, filename, content_type, size_bytes,
                       sha256, status, chunk_count, created_by, created_at, updated_at,
                       processed_at)
SELECT w.id, uuidv7(), 'markdown', 'Document ' || d || ' of ' || w.name, 'doc' || d || '.md',
       'text/markdown', 2000 + d, sha256(convert_to(w.id::text || d, 'UTF8')), 'ready', $2,
       (SELECT u.id FROM users AS u
        WHERE lower(u.email) = 'a' || (d % $3 + 1) || '.' || w.id || '@bench.invalid'),
       now() - make_interval(mins => $1 - d), now() - make_interval(mins => $1 - d),
       now() - make_interval(mins => $1 - d)
FROM workspaces AS w, generate_series(1, $1) AS d
ORDER BY w.id, d
"""

SQL_CHUNKS = """
INSERT INTO chunks (workspace_id, id, document_id, revision, position, embedding_model,
                    embedding_dims, heading_path, content, token_count, tsv, embedding)
SELECT d.workspace_id, uuidv7(), d.id, 1, p, $1, $2, ARRAY['Section ' || p],
       'Passage ' || p || ' of ' || d.title || '. ' || repeat(md5(d.id::text || p), 6),
       60, ''::tsvector,
       ARRAY[random(), random(), random(), random(),
             random(), random(), random(), random()]::real[]::vector
FROM documents AS d, generate_series(0, $3 - 1) AS p
"""

SQL_SESSION = """
INSERT INTO auth_sessions (id, user_id, expires_at) VALUES ($1, $2, now() + interval '2 days')
"""


async def build(admin_url: str, workspaces: int, documents: int) -> Dataset:
    """Fill the (empty, migrated) database and return what the load needs."""
    conn = await asyncpg.connect(admin_url)
    try:
        started = time.perf_counter()
        async with conn.transaction():
            await conn.execute(SQL_WORKSPACES, workspaces)
            await conn.execute(SQL_USERS, AUTHORS_PER_WORKSPACE)
            await conn.execute(SQL_MEMBERS)
            user_id, session_id = uuid.uuid4(), uuid.uuid4()
            await conn.execute(
                "INSERT INTO users (id, email, display_name, password_hash) "
                "VALUES ($1, 'dashboard@bench.invalid', 'Dashboard user', 'x')",
                user_id,
            )
            await conn.execute(
                "INSERT INTO memberships (workspace_id, user_id, role) "
                "SELECT id, $1, 'admin' FROM workspaces",
                user_id,
            )
            await conn.execute(SQL_SESSION, session_id, user_id)
            await conn.execute(
                SQL_KNOWLEDGE_BASES, BENCH_MODEL, BENCH_DIMS, documents * CHUNKS_PER_DOCUMENT
            )
            await conn.execute(SQL_DOCUMENTS, documents, CHUNKS_PER_DOCUMENT, AUTHORS_PER_WORKSPACE)
        docs_done = time.perf_counter()
        await conn.execute(SQL_CHUNKS, BENCH_MODEL, BENCH_DIMS, CHUNKS_PER_DOCUMENT)
        chunks_done = time.perf_counter()
        await conn.execute("VACUUM ANALYZE")
        ws_ids = [r["id"] for r in await conn.fetch("SELECT id FROM workspaces ORDER BY id")]
        sample: dict[uuid.UUID, list[uuid.UUID]] = {}
        rows = await conn.fetch(
            "SELECT workspace_id, id FROM (SELECT workspace_id, id, row_number() OVER "
            "(PARTITION BY workspace_id ORDER BY id) AS n FROM documents) AS d "
            "WHERE n % 10 = 1"
        )
        for row in rows:
            sample.setdefault(row["workspace_id"], []).append(row["id"])
        print(
            f"  dataset: {workspaces} workspaces x {documents} documents x "
            f"{CHUNKS_PER_DOCUMENT} chunks; documents {docs_done - started:.1f}s, chunks "
            f"{chunks_done - docs_done:.1f}s, vacuum {time.perf_counter() - chunks_done:.1f}s",
            flush=True,
        )
        return Dataset(user_id, session_id, ws_ids, sample)
    finally:
        await conn.close()
