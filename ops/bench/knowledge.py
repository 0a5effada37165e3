"""Knowledge base and answer benchmarks. Prints figures; asserts nothing.

    .venv/bin/python ops/bench/knowledge.py                      # everything (~10 minutes)
    .venv/bin/python ops/bench/knowledge.py --sections search    # one or more of:
                                                                 # search,storage,embed,ask

Starts its own PostgreSQL 18 + pgvector and Redis in a temporary directory (durable
settings: fsync and synchronous_commit on) and removes them at the end.

search   100,000 synthetic 384-dimensional chunks over 100 workspaces plus one workspace of
         30,000 (loaded with COPY as the superuser; vectors drawn around topic centroids, text
         from a synthetic vocabulary). Top-10 latency p50/p99 and recall@10 against exact
         (numpy) search, through the application's own search code as the application role
         under row-level security, for a small and for the large workspace; rows returned
         (must never be fewer than the workspace has); and, for contrast, what a filtered
         HNSW scan returns without iterative scans. Hybrid (vector + keyword) latency too.
storage  The chunk-writing path of ingestion (app/knowledge/ingest.py:store_chunks: lock,
         delete old chunks, insert, mark ready, bump version), embeddings precomputed, into
         the same big table with its HNSW index: chunks/s with one, two and four writers;
         then without the HNSW index (one and two writers), and the index's rebuild rate.
         Run it after `search` (`--sections search,storage`): alone, the table is empty.
embed    The local all-MiniLM-L6-v2 model on this CPU: chunks/s for ~180-token chunks, and
         one question's latency.
ask      The real stack as separate processes (API under uvicorn, an interactive worker, a
         bulk worker), local embeddings, extractive answers. Latency from the `ask` mutation
         to the DONE event of the `answer` subscription, p50/p95: one asker; 20 concurrent
         askers each asking every ~2 s; 20 askers back to back (the saturation point, which
         gives throughput); and 20 askers again while a bulk import of 150 documents runs.
         `--ask-rounds one,paced,saturation,bulk` picks rounds, `--ask-per-asker` their length.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import numpy as np
import orjson
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.config import (  # noqa: E402
    AuthSettings,
    DatabaseSettings,
    EmbeddingSettings,
    KnowledgeSettings,
    RedisSettings,
    Settings,
)
from app.db.bootstrap import migrate  # noqa: E402
from app.db.ids import uuid7  # noqa: E402
from app.db.tenant import tenant_transaction  # noqa: E402
from app.devstack.postgres import LocalPostgres  # noqa: E402
from app.devstack.redis import LocalRedis, free_port  # noqa: E402
from app.knowledge.chunking import ChunkDraft  # noqa: E402
from app.knowledge.embedding.catalogue import KNOWN  # noqa: E402
from app.knowledge.embedding.providers import LocalEmbeddings  # noqa: E402
from app.knowledge.ingest import store_chunks  # noqa: E402
from app.knowledge.search import hybrid_search, nearest  # noqa: E402
from app.state import AppState  # noqa: E402

MINI = KNOWN["all-MiniLM-L6-v2"]
DIMS = 384
SMALL_WORKSPACES = 100
SMALL_SIZE = 1_000
LARGE_SIZE = 30_000
QUERIES = 300
K = 10
JWT = "bench-secret-" + "x" * 40


def pct(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def ms(values: Sequence[float]) -> str:
    p50, p95, p99 = (pct(values, p) * 1000 for p in (50, 95, 99))
    return f"p50 {p50:.2f} ms  p95 {p95:.2f} ms  p99 {p99:.2f} ms"


def say(line: str = "") -> None:
    print(line, flush=True)


# --- environment --------------------------------------------------------------------------


class Env:
    """PostgreSQL + Redis for the run, and settings pointing at them."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="parley-bench-"))
        self.pg = LocalPostgres(
            self.root / "pg",
            conf={
                "shared_buffers": "1GB",
                "maintenance_work_mem": "1GB",
                "max_parallel_maintenance_workers": "2",
                "effective_cache_size": "4GB",
                "work_mem": "32MB",
            },
        )
        self.redis = LocalRedis()

    def start(self) -> None:
        self.pg.start()
        self.redis.start()
        self.admin_url = self.pg.url("postgres", "parley_bench")
        self.app_url = self.pg.url("parley_app", "parley_bench")
        migrate(DatabaseSettings(url=self.app_url, admin_url=self.admin_url))
        self.settings = Settings(
            env="test",
            data_dir=str(self.root / "data"),
            database=DatabaseSettings(
                url=self.app_url, admin_url=self.admin_url, pool_size=20, max_overflow=10
            ),
            redis=RedisSettings(url=self.redis.url),
            auth=AuthSettings(jwt_secret=JWT),  # type: ignore[arg-type]
            embedding=EmbeddingSettings(provider="local"),
        )

    def stop(self) -> None:
        self.redis.stop()
        if self.pg.initialised():
            self.pg.destroy()
        shutil.rmtree(self.root, ignore_errors=True)

    def process_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PARLEY_ENV": "test",
            "PARLEY_DATA_DIR": str(self.root / "data"),
            "DATABASE_URL": self.app_url,
            "DATABASE_ADMIN_URL": self.admin_url,
            "REDIS_URL": self.redis.url,
            "EMBEDDING_PROVIDER": "local",
            "AUTH_JWT_SECRET": JWT,
            "LOG_LEVEL": "WARNING",
            "PARLEY_LOG_LEVEL": "WARNING",
            # Rate limiting stays on (its Redis call is part of every request's cost), with
            # budgets far above what the rounds ask, so no answer is refused.
            "RATELIMIT_API_PER_WINDOW": "1000000",
            "RATELIMIT_ANSWERS_PER_WINDOW": "1000000",
            "RATELIMIT_PRINCIPAL_SHARE": "1.0",
        }


