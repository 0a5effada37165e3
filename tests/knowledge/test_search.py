"""Hybrid search: the exact and HNSW paths, the never-short guarantee, and tenant isolation."""

import random
import uuid

import pytest
from sqlalchemy import text

from app.config import KnowledgeSettings
from app.db.ids import uuid7
from app.db.tenant import tenant_transaction
from app.knowledge import repository
from app.knowledge.embedding.catalogue import KNOWN
from app.knowledge.models import Document
from app.knowledge.repository import ChunkRow
from app.knowledge.search import nearest
from app.state import AppState
from tests.support.ai import Stack
from tests.support.knowledge import add_document, row_id

MINI = KNOWN["all-MiniLM-L6-v2"]


def unit(vector: list[float]) -> list[float]:
    norm = sum(v * v for v in vector) ** 0.5
    return [v / norm for v in vector]


def around(center: list[float], rng: random.Random, spread: float) -> list[float]:
    return unit([c + rng.gauss(0, spread) for c in center])


async def seed(state: AppState, workspace_id: uuid.UUID, vectors: list[list[float]]) -> None:
    """Store synthetic 384-dimensional chunks for a workspace (one document)."""
    async with tenant_transaction(state.sessions, workspace_id) as session:
        await repository.create_knowledge_base(session, workspace_id, MINI.name, MINI.dims)
        doc = Document(
            workspace_id=workspace_id,
            id=uuid7(),
            kind="text",
            title="synthetic",
            size_bytes=1,
            sha256=b"x",
            revision=1,
            status="ready",
            attempts=1,
            chunk_count=len(vectors),
        )
        await repository.insert_document(session, doc, b"x")
        rows = [
            ChunkRow(uuid7(), doc.id, 1, i, (), f"chunk {i}", 2, False, vector)
            for i, vector in enumerate(vectors)
        ]
        await repository.insert_chunks(session, workspace_id, MINI.name, MINI.dims, rows)


async def exact_ids(state: AppState, ws: uuid.UUID, query: list[float], k: int) -> list[uuid.UUID]:
    async with tenant_transaction(state.sessions, ws) as session:
        rows = await repository.vector_exact(session, ws, MINI.name, MINI.dims, query, k)
    return [r[0] for r in rows]


async def test_small_workspace_in_a_big_table_never_comes_back_short(extractive: Stack) -> None:
    rng = random.Random(7)
    big_center = unit([rng.gauss(0, 1) for _ in range(384)])
    far_center = unit([-c for c in big_center])
    big, small = (await extractive.factory.tenant("Big"), await extractive.factory.tenant("Small"))
    big_ws, small_ws = row_id(big.id), row_id(small.id)
    await seed(extractive.state, big_ws, [around(big_center, rng, 0.02) for _ in range(400)])
    await seed(extractive.state, small_ws, [around(far_center, rng, 0.02) for _ in range(6)])
    # Force the index path even for tiny workspaces, with a scan budget too small to reach the
    # small workspace's rows: the HNSW scan alone returns fewer rows than it has. (At this
    # table size the planner would rather sort the workspace's few rows; disabling sorts makes
    # it take the HNSW index, as it does by itself on big tables.)
    knobs = KnowledgeSettings(exact_search_below=1, hnsw_ef_search=10, hnsw_max_scan_tuples=20)
    query = around(big_center, rng, 0.02)
    async with tenant_transaction(extractive.state.sessions, small_ws) as session:
        await session.execute(text("SET LOCAL enable_sort = off"))
        raw = await repository.vector_approximate(
            session, small_ws, MINI.name, MINI.dims, query, 5, ef_search=10, max_scan_tuples=20
        )
        found, strategy = await nearest(session, small_ws, MINI, query, 5, knobs, size_hint=6)
    assert len(raw) < 5  # what a filtered HNSW scan alone would have returned
    assert strategy == "hnsw+exact"
    assert [f[0] for f in found] == await exact_ids(extractive.state, small_ws, query, 5)

    # The big workspace through HNSW: ten rows, the same ten as exact search.
    knobs = KnowledgeSettings(exact_search_below=100)
    async with tenant_transaction(extractive.state.sessions, big_ws) as session:
        found, strategy = await nearest(session, big_ws, MINI, query, 10, knobs, size_hint=400)
    assert strategy == "hnsw"
    assert len(found) == 10
    assert {f[0] for f in found} == set(await exact_ids(extractive.state, big_ws, query, 10))

    # Small workspaces are searched exactly by default.
    async with tenant_transaction(extractive.state.sessions, small_ws) as session:
        found, strategy = await nearest(
            session, small_ws, MINI, query, 10, KnowledgeSettings(), size_hint=6
        )
    assert (strategy, len(found)) == ("exact", 6)


