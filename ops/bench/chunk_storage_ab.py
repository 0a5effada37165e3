"""A/B measurements behind the chunk-storage choices. Prints figures; asserts nothing.

    .venv/bin/python ops/bench/chunk_storage_ab.py                 # all sections (~6 minutes)
    .venv/bin/python ops/bench/chunk_storage_ab.py --sections index,deferred

Loads the same 130,000-chunk table as `knowledge.py --sections search` (its own temporary
PostgreSQL), then:

index     Per-chunk cost of the INSERT statement (50 rows, application role, row-level
          security) under HNSW variants: `vector` or `halfvec`, ef_construction 64 or 32; each
          built twice, alternating.
insert    store_chunks with the old pipelined executemany against the current single
          `unnest` INSERT, HNSW index dropped so the rest of the path shows (medians of 5).
wal       WAL written per chunk (records, full-page images, bytes) with the HNSW index, in
          three runs of 800 chunks after a checkpoint; and with full_page_writes off, as a
          diagnostic of what the page images cost.
deferred  What deferring graph maintenance would give: a flag column, the HNSW index only
          over folded rows, the write path's chunks/s, then the fold (`UPDATE … SET indexed =
          true`) in chunks/s. Runs last: it changes the table.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import asyncpg

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE)]

import knowledge as kb  # noqa: E402

from app.db.ids import uuid7  # noqa: E402
from app.knowledge import repository  # noqa: E402
from app.knowledge.ingest import store_chunks  # noqa: E402
from app.knowledge.repository import ChunkRow  # noqa: E402
from app.state import AppState  # noqa: E402

PER_DOC = 50
INDEX = "ix_chunks_embedding_hnsw_384"

# The statement store_chunks used before the single unnest INSERT, for the contrast.
_OLD_INSERT = """
INSERT INTO chunks (workspace_id, id, document_id, revision, position, embedding_model,
                    embedding_dims, heading_path, content, token_count, is_faq, tsv, embedding)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
        setweight(to_tsvector('english', array_to_string($8::text[], ' ')), 'A')
          || to_tsvector('english', $9),
        $12::real[]::vector)