# --- synthetic corpus ---------------------------------------------------------------------


class Corpus:
    """Topic-clustered unit vectors and text from a synthetic vocabulary."""

    def __init__(self, seed: int = 42) -> None:
        self.rng = np.random.default_rng(seed)
        self.centroids = self._unit(self.rng.standard_normal((2_000, DIMS)).astype(np.float32))
        syllables = [a + b for a in "bdfgklmnprstvz" for b in "aeiou"]
        words = {"".join(self.rng.choice(syllables, size=3)) for _ in range(8_000)}
        self.vocabulary = sorted(words)

    @staticmethod
    def _unit(matrix: np.ndarray) -> np.ndarray:
        return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)

    def workspace(self, size: int, topics: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Vectors, their topic ids, and the workspace's topic centroids ids."""
        topic_ids = self.rng.choice(len(self.centroids), size=topics, replace=False)
        assigned = self.rng.choice(topic_ids, size=size)
        return self.around(assigned), assigned, list(map(str, topic_ids))

    def around(self, topic_ids: np.ndarray) -> np.ndarray:
        noise = self._unit(self.rng.standard_normal((len(topic_ids), DIMS)).astype(np.float32))
        return self._unit(self.centroids[topic_ids] + 0.75 * noise).astype(np.float32)

    def text(self, topic: int, words: int = 80) -> str:
        # Each topic prefers its own slice of the vocabulary, so keyword search has signal.
        start = (topic * 37) % (len(self.vocabulary) - 400)
        local = self.vocabulary[start : start + 400]
        picks = self.rng.zipf(1.3, size=words) % len(local)
        return " ".join(local[i] for i in picks)


async def build_search_data(env: Env, corpus: Corpus) -> dict[str, Any]:
    """Workspaces, documents and 130,000 chunks, loaded with COPY as the superuser."""
    from pgvector.asyncpg import register_vector

    conn = await asyncpg.connect(env.admin_url.replace("postgresql+asyncpg", "postgresql"))
    await register_vector(conn)
    started = time.perf_counter()
    indexes = await conn.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'chunks' "
        "AND indexname LIKE 'ix_chunks_embedding_hnsw_%'"
    )
    for index in indexes:
        await conn.execute(f"DROP INDEX {index['indexname']}")
    await conn.execute("ALTER TABLE chunks ALTER COLUMN tsv SET DEFAULT ''::tsvector")
    plan = [("small", SMALL_SIZE, 50)] * SMALL_WORKSPACES + [("large", LARGE_SIZE, 300)]
    workspaces: dict[str, Any] = {"small": [], "large": None}
    for label, size, topics in plan:
        ws, doc = uuid7(), uuid7()
        vectors, assigned, _ = corpus.workspace(size, topics)
        await conn.execute(
            "INSERT INTO workspaces (id, name, slug) VALUES ($1, $2, $3)",
            ws,
            f"bench {label}",
            f"bench-{ws.hex[:12]}",
        )
        await conn.execute(
            "INSERT INTO knowledge_bases (workspace_id, embedding_model, embedding_dims, "
            "chunk_count) VALUES ($1, $2, $3, $4)",
            ws,
            MINI.name,
            DIMS,
            size,
        )
        await conn.execute(
            "INSERT INTO documents (workspace_id, id, kind, title, size_bytes, sha256, status, "
            "chunk_count) VALUES ($1, $2, 'text', 'synthetic', 0, '\\x00', 'ready', $3)",
            ws,
            doc,
            size,
        )
        records = [
            (ws, uuid7(), doc, 1, i, MINI.name, DIMS, [], corpus.text(int(t)), 80, False, v)
            for i, (t, v) in enumerate(zip(assigned, vectors, strict=True))
        ]
        await conn.copy_records_to_table(
            "chunks",
            records=records,
            columns=[
                "workspace_id",
                "id",
                "document_id",
                "revision",
                "position",
                "embedding_model",
                "embedding_dims",
                "heading_path",
                "content",
                "token_count",
                "is_faq",
                "embedding",
            ],
        )
        entry = {"id": ws, "vectors": vectors, "topics": assigned}
        if label == "large":
            workspaces["large"] = entry
        elif len(workspaces["small"]) < 3:
            workspaces["small"].append(entry)
    loaded = time.perf_counter()
    await conn.execute("UPDATE chunks SET tsv = to_tsvector('english', content)")
    await conn.execute("ALTER TABLE chunks ALTER COLUMN tsv DROP DEFAULT")
    await conn.execute("VACUUM ANALYZE chunks")
    texted = time.perf_counter()
    for index in indexes:
        await conn.execute(index["indexdef"])
    indexed = time.perf_counter()
    await conn.close()
    total = SMALL_WORKSPACES * SMALL_SIZE + LARGE_SIZE
    say(
        f"  built {total:,} chunks: COPY {loaded - started:.1f}s, full-text "
        f"{texted - loaded:.1f}s, HNSW index {indexed - texted:.1f}s"
    )
    return workspaces