async def test_search_returns_k_and_ranks_the_matching_passage_first(extractive: Stack) -> None:
    tenant = await extractive.factory.tenant()
    topics = ["parking garage", "vegan lunch menu", "wifi password", "fire drill", "holiday rota"]
    for topic in topics:
        await add_document(tenant, f"Our {topic} details are on the office wiki.", "TEXT")
    await extractive.drain()
    hits = (await tenant.gql.op("Search", {"query": "what is the wifi password", "k": 3})).data[
        "search"
    ]
    assert len(hits) == 3
    assert hits[0]["text"] == "Our wifi password details are on the office wiki."
    assert hits[0]["relevant"] is True
    assert (hits[0]["vectorRank"], hits[0]["keywordRank"]) == (1, 1)
    assert hits[0]["score"] > hits[1]["score"]
    everything = (await tenant.gql.op("Search", {"query": "office wiki", "k": 50})).data["search"]
    assert len(everything) == 5  # k larger than the workspace: every passage, no more
    unrelated = (await tenant.gql.op("Search", {"query": "quantum chromodynamics", "k": 3})).data
    assert [h["relevant"] for h in unrelated["search"]] == [False, False, False]
    bad = await tenant.gql.op("Search", {"query": "x", "k": 0})
    assert bad.code == "VALIDATION"


async def test_workspace_b_never_sees_workspace_a(extractive: Stack) -> None:
    a, b = await extractive.factory.tenant("A"), await extractive.factory.tenant("B")
    same = "The vault combination is kept by the night manager."
    doc_a = await add_document(a, same, "TEXT")
    await extractive.drain()
    # B has nothing yet: A's identical passage must not show up.
    assert [
        h["relevant"]
        for h in (await b.gql.op("Search", {"query": "vault combination", "k": 5})).data["search"]
    ] == []
    doc_b = await add_document(b, same, "TEXT")
    await extractive.drain()
    hits = (await b.gql.op("Search", {"query": "vault combination", "k": 5})).data["search"]
    assert [h["documentId"] for h in hits] == [doc_b["id"]]
    # A's document is invisible and untouchable from B.
    assert (await b.gql.op("Document", {"id": doc_a["id"]})).data["document"] is None
    assert (await b.gql.op("Node", {"id": doc_a["id"]})).data["node"] is None
    assert (await b.gql.op("DeleteDocument", {"id": doc_a["id"]})).code == "NOT_FOUND"
    replaced = await b.gql.op("ReplaceDocument", {"input": {"id": doc_a["id"], "content": "x"}})
    assert replaced.code == "NOT_FOUND"
    # At the SQL level, row-level security hides A's chunks from B's transactions entirely.
    async with tenant_transaction(extractive.state.sessions, row_id(b.id)) as session:
        visible = await session.scalar(
            text("SELECT count(*) FROM chunks WHERE document_id = :d"),
            {"d": row_id(doc_a["id"])},
        )
    async with tenant_transaction(extractive.state.sessions, None) as session:
        untenanted = await session.scalar(text("SELECT count(*) FROM chunks"))
    assert (visible, untenanted) == (0, 0)


async def test_one_statement_batch_keeps_each_rows_headings_vector_and_words(
    extractive: Stack,
) -> None:
    tenant = await extractive.factory.tenant()
    ws = row_id(tenant.id)
    rng = random.Random(11)
    vectors = [unit([rng.gauss(0, 1) for _ in range(384)]) for _ in range(4)]
    headings: list[tuple[str, ...]] = [("Setup", "Wiring"), (), ("Returns",), ("A", "B", "C")]
    await seed(extractive.state, ws, vectors[:1])  # the knowledge base row and a document
    async with tenant_transaction(extractive.state.sessions, ws) as session:
        doc = await session.scalar(text("SELECT document_id FROM chunks"))
        await session.execute(text("DELETE FROM chunks"))
        rows = [
            ChunkRow(uuid7(), doc, 3, i, heading, f"passage number {i} mentions kettles", 5,
                     i == 2, vector)
            for i, (heading, vector) in enumerate(zip(headings, vectors, strict=True))
        ]  # fmt: skip
        await repository.insert_chunks(session, ws, MINI.name, MINI.dims, rows)
        # Run again with skip_existing: every position is taken, so nothing changes.
        again = [
            ChunkRow(uuid7(), doc, 3, r.position, (), "x", 1, False, r.embedding) for r in rows
        ]
        await repository.insert_chunks(session, ws, MINI.name, MINI.dims, again, skip_existing=True)
        stored = (
            await session.execute(
                text(
                    "SELECT position, heading_path, content, revision, is_faq, "
                    "embedding::real[] AS v, tsv @@ to_tsquery('english', 'wiring') AS w, "
                    "tsv @@ to_tsquery('english', 'kettle') AS k "
                    "FROM chunks ORDER BY position"
                )
            )
        ).all()
    assert [(r.position, tuple(r.heading_path)) for r in stored] == list(enumerate(headings))
    assert [r.content for r in stored] == [f"passage number {i} mentions kettles" for i in range(4)]
    assert {r.revision for r in stored} == {3}
    assert [r.is_faq for r in stored] == [False, False, True, False]
    for row, vector in zip(stored, vectors, strict=True):
        assert max(abs(a - b) for a, b in zip(row.v, vector, strict=True)) < 1e-6
    assert [r.w for r in stored] == [True, False, False, False]  # headings are searchable
    assert all(r.k for r in stored)
    async with tenant_transaction(extractive.state.sessions, ws) as session:
        wrong = [ChunkRow(uuid7(), doc, 3, 9, (), "short", 1, False, [0.1] * 383)]
        with pytest.raises(ValueError, match="383-dimension"):
            await repository.insert_chunks(session, ws, MINI.name, MINI.dims, wrong)