"""


async def executemany_insert(
    session: Any,
    workspace_id: uuid.UUID,
    model: str,
    dims: int,
    rows: Sequence[ChunkRow],
    *,
    skip_existing: bool = False,
) -> None:
    raw = await (await session.connection()).get_raw_connection()
    await raw.driver_connection.executemany(
        _OLD_INSERT,
        [
            (workspace_id, r.id, r.document_id, r.revision, r.position, model, dims,
             list(r.heading_path), r.content, r.token_count, r.is_faq, list(r.embedding))
            for r in rows
        ],
    )  # fmt: skip


class Lab:
    """The loaded database, an admin connection, and the writing helpers."""

    def __init__(self, env: kb.Env, corpus: kb.Corpus, state: AppState, admin: Any) -> None:
        self.env, self.corpus, self.state, self.admin = env, corpus, state, admin

    async def workspace(self, docs: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
        ws = uuid7()
        await self.admin.execute(
            "INSERT INTO workspaces (id, name, slug) VALUES ($1, 'ab', $2)", ws, ws.hex
        )
        await self.admin.execute(
            "INSERT INTO knowledge_bases (workspace_id, embedding_model, embedding_dims) "
            "VALUES ($1, $2, 384)",
            ws,
            kb.MINI.name,
        )
        ids = [uuid7() for _ in range(docs)]
        for doc in ids:
            await self.admin.execute(
                "INSERT INTO documents (workspace_id, id, kind, title, size_bytes, sha256, "
                "status) VALUES ($1, $2, 'text', 'ab', 0, '\\x00', 'processing')",
                ws,
                doc,
            )
        return ws, ids

    def drafts(self) -> tuple[list[kb.ChunkDraft], dict[str, list[list[float]]]]:
        topics = self.corpus.rng.choice(len(self.corpus.centroids), size=PER_DOC)
        items = [
            kb.ChunkDraft(i, ("Guide", f"Part {i}"), kb.english(self.corpus, 150), 190)
            for i in range(PER_DOC)
        ]
        return items, {kb.MINI.name: self.corpus.around(topics).tolist()}

    async def write(self, writers: int, docs: int) -> float:
        """store_chunks from `writers` concurrent workspaces; chunks/s."""
        jobs = [await self.workspace(docs) for _ in range(writers)]
        work = [(ws, ids, [self.drafts() for _ in ids]) for ws, ids in jobs]

        async def writer(ws: uuid.UUID, ids: list[uuid.UUID], made: list[Any]) -> int:
            for doc, (items, vectors) in zip(ids, made, strict=True):
                outcome = await store_chunks(self.state, ws, doc, 1, items, vectors)
                assert not isinstance(outcome, list) and outcome.status == "ready", outcome
            return len(ids) * PER_DOC

        t0 = time.perf_counter()
        counts = await asyncio.gather(*(writer(*job) for job in work))
        return sum(counts) / (time.perf_counter() - t0)

    async def index_def(self) -> str:
        return str(
            await self.admin.fetchval("SELECT indexdef FROM pg_indexes WHERE indexname = $1", INDEX)
        )


async def section_index(lab: Lab) -> None:
    kb.say("== index: per-chunk INSERT cost under HNSW variants ==")
    original = await lab.index_def()
    app = await asyncpg.connect(lab.env.app_url.replace("postgresql+asyncpg", "postgresql"))
    # Alternating, twice over: on a shared machine one pass of each says little.
    variants = [("vector", 64), ("halfvec", 64), ("vector", 32), ("halfvec", 32)] * 2
    for kind, ef in variants:
        await lab.admin.execute(f"DROP INDEX {INDEX}")
        t0 = time.perf_counter()
        await lab.admin.execute(
            f"CREATE INDEX {INDEX} ON chunks USING hnsw ((embedding::{kind}(384)) "
            f"{kind}_cosine_ops) WITH (m = 16, ef_construction = {ef}) WHERE embedding_dims = 384"
        )
        built = time.perf_counter() - t0
        ws, (doc,) = await lab.workspace(1)
        times = []
        for start in range(0, 1000, PER_DOC):
            items, vectors = lab.drafts()
            rows = [
                ChunkRow(uuid7(), doc, 1, start + d.position, d.heading_path, d.text, 190, False, v)
                for d, v in zip(items, vectors[kb.MINI.name], strict=True)
            ]
            async with app.transaction():
                await app.execute("SELECT set_config('app.workspace_id', $1, true)", str(ws))
                t0 = time.perf_counter()
                await app.execute(
                    repository._INSERT_CHUNKS,
                    *insert_args(ws, rows),
                )
                times.append((time.perf_counter() - t0) / PER_DOC)
        kb.say(
            f"  {kind} m=16 ef_construction={ef}: build {built:.1f}s; INSERT median "
            f"{statistics.median(times) * 1e3:.2f} ms per chunk"
        )
    await app.close()
    await lab.admin.execute(f"DROP INDEX {INDEX}")
    await lab.admin.execute(original)


def insert_args(ws: uuid.UUID, rows: Sequence[ChunkRow]) -> list[Any]:
    """repository._INSERT_CHUNKS's parameters (what insert_chunks sends)."""
    headings: list[str] = []
    starts, ends, vectors = [], [], []
    for row in rows:
        starts.append(len(headings) + 1)
        headings.extend(row.heading_path)
        ends.append(len(headings))
        vectors.extend(row.embedding)
    return [
        ws, kb.MINI.name, 384, vectors, 384, headings, [r.id for r in rows],
        [r.document_id for r in rows], [r.revision for r in rows], [r.position for r in rows],
        [r.content for r in rows], [r.token_count for r in rows], [r.is_faq for r in rows],
        starts, ends,
    ]  # fmt: skip