# --- search -------------------------------------------------------------------------------


async def bench_search(env: Env, corpus: Corpus) -> None:
    say("== search ==")
    data = await build_search_data(env, corpus)
    state = await AppState.create(env.settings, with_queue=False)
    knobs = env.settings.knowledge
    try:
        cases = [("small (1,000 chunks)", data["small"][0]), ("large (30,000)", data["large"])]
        for label, ws in cases:
            size = len(ws["vectors"])
            topics = corpus.rng.choice(ws["topics"], size=QUERIES + 30)
            queries = corpus.around(topics)
            truth = np.argsort(-(queries @ ws["vectors"].T), axis=1)[:, :K]
            async with tenant_transaction(state.sessions, ws["id"]) as session:
                ids = {
                    row[0]: row[1]
                    for row in await session.execute(text("SELECT id, position FROM chunks"))
                }
            latencies: list[float] = []
            recalls: list[float] = []
            returned: list[int] = []
            strategies: dict[str, int] = {}
            for n, query in enumerate(queries):
                async with tenant_transaction(state.sessions, ws["id"]) as session:
                    t0 = time.perf_counter()
                    rows, strategy = await nearest(
                        session, ws["id"], MINI, query.tolist(), K, knobs, size_hint=size
                    )
                    elapsed = time.perf_counter() - t0
                if n < 30:
                    continue  # warm-up
                latencies.append(elapsed)
                strategies[strategy] = strategies.get(strategy, 0) + 1
                found = {ids[r[0]] for r in rows}
                recalls.append(len(found & set(truth[n].tolist())) / K)
                returned.append(len(rows))
            say(f"  {label}: {ms(latencies)}")
            say(
                f"    recall@10 {statistics.mean(recalls):.4f} (min {min(recalls):.2f}); rows "
                f"returned min {min(returned)} mean {statistics.mean(returned):.2f}; "
                f"strategy {strategies}"
            )
            await contrast(state, ws, queries[30:], truth[30:], ids, label)
            await hybrid(state, ws, corpus, label, knobs)
    finally:
        await state.close()


