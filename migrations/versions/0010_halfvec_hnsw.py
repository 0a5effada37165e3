"""HNSW indexes over half-precision copies of the vectors.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

Keeping the HNSW graph up to date was most of the cost of storing a chunk: about 3.6 ms per
384-dimension insert into a 130,000-vector graph, against ~0.3 ms for everything else the
chunk-writing transaction does (ops/bench/knowledge.py, docs/benchmarks/knowledge.md). An
index over `embedding::halfvec(N)` halves the bytes every distance of the graph search reads
and the size of the index, which made inserts about twice as fast and the build 1.7 times;
recall@10 for the benchmark's 30,000-chunk workspace went from 1.000 to 0.999 (target 0.98)
and its p99 latency down. The table keeps the float4 vector:
exact search and the similarities search reports still use it, so only the approximate
ordering of candidates sees the rounding.

The indexes are rebuilt here (writes to `chunks` wait meanwhile; about a minute per 100,000
chunks on two cores).
"""

from __future__ import annotations

from alembic import op

from app.knowledge.embedding.catalogue import SUPPORTED_DIMS

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _recreate(kind: str) -> None:
    for dims in SUPPORTED_DIMS:
        op.execute(f"DROP INDEX IF EXISTS ix_chunks_embedding_hnsw_{dims}")
        # m and ef_construction stay pgvector's defaults (16, 64): ef_construction 32 saved
        # less than the half-precision index did, and costs graph quality.
        op.execute(
            f"CREATE INDEX ix_chunks_embedding_hnsw_{dims} ON chunks "
            f"USING hnsw ((embedding::{kind}({dims})) {kind}_cosine_ops) "
            f"WHERE embedding_dims = {dims}"
        )


def upgrade() -> None:
    _recreate("halfvec")


def downgrade() -> None:
    _recreate("vector")