async def section_insert(lab: Lab) -> None:
    kb.say("== insert: executemany vs one unnest INSERT, no HNSW index ==")
    original = await lab.index_def()
    await lab.admin.execute(f"DROP INDEX {INDEX}")
    current = repository.insert_chunks
    variants: list[tuple[str, Callable[..., Awaitable[None]]]] = [
        ("executemany", executemany_insert),
        ("unnest", current),
    ]
    rates: dict[tuple[str, int], list[float]] = {}
    try:
        for _ in range(5):
            for writers in (1, 2):
                for name, insert in variants:
                    repository.insert_chunks = insert  # type: ignore[assignment]
                    rates.setdefault((name, writers), []).append(await lab.write(writers, 12))
    finally:
        repository.insert_chunks = current
    for (name, writers), values in rates.items():
        kb.say(
            f"  {name}, {writers} writer(s): median {statistics.median(values):,.0f} chunks/s "
            f"({', '.join(f'{v:,.0f}' for v in values)})"
        )
    await lab.admin.execute(original)


async def section_wal(lab: Lab) -> None:
    kb.say("== wal: WAL per chunk with the HNSW index ==")

    async def runs(label: str) -> None:
        await lab.admin.execute("CHECKPOINT")
        for n in range(3):
            before = await lab.admin.fetchrow("SELECT wal_fpi, wal_bytes FROM pg_stat_wal")
            rate = await lab.write(1, 16)
            after = await lab.admin.fetchrow("SELECT wal_fpi, wal_bytes FROM pg_stat_wal")
            chunks = 16 * PER_DOC
            kb.say(
                f"  {label}, run {n + 1} after a checkpoint: {rate:,.0f} chunks/s; per chunk "
                f"{(after[0] - before[0]) / chunks:.1f} page images, "
                f"{(after[1] - before[1]) / chunks / 1024:,.1f} KB"
            )

    await runs("full_page_writes on")
    await lab.admin.execute("ALTER SYSTEM SET full_page_writes = off")
    await lab.admin.execute("SELECT pg_reload_conf()")
    try:
        await runs("full_page_writes off (diagnostic only)")
    finally:
        await lab.admin.execute("ALTER SYSTEM RESET full_page_writes")
        await lab.admin.execute("SELECT pg_reload_conf()")


async def section_deferred(lab: Lab) -> None:
    kb.say("== deferred: graph maintenance off the write path (flag column) ==")
    definition = await lab.index_def()
    await lab.admin.execute("ALTER TABLE chunks ADD COLUMN indexed boolean NOT NULL DEFAULT true")
    await lab.admin.execute("ALTER TABLE chunks ALTER COLUMN indexed SET DEFAULT false")
    await lab.admin.execute(f"DROP INDEX {INDEX}")
    await lab.admin.execute(
        definition.replace("(embedding_dims = 384)", "(embedding_dims = 384 AND indexed)")
    )
    await lab.admin.execute(
        "CREATE INDEX ix_chunks_unfolded ON chunks (workspace_id, embedding_model) "
        "WHERE NOT indexed"
    )
    for writers in (1, 2):
        kb.say(f"  write path, {writers} writer(s): {await lab.write(writers, 12):,.0f} chunks/s")
    pending = await lab.admin.fetchval("SELECT count(*) FROM chunks WHERE NOT indexed")
    t0 = time.perf_counter()
    await lab.admin.execute("UPDATE chunks SET indexed = true WHERE NOT indexed")
    elapsed = time.perf_counter() - t0
    kb.say(f"  fold: {pending:,} chunks in {elapsed:.1f}s = {pending / elapsed:,.0f} chunks/s")


SECTIONS = {
    "index": section_index,
    "insert": section_insert,
    "wal": section_wal,
    "deferred": section_deferred,
}


async def run(sections: list[str]) -> None:
    env = kb.Env()
    try:
        await asyncio.to_thread(env.start)
        corpus = kb.Corpus()
        await kb.build_search_data(env, corpus)
        state = await AppState.create(env.settings, with_queue=False)
        admin = await asyncpg.connect(env.admin_url)
        lab = Lab(env, corpus, state, admin)
        try:
            for name, section in SECTIONS.items():
                if name in sections:
                    await section(lab)
        finally:
            await admin.close()
            await state.close()
    finally:
        env.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sections", default=",".join(SECTIONS))
    args = parser.parse_args()
    asyncio.run(run([s.strip() for s in args.sections.split(",") if s.strip()]))


if __name__ == "__main__":
    main()