async def contrast(
    state: AppState,
    ws: dict[str, Any],
    queries: np.ndarray,
    truth: np.ndarray,
    ids: dict[uuid.UUID, int],
    label: str,
) -> None:
    """The same top-10 straight through the HNSW index, with and without iterative scans."""
    for mode in ("off", "relaxed_order"):
        returned, recalls, latencies = [], [], []
        for n, query in enumerate(queries[:200]):
            async with tenant_transaction(state.sessions, ws["id"]) as session:
                await session.execute(
                    text(
                        "SELECT set_config('hnsw.iterative_scan', :mode, true), "
                        "set_config('enable_sort', 'off', true)"
                    ),
                    {"mode": mode},
                )
                t0 = time.perf_counter()
                rows = await session.execute(
                    text(
                        "SELECT id FROM chunks WHERE workspace_id = :ws AND embedding_model = :m "
                        "AND embedding_dims = 384 ORDER BY embedding::vector(384) <=> "
                        "CAST(:q AS real[])::vector(384) LIMIT 10"
                    ),
                    {"ws": ws["id"], "m": MINI.name, "q": query.tolist()},
                )
                found = [r[0] for r in rows]
                latencies.append(time.perf_counter() - t0)
            returned.append(len(found))
            recalls.append(len({ids[f] for f in found} & set(truth[n].tolist())) / K)
        say(
            f"    HNSW forced, iterative_scan={mode}: rows mean {statistics.mean(returned):.2f} "
            f"min {min(returned)}; recall@10 {statistics.mean(recalls):.4f}; {ms(latencies)}"
        )


async def hybrid(
    state: AppState, ws: dict[str, Any], corpus: Corpus, label: str, knobs: KnowledgeSettings
) -> None:
    latencies = []
    size = len(ws["vectors"])
    topics = corpus.rng.choice(ws["topics"], size=130)
    vectors = corpus.around(topics)
    for n, (topic, vector) in enumerate(zip(topics, vectors, strict=True)):
        words = corpus.text(int(topic), 3)
        async with tenant_transaction(state.sessions, ws["id"]) as session:
            t0 = time.perf_counter()
            await hybrid_search(
                session, ws["id"], MINI, vector.tolist(), words, K, knobs,
                min_similarity=0.3, size_hint=size,
            )  # fmt: skip
            if n >= 30:
                latencies.append(time.perf_counter() - t0)
    say(f"    hybrid (vector + keyword + passages) top-10: {ms(latencies)}")


# --- storage ------------------------------------------------------------------------------


async def bench_storage(env: Env, corpus: Corpus) -> None:
    say("== storage (chunk-writing path, embeddings precomputed) ==")
    state = await AppState.create(env.settings, with_queue=False)
    per_doc, docs_per_ws = 50, 25
    try:

        async def prepare() -> tuple[uuid.UUID, list[uuid.UUID]]:
            conn = await asyncpg.connect(env.admin_url)
            ws = uuid7()
            await conn.execute(
                "INSERT INTO workspaces (id, name, slug) VALUES ($1, 'writer', $2)", ws, ws.hex
            )
            await conn.execute(
                "INSERT INTO knowledge_bases (workspace_id, embedding_model, embedding_dims) "
                "VALUES ($1, $2, 384)",
                ws,
                MINI.name,
            )
            docs = [uuid7() for _ in range(docs_per_ws)]
            for doc in docs:
                await conn.execute(
                    "INSERT INTO documents (workspace_id, id, kind, title, size_bytes, sha256, "
                    "status) VALUES ($1, $2, 'text', 'w', 0, '\\x00', 'processing')",
                    ws,
                    doc,
                )
            await conn.close()
            return ws, docs

        def drafts() -> tuple[list[ChunkDraft], dict[str, list[list[float]]]]:
            # English prose (about 150 words a chunk), so the full-text work is realistic.
            topics = corpus.rng.choice(len(corpus.centroids), size=per_doc)
            items = [
                ChunkDraft(i, ("Guide", f"Part {i}"), english(corpus, 150), 190)
                for i in range(per_doc)
            ]
            return items, {MINI.name: corpus.around(topics).tolist()}

        async def writer(
            ws: uuid.UUID,
            docs: list[uuid.UUID],
            made: list[tuple[list[ChunkDraft], dict[str, list[list[float]]]]],
        ) -> int:
            written = 0
            for doc, (items, vectors) in zip(docs, made, strict=True):
                outcome = await store_chunks(state, ws, doc, 1, items, vectors)
                assert not isinstance(outcome, list) and outcome.status == "ready", outcome
                written += len(items)
            return written

        async def round_of(writers: int, note: str) -> None:
            jobs = [await prepare() for _ in range(writers)]
            work = [(ws, docs, [drafts() for _ in docs]) for ws, docs in jobs]
            t0 = time.perf_counter()
            counts = await asyncio.gather(*(writer(ws, docs, made) for ws, docs, made in work))
            elapsed = time.perf_counter() - t0
            say(
                f"  {writers} writer(s): {sum(counts):,} chunks in {elapsed:.2f}s = "
                f"{sum(counts) / elapsed:,.0f} chunks/s ({per_doc} chunks per document, one "
                f"transaction each, {note})"
            )

        for writers in (1, 2, 4):
            await round_of(writers, "HNSW index maintained")
        # The same path with the 384-dimension graph gone: the ceiling of any design that
        # defers graph maintenance off the write path. Rebuilding it afterwards gives the
        # bulk build rate, the cheapest way the graph can absorb rows.
        admin = await asyncpg.connect(env.admin_url)
        index = "ix_chunks_embedding_hnsw_384"
        definition = await admin.fetchval(
            "SELECT indexdef FROM pg_indexes WHERE indexname = $1", index
        )
        await admin.execute(f"DROP INDEX {index}")
        for writers in (1, 2):
            await round_of(writers, "no HNSW index")
        rows = await admin.fetchval("SELECT count(*) FROM chunks WHERE embedding_dims = 384")
        t0 = time.perf_counter()
        await admin.execute(definition)
        built = time.perf_counter() - t0
        await admin.close()
        say(f"  HNSW rebuild: {rows:,} vectors in {built:.1f}s = {rows / built:,.0f} vectors/s")
    finally:
        await state.close()


SENTENCES = (
    "Refunds are paid back to the original card within five business days.",
    "Keep the receipt and the original packaging until the return is accepted.",
    "The warranty covers manufacturing defects for two years from the date of purchase.",
    "Clean the filter every week with warm water and a soft brush.",
    "Descale the machine once a month, or more often where the water is hard.",
    "Our support team answers messages on weekdays between nine and five.",
    "Delivery usually takes two to four days, and tracking links arrive by email.",
    "If the device does not start, check the plug and hold the power button for ten seconds.",
)


def english(corpus: Corpus, words: int) -> str:
    picked: list[str] = []
    while sum(len(s.split()) for s in picked) < words:
        picked.append(SENTENCES[int(corpus.rng.integers(len(SENTENCES)))])
    return " ".join(picked)


# --- local embeddings ---------------------------------------------------------------------


async def bench_embed(corpus: Corpus) -> None:
    say("== local embeddings (all-MiniLM-L6-v2, CPU) ==")
    provider = LocalEmbeddings(MINI)
    t0 = time.perf_counter()
    await provider.embed(["warm up"])
    say(f"  model load + first encode: {time.perf_counter() - t0:.1f}s")
    sentences = [
        "Clean the filter every week with warm water and a soft brush.",
        "Refunds are paid back to the original card within five business days.",
        "The warranty covers manufacturing defects for two years from purchase.",
    ]
    texts = [
        " ".join(sentences[(i + j) % 3] for j in range(12)) for i in range(256)
    ]  # ~180 tokens each
    t0 = time.perf_counter()
    await provider.embed(texts)
    elapsed = time.perf_counter() - t0
    say(
        f"  bulk: {len(texts)} chunks of ~180 tokens in {elapsed:.2f}s = "
        f"{len(texts) / elapsed:.1f} chunks/s"
    )
    latencies = []
    for i in range(40):
        t0 = time.perf_counter()
        await provider.embed([f"How do I clean filter number {i}?"], interactive=True)
        latencies.append(time.perf_counter() - t0)
    say(f"  one question: {ms(latencies)}")
    t0 = time.perf_counter()
    await asyncio.gather(
        *(provider.embed([f"Question {i} about refunds?"], interactive=True) for i in range(20))
    )
    say(f"  20 concurrent questions (coalesced): {(time.perf_counter() - t0) * 1000:.1f} ms")


# --- ask ----------------------------------------------------------------------------------

PRODUCTS = [
    "kettle", "toaster", "blender", "espresso machine", "rice cooker", "air fryer", "juicer",
    "stand mixer", "waffle iron", "food processor", "slow cooker", "milk frother", "grill",
    "dehydrator", "bread maker", "ice cream maker", "pressure cooker", "coffee grinder",
    "hand mixer", "sandwich press",
]  # fmt: skip


def product_document(name: str, n: int) -> str:
    return (
        f"# {name.title()} care guide {n}\n\n"
        f"## Cleaning\n\nClean the {name} with a soft cloth and warm soapy water once a week. "
        f"Never put the base of the {name} in the dishwasher.\n\n"
        f"## Warranty\n\nThe {name} has a warranty of {2 + n % 3} years covering manufacturing "
        "defects. Keep your receipt as proof of purchase.\n\n"
        f"## Troubleshooting\n\nIf the {name} does not start, check that the lid is locked and "
        "the plug is firmly in the socket. Reset it by holding the power button for ten seconds."
    )


class Stack:
    """API + interactive worker + bulk worker as processes."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.port = free_port()
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        penv = self.env.process_env()
        log = (self.env.root / "stack.log").open("ab")
        py = sys.executable
        self.procs = [
            subprocess.Popen(
                [py, "-m", "app.cli", "api", "--port", str(self.port)],
                cwd=ROOT, env=penv, stdout=log, stderr=subprocess.STDOUT,
            ),
            subprocess.Popen(
                [py, "-m", "app.cli", "worker", "--queue", "interactive"],
                cwd=ROOT, env=penv, stdout=log, stderr=subprocess.STDOUT,
            ),
            subprocess.Popen(
                [py, "-m", "app.cli", "worker", "--queue", "bulk"],
                cwd=ROOT, env=penv, stdout=log, stderr=subprocess.STDOUT,
            ),
        ]  # fmt: skip

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def op(name: str) -> str:
    matches = list((ROOT / "graphql" / "operations").rglob(f"{name}.graphql"))
    return matches[0].read_text()


class Client:
    def __init__(self, base: str, headers: dict[str, str] | None = None) -> None:
        self.http = httpx.AsyncClient(base_url=base, timeout=60)
        self.headers: dict[str, str] = dict(headers or {})

    async def call(self, name: str, variables: dict[str, Any] | None = None) -> Any:
        response = await self.http.post(
            "/graphql",
            json={"query": op(name), "variables": variables or {}, "operationName": name},
            headers=self.headers,
        )
        body = response.json()
        if body.get("errors"):
            raise RuntimeError(f"{name}: {body['errors']}")
        return body["data"]


async def asker(
    address: str,
    client: Client,
    token: str,
    workspace: str,
    questions: list[str],
    *,
    think_s: float = 0.0,
    stagger_s: float = 0.0,
) -> list[float]:
    from websockets.asyncio.client import connect

    latencies = []
    await asyncio.sleep(stagger_s)
    async with connect(f"ws://{address}/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        init = {"authorization": f"Bearer {token}", "workspaceId": workspace}
        await ws.send(orjson.dumps({"type": "connection_init", "payload": init}).decode())
        assert orjson.loads(await ws.recv())["type"] == "connection_ack"
        for n, question in enumerate(questions):
            t0 = time.perf_counter()
            asked = await client.call("Ask", {"input": {"question": question}})
            answer = asked["ask"]["answer"]
            if answer["status"] != "COMPLETE":
                payload = {"query": op("AnswerStream"), "variables": {"messageId": answer["id"]}}
                await ws.send(
                    orjson.dumps({"id": str(n), "type": "subscribe", "payload": payload}).decode()
                )
                while True:
                    frame = orjson.loads(await ws.recv())
                    if (
                        frame["type"] == "next"
                        and frame["payload"]["data"]["answer"]["kind"] == "DONE"
                    ):
                        mode = frame["payload"]["data"]["answer"]["message"]["mode"]
                        assert mode == "EXTRACTIVE", mode
                    if frame["type"] in ("complete", "error"):
                        break
            latencies.append(time.perf_counter() - t0)
            if think_s:
                await asyncio.sleep(think_s * (0.5 + float(np.random.default_rng(n).random())))
    return latencies


ASK_ROUNDS = ("one", "paced", "saturation", "bulk")


async def bench_ask(env: Env, rounds: Sequence[str] = ASK_ROUNDS, per_asker: int = 8) -> None:
    say("== ask (extractive, local embeddings; ask mutation -> DONE over the subscription) ==")
    stack = Stack(env)
    stack.start()
    base = f"http://127.0.0.1:{stack.port}"
    try:
        client = Client(base)
        for _ in range(600):
            try:
                if (await client.http.get("/ready")).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
        signed = await client.call(
            "SignUp",
            {
                "input": {
                    "email": "bench@example.com",
                    "password": "bench password 1",
                    "displayName": "B",
                }
            },
        )
        token = signed["signUp"]["accessToken"]
        client.headers = {"authorization": f"Bearer {token}"}
        ws = (await client.call("CreateWorkspace", {"input": {"name": "Bench"}}))[
            "createWorkspace"
        ]["id"]
        client.headers["x-workspace-id"] = ws
        await upgrade_to_pro(env)  # the free plan's 50 documents are fewer than the rounds use
        docs = [product_document(p, n) for n in range(3) for p in PRODUCTS]
        t0 = time.perf_counter()
        for text in docs:
            await client.call("AddDocument", {"input": {"content": text, "format": "MARKDOWN"}})
        await wait_ready(client, len(docs))
        say(
            f"  ingested {len(docs)} documents through the bulk worker in "
            f"{time.perf_counter() - t0:.1f}s"
        )
        for warm in range(3):
            await asker(
                f"127.0.0.1:{stack.port}",
                client,
                token,
                ws,
                [f"Warm-up question {warm} about the kettle?"],
            )

        address = f"127.0.0.1:{stack.port}"

        def questions(asker_no: int, count: int, label: str) -> list[str]:
            return [
                f"How do I clean the {PRODUCTS[(asker_no + i) % len(PRODUCTS)]}? "
                f"(asker {asker_no}, try {i}, {label})"
                for i in range(count)
            ]

        async def round_of(label: str, askers: int, count: int, think_s: float) -> None:
            t0 = time.perf_counter()
            results = await asyncio.gather(
                *(
                    asker(
                        address,
                        Client(base, client.headers),  # each asker its own connections
                        token,
                        ws,
                        questions(a, count, label),
                        think_s=think_s,
                        stagger_s=think_s * a / askers,
                    )
                    for a in range(askers)
                )
            )
            wall = time.perf_counter() - t0
            latencies = [x for r in results for x in r]
            say(
                f"  {label}: {len(latencies)} answers, {ms(latencies)} "
                f"({len(latencies) / wall:.1f} answers/s)"
            )

        if "one" in rounds:
            await round_of("1 asker, one question after another", 1, 30, 0.0)
        if "paced" in rounds:
            await round_of("20 askers, each asking every ~2 s", 20, per_asker, 2.0)
        if "saturation" in rounds:
            await round_of("20 askers back to back (saturation)", 20, per_asker, 0.0)
        if "bulk" not in rounds:
            return
        bulk = [product_document(f"gadget {i}", i) for i in range(150)]
        importer = asyncio.ensure_future(
            asyncio.gather(
                *(
                    client.call("AddDocument", {"input": {"content": t, "format": "MARKDOWN"}})
                    for t in bulk
                )
            )
        )
        await asyncio.sleep(1.0)
        await round_of(
            "20 askers every ~2 s, during a bulk import of 150 documents", 20, per_asker, 2.0
        )
        await importer
        ready = await count_ready(client)
        say(
            f"  bulk import: {ready - len(docs)} of {len(bulk)} documents ready when the "
            "round ended"
        )
        await wait_ready(client, len(docs) + len(bulk))
    finally:
        stack.stop()


async def upgrade_to_pro(env: Env) -> None:
    """Move the bench's only workspace to the pro plan (setup, over the admin connection;
    quota checks read the plan from the database, so no cache needs telling)."""
    conn = await asyncpg.connect(env.admin_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await conn.execute(
            "UPDATE subscriptions SET plan_id = (SELECT id FROM plans WHERE code = 'pro' "
            "AND available) WHERE is_current"
        )
    finally:
        await conn.close()


async def count_ready(client: Client) -> int:
    ready, after = 0, None
    while True:
        page = (await client.call("Documents", {"first": 100, "after": after, "status": "READY"}))[
            "documents"
        ]
        ready += len(page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            return ready
        after = page["pageInfo"]["endCursor"]


async def wait_ready(client: Client, expected: int) -> None:
    for _ in range(1_200):
        if await count_ready(client) >= expected:
            return
        await asyncio.sleep(0.5)
    raise TimeoutError("documents did not become ready")


# --- main ---------------------------------------------------------------------------------


async def run(sections: list[str], rounds: Sequence[str] = ASK_ROUNDS, per_asker: int = 8) -> None:
    env = Env()
    try:
        await asyncio.to_thread(env.start)  # Alembic runs its own event loop
        corpus = Corpus()
        say(f"PostgreSQL 18 + pgvector in {env.root}; {os.cpu_count()} CPUs")
        if "search" in sections:
            await bench_search(env, corpus)
        if "storage" in sections:
            await bench_storage(env, corpus)
        if "embed" in sections:
            await bench_embed(corpus)
        if "ask" in sections:
            await bench_ask(env, rounds, per_asker)
    finally:
        env.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sections", default="search,storage,embed,ask")
    parser.add_argument(
        "--ask-rounds",
        default=",".join(ASK_ROUNDS),
        help="rounds of the ask section, any of: " + ",".join(ASK_ROUNDS),
    )
    parser.add_argument(
        "--ask-per-asker",
        type=int,
        default=8,
        help="questions each of the 20 askers asks per round (8 by default)",
    )
    args = parser.parse_args()
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    rounds = [r.strip() for r in args.ask_rounds.split(",") if r.strip()]
    asyncio.run(run(sections, rounds, args.ask_per_asker))


if __name__ == "__main__":
    main()
